#!/bin/sh
# The entry points of the onair image: the production build's JavaScript (dist/, npm run build).
# The chosen mode is noted for the image's HEALTHCHECK (`onair healthcheck`).
set -e
mode="${1:-serve}"
case "$mode" in
  serve|worker|sidecar|migrate) echo "$mode" > /tmp/onair-mode 2>/dev/null || true ;;
esac
case "$mode" in
  serve)   shift 2>/dev/null || true; exec node --enable-source-maps dist/server.js "$@" ;;
  worker)  shift; exec node --enable-source-maps dist/worker.js "$@" ;;
  sidecar) shift; exec node --enable-source-maps dist/sidecar.js "$@" ;;
  migrate) shift; exec node --enable-source-maps dist/migrate.js "$@" ;;
  healthcheck)
    # serve and sidecar: their /healthz where they listen (HOST:PORT; 0.0.0.0 is asked on loopback).
    # worker and migrate serve no HTTP: a running container is a healthy one.
    case "$(cat /tmp/onair-mode 2>/dev/null || echo serve)" in
      serve|sidecar)
        exec node -e "const h=process.env.HOST&&process.env.HOST!=='0.0.0.0'?process.env.HOST:'127.0.0.1';fetch('http://'+(h.includes(':')?'['+h+']':h)+':'+(process.env.PORT||4000)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" ;;
      *) exit 0 ;;
    esac ;;
  *)       echo "usage: onair serve|worker|sidecar|migrate|healthcheck" >&2; exit 64 ;;
esac
