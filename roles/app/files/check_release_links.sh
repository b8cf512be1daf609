#!/usr/bin/env bash
# pyops.fastapi.app, tasks/build.yml: the last step of a build, once every link of the release $1
# exists (its .venv included). Every symlink in it must resolve inside the release: a link whose
# target climbs out through another link (such as ../.venv/../../../etc/passwd, which resolved
# inside the checkout while .venv there was the repository's own link) would publish host files
# through nginx's /static/. The release's own .venv link is the one exception. Exit 3 names the link.
set -euo pipefail
release=$(realpath -e -- "$1")
cd "$release"
while IFS= read -r -d '' link; do
  [ "$link" = ./.venv ] && continue
  real=$(realpath -m -- "$link")
  case "$real" in
    "$release"/*) ;;
    *)
      echo "${link#./} is a symlink to $(readlink -- "$link"), which leads to $real, outside the release: refusing to publish it" >&2
      exit 3
      ;;
  esac
done < <(find . -mindepth 1 -type l -print0)
