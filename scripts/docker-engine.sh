#!/usr/bin/env bash
# Makes a Docker engine answer on /var/run/docker.sock for the orchestrator tests.
# Installs Debian's docker.io (the engine) and busybox-static (the test image's
# root file system) when missing, then starts dockerd in the background unless an
# engine already answers. Idempotent: a running engine is left alone.
#
# Why --bridge=none --iptables=false: these machines allow no bridge/iptables
# changes; sidecars use host networking (loopback) anyway.
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=${DOCKERD_LOG:-/var/log/onair-dockerd.log}

say() { printf 'docker-engine: %s\n' "$*"; }

engine_answers() {
  # curl is not guaranteed; docker (any client) is. Fall back to curl.
  if command -v docker >/dev/null 2>&1; then
    docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1
  else
    curl -fsS --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
  fi
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  start=$(date +%s)
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed ${missing[*]} in $(( $(date +%s) - start ))s"
else
  say "docker.io and busybox-static already installed"
fi

if engine_answers; then
  say "an engine already answers on $SOCK; left alone"
  exit 0
fi

start=$(date +%s)
say "starting dockerd --bridge=none --iptables=false (log: $LOG)"
# A stale pid file from a killed engine stops a new dockerd from starting.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
setsid nohup dockerd --bridge=none --iptables=false --host="unix://$SOCK" >>"$LOG" 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  if engine_answers; then
    say "engine answers on $SOCK (pid $pid) after $(( $(date +%s) - start ))s"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    say "dockerd exited; last lines of $LOG:"
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done
say "dockerd did not answer within 30s; last lines of $LOG:"
tail -n 20 "$LOG" >&2
exit 1
