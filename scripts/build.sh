#!/usr/bin/env bash
# What every script needs and nothing that needs root or a network service: Node >= 20, the npm
# dependencies, and the native addon (rebuilt when its Rust sources changed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

node -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj < 20) { console.error(`Node >= 20 is required, found ${process.version}`); process.exit(1) }'
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found. Install Rust first: https://rustup.rs (curl ... | sh), then re-run." >&2
  exit 1
fi

if [[ ! -d node_modules/@napi-rs/cli ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm dependencies" >&2
  # `npm install`, not `npm ci`: the per-platform binary packages are optionalDependencies that
  # exist only once published, and `npm ci` refuses a lock file without them.
  npm install --no-audit --no-fund --loglevel=error >&2
fi

addon="$(ls pompelmi.*.node 2>/dev/null | head -n1 || true)"
if [[ -z "$addon" ]] || [[ -n "$(find src crates Cargo.toml Cargo.lock build.rs -newer "$addon" 2>/dev/null | head -n1)" ]]; then
  echo "setup: building the native addon (cargo, release)" >&2
  npm run --silent build >&2
fi
