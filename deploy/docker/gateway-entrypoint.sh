#!/bin/sh
# The gateway image's entrypoint: renders nginx.conf with the same script as the local suite
# (nginx-conf.sh, from GATEWAY_* variables set by docker-compose.yml or the Helm chart), checks
# it and becomes nginx. Everything written lives under GATEWAY_ROOT (a tmpfs or an emptyDir),
# so the image's own filesystem can stay read-only; logs go to the container's stdout/stderr.
set -eu
root="${GATEWAY_ROOT:?}"
mkdir -p "$root/logs" "$root/tmp"
ln -sf /dev/stdout "$root/logs/access.log"
ln -sf /dev/stderr "$root/logs/error.log"
/usr/share/opscenter/gateway/nginx-conf.sh > "$root/nginx.conf"
nginx -e stderr -t -q -p "$root" -c "$root/nginx.conf"
exec nginx -e stderr -p "$root" -c "$root/nginx.conf" -g "daemon off;"
