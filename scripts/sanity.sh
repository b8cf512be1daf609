#!/usr/bin/env bash
# ansible-test sanity needs the collection under ansible_collections/<ns>/<name>
# and nothing but committed content (stray venvs or caches fail the symlink and
# line-ending tests). Build that tree on the fly from what git knows, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
py="${PYTHON:-$repo/.venv/bin/python}"
work="${SANITY_DIR:-${TMPDIR:-/tmp}/pyops-sanity}"
dest="$work/ansible_collections/pyops/fastapi"

rm -rf "$work"
mkdir -p "$dest"
# Tracked files plus new, not-ignored ones; the checkout symlink stays out.
git ls-files -z --cached --others --exclude-standard -- . ':!collections' \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -C "$dest" -xf -

# ansible-test downloads get-pip.py from a host these machines cannot reach.
"$py" scripts/ansible-test-getpip-standin.py >/dev/null

cd "$dest"
"$repo/.venv/bin/ansible-test" sanity --python "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no "$@"
