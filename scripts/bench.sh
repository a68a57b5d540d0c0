#!/usr/bin/env bash
# `npm run bench`: set-up, the peers (bench/node_modules only), a private clamd with its cache
# off, then the side-by-side benchmark. BENCH_QUICK=1 runs a smaller version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
if [[ ! -d bench/node_modules/clamscan || ! -d bench/node_modules/clamdjs ]]; then
  npm install --prefix bench --no-audit --no-fund --loglevel=error >&2
fi
scripts/clamd.sh start bench >/dev/null
node bench/bench.js
