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
# The JS SDK builds with Node and npm (sdk/js/.npmrc refuses a Node older than package.json's engines).
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else echo "bootstrap: install Node.js 20.19+ and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; fi
fi
"$tools/bin/uv" sync --frozen --all-packages --quiet
