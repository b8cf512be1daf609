#!/usr/bin/env bash
# pyops.fastapi.app, tasks/build.yml (app_source=git): copy the checkout $1 into the release $2,
# owned by root:$3, leaving out the names (globs) given after $3.
# A symlink that is absolute or resolves outside the checkout stops the copy naming it (exit 3):
# the release would point at the host's files. Links that pass through a left-out name (.venv,
# which the release later links to its virtualenv) are caught by check_release_links.sh once every
# link of the release exists.
set -euo pipefail
src=$(realpath -e -- "$1") dest=$2 group=$3
shift 3
prune=() excludes=()
for name in "$@"; do
  prune+=(-o -name "$name")
  excludes+=("--exclude=$name")
done
cd "$src"
while IFS= read -r -d '' link; do
  target=$(readlink -- "$link")
  real=$(realpath -m -- "$link")
  case "$target" in
    /*) echo "${link#./} is a symlink to $target, an absolute path: refusing to publish it" >&2; exit 3 ;;
  esac
  case "$real" in
    "$src"/*) ;;
    *) echo "${link#./} is a symlink to $target, outside the source root: refusing to publish it" >&2; exit 3 ;;
  esac
done < <(find . -mindepth 1 \( -false "${prune[@]}" \) -prune -o -type l -print0)
tar -C "$src" "${excludes[@]}" -cf - . | tar -C "$dest" --no-same-owner -xf -
chown -R -h "root:$group" "$dest"
chmod -R u+rwX,go+rX,go-w "$dest"
