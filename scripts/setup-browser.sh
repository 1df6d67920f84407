#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (web/tests), which drive it
# with playwright-core; no browser is ever downloaded by Playwright. Safe to
# re-run: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
echo "installing chromium (Debian package) for the browser tests"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
