#!/usr/bin/env bash
# Installs the project's Python tooling when it is missing: uv (pinned) in a project-local venv,
# then the workspace's locked dependencies. Safe to run again: it does nothing when all is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
uv_version=0.13.9
tools="$root/.local/tools"
if ! "$tools/bin/uv" --version 2>/dev/null | grep -q "$uv_version"; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
fi
cd "$root"
"$tools/bin/uv" sync --frozen --all-packages --quiet
