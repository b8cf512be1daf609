#!/usr/bin/env bash
# pyops.fastapi.app, tasks/ship.yml: unpack one archive of a release built on the build host (the
# release's code, or its virtualenv) as $DEST/$NAME, all or nothing. The archive must have the
# SHA-256 the build recorded and hold NAME/ only (no absolute path, no '..'); it is unpacked into
# $DEST/.incoming (hidden: pruning skips it) and renamed into place, so a run killed halfway leaves
# no half release or virtualenv under its name. For a release, $4 is what its .venv link must say.
# Usage: unpack_archive.sh ARCHIVE SHA256 NAME DEST [VENV_LINK]
set -euo pipefail
archive=$1 sha256=$2 name=$3 dest=$4 venv_link=${5:-}
staging="$dest/.incoming"

if ! printf '%s  %s\n' "$sha256" "$archive" | sha256sum --check --status; then
  echo "$(basename -- "$archive") does not have the SHA-256 the build host recorded ($sha256): refusing to unpack it" >&2
  exit 3
fi
unexpected=$(tar -tzf "$archive" | grep -v -e "^$name/" -e "^$name\$" | head -n 1 || true)
climbing=$(tar -tzf "$archive" | grep -E '(^|/)\.\.(/|$)' | head -n 1 || true)
if [ -n "$unexpected$climbing" ]; then
  echo "$(basename -- "$archive") holds ${unexpected:-$climbing}, outside $name/: refusing to unpack it" >&2
  exit 3
fi

rm -rf -- "$staging"
mkdir -m 0700 -- "$staging"
# As root, tar keeps the owners (by name) and modes the build host gave.
tar -xzf "$archive" -C "$staging"
if [ -n "$venv_link" ] && [ "$(readlink -- "$staging/$name/.venv")" != "$venv_link" ]; then
  echo "the release's .venv link does not name $venv_link: refusing to unpack it" >&2
  exit 3
fi
# A leftover of a killed run under the name (never a finished one: the caller unpacks only what is missing).
rm -rf -- "${dest:?}/$name"
mv -T -- "$staging/$name" "$dest/$name"
rmdir -- "$staging"
