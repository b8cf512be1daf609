#!/bin/sh
# pyops.fastapi.systemd: the ExecStart= of a slot with app_runtime=container (templates/container.service.j2).
# Runs the image of the release the slot links to (tag = release id, built by pyops.fastapi.image), so a
# switch or a rollback that re-links a slot runs that release's image. podman starts the container and
# exits (--detach): its conmon (2-3 MB) is the unit's main process and tells systemd the container runs
# (--sdnotify=conmon), gunicorn's output goes to the unit's journal (--log-driver=passthrough). The
# container joins the unit's cgroup (--cgroups=split), so the unit's limits hold it. The environment file's variables are passed by name: their values come from the
# unit's EnvironmentFile=, never from a command line (ps) or a file in the container.
# $1 container name, $2 slot directory, $3 the slot's runtime directory (the socket), $4 image
# repository, $5 uid:gid to run as; then more podman run options (volumes). No shell runs the command.
set -eu
name=$1 slot=$2 runtime=$3 repository=$4 user=$5
shift 5
# The slot's link is relative (../../releases/<id>); the release is at the same absolute path in the image.
release=$(readlink -f -- "$slot/release")
case $release in
  */releases/[0-9]*) ;;
  *) echo "run_container_slot: $slot/release does not name a release: $release" >&2; exit 1 ;;
esac
# The container's gunicorn (the app user) creates the socket there. Here, not in ExecStartPre=: systemd
# gives RuntimeDirectory= back to the unit's user (root) before each command it starts.
chown -- "$user" "$runtime"
# The names only (NAME=... lines); a here-document keeps the loop in this shell, where set -- adds to "$@".
while IFS= read -r key; do
  [ -n "$key" ] && set -- "$@" "--env=$key"
done <<NAMES
$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$slot/env")
NAMES
# --pull=never: the image is the one built for this release on this host, never one from a registry.
exec /usr/bin/podman run --detach --rm --replace --pull=never --name="$name" --sdnotify=conmon --cgroups=split --log-driver=passthrough \
  --read-only --cap-drop=ALL --security-opt=no-new-privileges --user="$user" \
  --volume="$slot/gunicorn_conf.py:$slot/gunicorn_conf.py:ro" --volume="$runtime:$runtime" \
  --env=RUNTIME_DIRECTORY="$runtime" --env=XDG_RUNTIME_DIR="$runtime" --env=PYOPS_HEALTH_SOCKET="$runtime/gunicorn.sock" \
  --workdir="$release" "$@" "$repository:${release##*/}" "$release/.venv/bin/gunicorn" -c "$slot/gunicorn_conf.py"
