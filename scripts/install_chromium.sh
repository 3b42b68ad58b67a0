#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/test_browser.py) and `tfjsconv bench --browser`.
# Installs it with apt when it is missing and we may (root, or passwordless sudo). Otherwise it says
# why and exits 0: the browser tests then skip with that reason (CI sets TFJSCONV_REQUIRE_BROWSER=1,
# which turns the skip into a failure).
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "note: chromium is not installed and apt needs root; the browser tests will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no apt-get to install chromium with; the browser tests will be skipped" >&2
  exit 0
fi
echo "installing Debian's chromium for the browser tests (apt-get)…" >&2
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
  || echo "note: apt-get could not install chromium; the browser tests will be skipped" >&2
exit 0
