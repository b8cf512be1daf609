#!/usr/bin/env bash
# pyops.fastapi.systemd: runs a process of a release in that release's image (tag = release id, built by
# pyops.fastapi.image) with app_runtime=container. The release is the one the slot's link names (for a
# scheduled job, the live slot's), so a switch or a rollback that re-links a slot runs that release's image.
#
#   run_container_slot slot NAME SLOT_DIR RUNTIME_DIR REPOSITORY USER [PODMAN_OPTION...]
#     The slot's web server: the ExecStart= of templates/container.service.j2. podman starts the container
#     and exits (--detach): its conmon (2-3 MB) is the unit's main process and tells systemd the container
#     runs (--sdnotify=conmon); gunicorn's output goes to the unit's journal (--log-driver=passthrough).
#   run_container_slot process NAME SLOT_DIR RUNTIME_DIR REPOSITORY USER [PODMAN_OPTION...] -- COMMAND...
#     A process of app_processes (templates/container-process.service.j2): COMMAND, detached as the web
#     server is.
#   run_container_slot run NAME SLOT_DIR RUNTIME_DIR REPOSITORY USER [PODMAN_OPTION...] -- COMMAND...
#     A release hook (the release role's transient unit) or a scheduled job (templates/container-job.service.j2):
#     COMMAND in the foreground, its output and exit status the unit's.
# Only the slot's web server gets the socket directory: the others serve nothing.
#
# Both: the container joins the unit's cgroup (--cgroups=split), so the unit's limits hold it; a read-only
# root, no capabilities, no new privileges, the app user's numeric ids (the image has no such user). The
# environment file's variables are passed by name: their values come from the unit's EnvironmentFile=,
# never from a command line (ps) or a file in the container. No shell runs the command.
set -euo pipefail
mode=$1 name=$2 slot=$3 runtime=$4 repository=$5 user=$6
shift 6
options=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  options+=("$1")
  shift
done
[ $# -gt 0 ] && shift
case $mode in
  slot) [ $# -eq 0 ] || { echo "run_container_slot: a slot runs gunicorn, not a command" >&2; exit 2; } ;;
  process | run) [ $# -gt 0 ] || { echo "run_container_slot: $mode needs a command after --" >&2; exit 2; } ;;
  *) echo "run_container_slot: mode must be slot, process or run, not $mode" >&2; exit 2 ;;
esac
# The slot's link is relative (../../releases/<id>); the release is at the same absolute path in the image.
release=$(readlink -f -- "$slot/release")
case $release in
  */releases/[0-9]*) ;;
  *) echo "run_container_slot: $slot/release does not name a release: $release" >&2; exit 1 ;;
esac
ids=$(id -u -- "$user"):$(id -g -- "$user")
while IFS= read -r key; do
  [ -n "$key" ] && options+=("--env=$key")
done < <(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$slot/env")
# --pull=never: the image is the one built for this release on this host, never one from a registry.
common=(--rm --replace --pull=never --name="$name" --cgroups=split --log-driver=passthrough
  --read-only --cap-drop=ALL --security-opt=no-new-privileges --user="$ids" --workdir="$release")
image=$repository:${release##*/}

# As the systemd runtime's hooks and processes: the release's virtualenv first on PATH, no home.
command_env=(--env=PATH="$release/.venv/bin:/usr/local/bin:/usr/bin:/bin" --env=VIRTUAL_ENV="$release/.venv"
  --env=HOME=/nonexistent --env=LANG=C.UTF-8)
case $mode in
  run) exec /usr/bin/podman run "${common[@]}" "${command_env[@]}" "${options[@]}" "$image" "$@" ;;
  process) exec /usr/bin/podman run --detach --sdnotify=conmon "${common[@]}" "${command_env[@]}" "${options[@]}" "$image" "$@" ;;
esac
# The container's gunicorn (the app user) creates the socket there. Here, not in ExecStartPre=: systemd
# gives RuntimeDirectory= back to the unit's user (root) before each command it starts.
chown -- "$ids" "$runtime"
exec /usr/bin/podman run --detach --sdnotify=conmon "${common[@]}" \
  --volume="$slot/gunicorn_conf.py:$slot/gunicorn_conf.py:ro" --volume="$runtime:$runtime" \
  --env=RUNTIME_DIRECTORY="$runtime" --env=XDG_RUNTIME_DIR="$runtime" --env=PYOPS_HEALTH_SOCKET="$runtime/gunicorn.sock" \
  "${options[@]}" "$image" "$release/.venv/bin/gunicorn" -c "$slot/gunicorn_conf.py"
