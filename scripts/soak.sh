#!/usr/bin/env bash
# `npm run soak`: the full 50,000-scan soak against the private clamd.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The clamd instances this run starts are stopped when it ends.
source scripts/clamd-cleanup.sh
scripts/setup.sh
SOAK_SCANS="${SOAK_SCANS:-50000}" node --expose-gc --test __test__/soak.test.js
