#!/bin/sh
# Renders the gateway's nginx.conf from nginx.conf.template (beside this script) on stdout.
# The one renderer of the gateway's configuration: deploy/local/suite.py runs it for the local
# suite and the gateway image runs it at start (deploy/docker/gateway-entrypoint.sh) for
# docker-compose.yml and the Helm chart, so every deployment serves the same routes.
#
#   GATEWAY_ROOT         nginx's prefix: pid file, logs/ and tmp/ (must be writable)
#   GATEWAY_LISTEN       address:port the gateway listens on
#   GATEWAY_WEB_ROOT     the web console's built files (web/dist)
#   GATEWAY_<SERVICE>_UPSTREAM  host:port of each service's API (CATALOG, INSTALLER, HOOKS,
#                        ANALYTICS, REVIEWS)
#   GATEWAY_RATE_LIMIT_PER_S, GATEWAY_RATE_LIMIT_BURST  per-client request rate (100, 200)
#
# Values must not contain '|' (sed's delimiter here). A placeholder left unfilled is an error.
set -eu
template="${GATEWAY_TEMPLATE:-$(dirname "$0")/nginx.conf.template}"
out=$(sed \
  -e "s|{{root}}|${GATEWAY_ROOT:?}|g" \
  -e "s|{{listen}}|${GATEWAY_LISTEN:?}|g" \
  -e "s|{{web_root}}|${GATEWAY_WEB_ROOT:?}|g" \
  -e "s|{{catalog_upstream}}|${GATEWAY_CATALOG_UPSTREAM:?}|g" \
  -e "s|{{installer_upstream}}|${GATEWAY_INSTALLER_UPSTREAM:?}|g" \
  -e "s|{{hooks_upstream}}|${GATEWAY_HOOKS_UPSTREAM:?}|g" \
  -e "s|{{analytics_upstream}}|${GATEWAY_ANALYTICS_UPSTREAM:?}|g" \
  -e "s|{{reviews_upstream}}|${GATEWAY_REVIEWS_UPSTREAM:?}|g" \
  -e "s|{{rate_limit_per_s}}|${GATEWAY_RATE_LIMIT_PER_S:-100}|g" \
  -e "s|{{rate_limit_burst}}|${GATEWAY_RATE_LIMIT_BURST:-200}|g" \
  "$template")
case "$out" in
*"{{"*)
  echo "nginx-conf.sh: unfilled placeholder in $template:" >&2
  printf '%s\n' "$out" | grep -n '{{' >&2
  exit 1
  ;;
esac
printf '%s\n' "$out"
