#!/usr/bin/env bash
# `npm run demo`: set-up, a private clamd (`main`, with the test signatures; it stays running for
# what you try next), then scan sample files through every entry point and transport.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/clamd.sh start main >/dev/null
node scripts/demo.js
