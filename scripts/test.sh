#!/usr/bin/env bash
# `npm test`: set-up, then the Rust unit and property tests, then the Node suite against the
# private clamd instances (the suite starts any instance it finds missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The tests stop every clamd they started; one that was running before (the demo's) stays.
source scripts/clamd-cleanup.sh
scripts/setup.sh
scripts/setup-test.sh
echo "== cargo fmt --check, clippy"
# Lints, where the toolchain has them (rustup's default profile does).
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --all --check; else echo "rustfmt not installed: format not checked"; fi
if cargo clippy --version >/dev/null 2>&1; then cargo clippy --quiet --workspace --all-targets -- -D warnings; else echo "clippy not installed: lints not run"; fi
echo "== cargo test"
cargo test --quiet --workspace
echo "== lint"
npx --no-install oxlint --deny-warnings .
echo "== node --test"
node --test --test-concurrency=2 __test__/*.test.js __test__/*.test.mjs
