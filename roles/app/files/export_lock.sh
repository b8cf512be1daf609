#!/bin/sh
# pyops.fastapi.app, tasks/build.yml: as the build user, in the build's transient unit. Exports a lock
# file (uv.lock, poetry.lock) to a pip requirements file with hashes, in the new virtualenv, without the
# development groups. The lock's tool runs from a throwaway virtualenv inside the new one (the only
# place the build may write), removed after: the app's virtualenv gets none of its packages.
# $1: uv or poetry, $2: the lock file, $3: the new virtualenv, then pip's arguments to install the tool.
set -eu
kind=$1 lock=$2 venv=$3
shift 3
tool="$venv/.pyops-export-tool"
project=$(dirname -- "$lock")
out="$venv/.pyops-locked-requirements.txt"
# The index URLs of the build (its credentials come through $NETRC, set by the unit).
if [ -f "$venv/pip.conf" ]; then
  PIP_CONFIG_FILE="$venv/pip.conf"
  export PIP_CONFIG_FILE
fi
/usr/bin/python3 -m venv -- "$tool"
"$tool/bin/pip" install --no-input --disable-pip-version-check --quiet "$@"
case $kind in
  # --frozen: the lock as it is, never re-resolved; --no-emit-project: the app's own code is the release.
  uv) UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never "$tool/bin/uv" export --frozen --no-dev --no-emit-project \
        --no-header --quiet --format requirements-txt --project "$project" --output-file "$out" ;;
  # Poetry refuses a lock older than pyproject.toml's dependencies; only the main group is exported.
  poetry) POETRY_CACHE_DIR="$tool/cache" POETRY_CONFIG_DIR="$tool/config" POETRY_DATA_DIR="$tool/data" \
            POETRY_VIRTUALENVS_CREATE=false PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring "$tool/bin/poetry" export --no-interaction --directory "$project" \
            --format requirements.txt --output "$out" ;;
  *) echo "export_lock.sh: unknown lock kind $kind" >&2; exit 2 ;;
esac
rm -rf -- "$tool"
