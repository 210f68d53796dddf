#!/usr/bin/env bash
# Installs the project's tooling when it is missing: uv (pinned) in a project-local venv, the
# workspace's locked dependencies, and Node with npm for sdk/js. Safe to run again: it does
# nothing when all is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
uv_version=0.13.9
tools="$root/.local/tools"
if ! "$tools/bin/uv" --version 2>/dev/null | grep -q "$uv_version"; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
fi
cd "$root"
# The web console builds with Node and npm; its browser tests drive Debian's Chromium.
apt_install() {
  [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
command -v npm >/dev/null || apt_install nodejs npm
command -v chromium >/dev/null || apt_install chromium
"$tools/bin/uv" sync --frozen --all-packages --quiet
