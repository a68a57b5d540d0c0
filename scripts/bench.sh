#!/usr/bin/env bash
# `npm run bench`: set-up, the peers (bench/node_modules only), the floor clients (bench/floor and
# bench/floor-addon), the build before issue 18 as a contender (bench/.baseline, from git), a private
# clamd with its cache off, then the side-by-side benchmark. BENCH_QUICK=1 runs a smaller version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The clamd instances this run starts are stopped when it ends.
source scripts/clamd-cleanup.sh
scripts/setup.sh
if [[ ! -d bench/node_modules/clamscan || ! -d bench/node_modules/clamdjs ]]; then
  npm install --prefix bench --no-audit --no-fund --loglevel=error >&2
fi
echo "bench: building the floor client" >&2
cargo build --release --quiet --manifest-path bench/floor/Cargo.toml
echo "bench: building the floor addon" >&2
cargo build --release --quiet --manifest-path bench/floor-addon/Cargo.toml
baseline_commit=37673d5
baseline=bench/.baseline
if ! ls "$baseline"/pompelmi.*.node >/dev/null 2>&1; then
  echo "bench: building the contender before issue 18 ($baseline_commit)" >&2
  rm -rf "$baseline" && mkdir -p "$baseline"
  git archive "$baseline_commit" | tar -x -C "$baseline"
  (cd "$baseline" && CARGO_TARGET_DIR="$PWD/../../target/baseline" ../../node_modules/.bin/napi build --platform --release --js binding.js --dts binding.d.ts >&2)
fi
scripts/clamd.sh start bench >/dev/null
BENCH_BASELINE_DIR="$PWD/$baseline" node --expose-gc bench/bench.js
