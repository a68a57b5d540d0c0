#!/usr/bin/env bash
# Everything the demo, the tests and the benchmark need on a fresh Debian/Ubuntu machine with
# Node >= 20 and Rust: scripts/build.sh (npm dependencies, the native addon), then ClamAV and
# Chromium (apt-get), and the private clamd instances with the test signatures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh
scripts/clamd.sh install
# Headless Chromium renders the HTML dashboard in one test (Debian's package; no browser download).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "setup: installing chromium (apt-get install chromium)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup: installing chromium (sudo apt-get install chromium)" >&2
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "setup: chromium is missing; install it (e.g. sudo apt-get install -y chromium) for the dashboard test" >&2
  fi
fi
# main: the everyday instance (the demo's). The tests start the others they need (see the presets
# in scripts/clamd.sh).
scripts/clamd.sh start main >/dev/null
