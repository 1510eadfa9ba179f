#!/bin/bash
# statline-healthcheck [PATH] [PORT]: exit 0 when http://127.0.0.1:PORT/PATH
# answers 200, else 1. Used by the images' HEALTHCHECK and docker-compose.yml.
# Plain bash (/dev/tcp) so the runtime images need no curl.
# PATH defaults to /healthz, PORT to $STATLINE_HEALTH_PORT or 8080.
path=${1:-/healthz}
port=${2:-${STATLINE_HEALTH_PORT:-8080}}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || exit 1
case $status in
"HTTP/1."[01]" 200 "*) exit 0 ;;
*)
        echo "unhealthy: $status" >&2
        exit 1
        ;;
esac
