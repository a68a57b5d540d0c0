#!/usr/bin/env bash
# What the demo needs on a fresh Debian/Ubuntu machine with Node >= 20 and Rust:
# scripts/build.sh (npm dependencies, the native addon), then ClamAV (apt-get) and the private
# clamd instance with the test signatures. The tests need more: scripts/setup-test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh
scripts/clamd.sh install
# main: the everyday instance (the demo's). The tests start the others they need (see the presets
# in scripts/clamd.sh).
scripts/clamd.sh start main >/dev/null
