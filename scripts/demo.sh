#!/usr/bin/env bash
# make demo / make demo-down: the whole stack in one local systemd container.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${DEMO_CONTAINER:-pyops-fastapi-demo}"
HTTPS_PORT="${DEMO_HTTPS_PORT:-8443}"
DISTRO="${PYOPS_DISTRO:-debian12}"
IMAGE="${PYOPS_IMAGE_PREFIX:-pyops-fastapi}-${DISTRO}:${PYOPS_IMAGE_TAG:-latest}"
SECRETS=.cache/demo-secrets.yml
say() { printf 'demo: %s\n' "$*"; }

if [ "${1:-up}" = down ]; then
  if docker rm -f "$NAME" >/dev/null 2>&1; then say "removed container $NAME"; else say "no container $NAME"; fi
  exit 0
fi

scripts/ensure-docker.sh
scripts/build-image.sh "$DISTRO"

if ! docker container inspect "$NAME" >/dev/null 2>&1; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$HTTPS_PORT") 2>/dev/null; then
    say "port $HTTPS_PORT on 127.0.0.1 is taken; free it or run DEMO_HTTPS_PORT=<port> make demo" >&2
    exit 1
  fi
  say "starting container $NAME from $IMAGE"
  docker run -d --name "$NAME" --hostname "$NAME" \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -v "/sys/fs/cgroup:/sys/fs/cgroup:${PYOPS_CGROUP_MODE:-ro}" \
    ${PYOPS_PRIVILEGED:+--privileged} --cgroupns "${PYOPS_CGROUPNS_MODE:-host}" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    -p "127.0.0.1:${HTTPS_PORT}:443" \
    "$IMAGE" /lib/systemd/systemd >/dev/null
elif [ "$(docker container inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
  docker start "$NAME" >/dev/null
fi

if [ ! -s "$SECRETS" ]; then
  mkdir -p .cache
  (umask 077; printf 'app_secret_key: "%s"\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" >"$SECRETS")
fi

ansible-playbook -i inventories/demo/hosts.yml -e "@$SECRETS" site.yml

say "health, checked by pyops.fastapi.health_check inside the container, through nginx:"
ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ansible -i inventories/demo/hosts.yml fastapi \
  -m pyops.fastapi.health_check -a "url=https://127.0.0.1 host=localhost validate_certs=false" \
  | python3 -c '
import json, sys
for host, res in json.load(sys.stdin)["plays"][0]["tasks"][0]["hosts"].items():
    for ep in res.get("endpoints", []):
        print("  %-8s %s  %s  %5.1f ms  %s" % (ep["path"], ep["status"], "passed" if ep["passed"] else "FAILED", ep["latency_ms"], json.dumps(ep["json"])))
    if res.get("failed"):
        print("  " + res.get("msg", "health check failed")); sys.exit(1)
'
cat <<MSG

demo: the app is up (self-signed certificate: your browser will warn once)
  API docs:  https://localhost:${HTTPS_PORT}/docs
  health:    curl -k https://localhost:${HTTPS_PORT}/health
  shell:     docker exec -it ${NAME} bash
  remove:    make demo-down
MSG
