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
# The deployment checks (tests/deploy) use helm and compose-go's validator (the loader of
# `docker compose` v2, whose CLI is not on this machine), each built once from the Go module
# proxy into .local/tools/bin; a marker file records the version built.
go_tool() {
  local name=$1 package=$2 version=$3 go tmp
  [ "$(cat "$tools/bin/.$name.version" 2>/dev/null)" = "$version" ] && [ -x "$tools/bin/$name" ] && return
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || { echo "bootstrap: Go (1.24 or later) is needed to build $name" >&2; exit 1; }
  echo "building $name $version (once)" >&2
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod "$go" install "$package@$version"
  mv "$tmp/$(basename "$package")" "$tools/bin/$name"
  rm -rf "$tmp"
  echo "$version" > "$tools/bin/.$name.version"
}
go_tool helm helm.sh/helm/v3/cmd/helm v3.22.1
go_tool compose-spec github.com/compose-spec/compose-go/v2/cmd v2.16.2
