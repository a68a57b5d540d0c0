#!/usr/bin/env bash
# What every command needs on a fresh Debian/Ubuntu machine with Node >= 20 and Rust:
# scripts/build.sh (npm dependencies, the native addon), then ClamAV (apt-get). Each command starts
# the private clamd instances it uses (scripts/clamd.sh): the demo its `main`, the bench its
# `bench`, the tests theirs. The tests need more: scripts/setup-test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh
scripts/clamd.sh install
