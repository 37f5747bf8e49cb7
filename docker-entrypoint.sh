#!/bin/sh
# The entry points of the onair image. TypeScript runs through tsx's loader.
set -e
case "${1:-serve}" in
  serve)   shift 2>/dev/null || true; exec node --import tsx src/server/main.ts "$@" ;;
  worker)  shift; exec node --import tsx src/worker/main.ts "$@" ;;
  sidecar) shift; exec node --import tsx src/sidecar/main.ts "$@" ;;
  migrate) shift; exec node --import tsx scripts/migrate.ts "$@" ;;
  *)       echo "usage: onair serve|worker|sidecar|migrate" >&2; exit 64 ;;
esac
