#!/usr/bin/env bash
# `npm run test:unit`: the fast offline tier. No apt, no clamd: the Rust workspace's tests (the
# protocol crate, the client crate against its in-process fake clamd), the linter, and the JS
# tests that need no real clamd (lib/core unit by unit, the published bundle, protocol faults
# against the fake clamd, session rules, types).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build.sh
echo "== cargo test"
cargo test --quiet --workspace
echo "== lint"
npx --no-install oxlint --deny-warnings .
echo "== node --test (no clamd)"
node --test --test-concurrency=2 __test__/core.test.js __test__/bundle.test.js __test__/faults.test.js __test__/session.test.js __test__/types.test.js
