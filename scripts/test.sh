#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh machine, then runs every test.
#   - Azurite (the Azure Storage emulator the Azure tests run against), from npm, pinned by tests/azurite's lock file;
#   - Chromium, from Debian's archive, for the console's and the Orleans Dashboard's browser tests;
#   - promtool, unpacked from Debian's prometheus package into tests/tools (nothing installed, no service started),
#     for the alert-rule tests.
# Each is skipped when already there, so a second run goes straight to the tests. Arguments go to `dotnet test`
# (e.g. scripts/test.sh --filter "Category!=Slow").
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
apt_updated=""
apt_update() { if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi; }

if [ ! -x tests/azurite/node_modules/.bin/azurite ]; then
  npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error
fi

if [ ! -x /usr/bin/chromium ]; then
  apt_update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ ! -x tests/tools/prometheus/usr/bin/promtool ]; then
  download="$(mktemp -d)"
  (cd "$download" && apt-get download -qq prometheus 2>/dev/null) || { apt_update; (cd "$download" && apt-get download -qq prometheus); }
  mkdir -p tests/tools/prometheus
  dpkg-deb -x "$download"/prometheus_*.deb tests/tools/prometheus
  rm -rf "$download"
fi

echo "dotnet $(dotnet --version), node $(node --version), $(/usr/bin/chromium --version), $(tests/tools/prometheus/usr/bin/promtool --version 2>&1 | head -1)"
exec dotnet test Mesh.sln "$@"
