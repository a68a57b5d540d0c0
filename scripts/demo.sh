#!/usr/bin/env bash
# `npm run demo`: set-up, then scan sample files through every entry point and transport.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
node scripts/demo.js
