#!/usr/bin/env bash
# Build a systemd-capable Debian test image without any registry:
# debootstrap from the host's apt mirror, trust the host's extra CA certificates,
# then `docker import`. Reuses an existing image built by the same recipe unless
# REBUILD=1. Usage: build-image.sh [debian12|debian13 ...]   (default: debian12)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
recipe_hash="$(sha256sum "$0" | cut -c1-12)"
say() { printf 'build-image: %s\n' "$*" >&2; }

host_mirror() {
  # First Debian (non-security) URI from the host's apt configuration.
  local uri
  uri="$(grep -h -E '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri="$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

build_one() {
  local flavour="$1" suite name rootfs mirror
  case "$flavour" in
    debian12) suite=bookworm ;;
    debian13) suite=trixie ;;
    *) say "unknown image '$flavour' (expected debian12 or debian13)"; return 2 ;;
  esac
  name="${IMAGE_PREFIX:-pyops-fastapi}-${flavour}:latest"

  if [ "${REBUILD:-0}" != 1 ] && \
     [ "$(docker image inspect -f '{{ index .Config.Labels "pyops.recipe" }}' "$name" 2>/dev/null || true)" = "$recipe_hash" ]; then
    say "$name is up to date (REBUILD=1 to force)"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || {
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
    else
      say "debootstrap is missing: install it (apt-get install debootstrap)"; return 1
    fi
  }
  [ "$(id -u)" -eq 0 ] || { say "debootstrap needs root: run with sudo"; return 1; }

  mirror="${DEBIAN_MIRROR:-$(host_mirror)}"
  rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/pyops-rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' RETURN
  say "debootstrap $suite from $mirror into $rootfs"
  debootstrap --variant=minbase \
    --include=python3,systemd,systemd-sysv,sudo,ca-certificates,dbus,procps \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
      say "debootstrap failed; last lines:"; tail -n 20 "$rootfs.log" >&2; return 1; }
  rm -f "$rootfs.log"

  # Trust the same extra CAs as the host, so pip inside the container works
  # behind a TLS-intercepting proxy.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  # Same apt mirror inside the container as the one we bootstrapped from.
  printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
  # Units that make no sense in a container and only slow the boot down.
  for unit in getty.target systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

  # mktemp -d made the root 0700: Docker shows / as 0755 whatever the image says, podman does not,
  # and a non-root user in an image built on this one could not reach anything.
  chmod 755 "$rootfs"
  say "importing $name"
  tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' \
    --change "LABEL pyops.recipe=$recipe_hash pyops.suite=$suite" \
    - "$name" >/dev/null
  say "built $name"
}

"$here/ensure-docker.sh"
[ "$#" -gt 0 ] || set -- debian12
for flavour in "$@"; do build_one "$flavour"; done
