#!/bin/sh
# pyops.fastapi.app, tasks/build.yml: after pip, as root. $1: the build user, $2: the virtualenv.
# Ends whatever the build user still runs (setup code may leave a process behind), removes the pip
# configuration and gives the virtualenv to root, read-only for everyone else (-h: links
# themselves, never their targets).
uid=$(id -u -- "$1")
for _ in 1 2 3; do
  pids=$(for p in /proc/[0-9]*; do [ "$(stat -c %u "$p" 2>/dev/null)" = "$uid" ] && echo "${p#/proc/}"; done)
  [ -z "$pids" ] && break
  # shellcheck disable=SC2086 # one argument per process id: $pids is split on purpose
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
done
rm -f -- "$2/pip.conf" "$2/netrc"
chown -R -h root:root -- "$2"
chmod -R u+w,go-w -- "$2"
