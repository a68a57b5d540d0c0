#!/usr/bin/env bash
# Everything the demo, the tests and the benchmark need on a fresh Debian/Ubuntu machine with
# Node >= 20 and Rust: npm dependencies, the native addon (rebuilt when its sources changed),
# ClamAV and Chromium (apt-get), and the private clamd instances with the test signatures.
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
if [[ -z "$addon" ]] || [[ -n "$(find src Cargo.toml Cargo.lock build.rs -newer "$addon" 2>/dev/null | head -n1)" ]]; then
  echo "setup: building the native addon (cargo, release)" >&2
  npm run --silent build >&2
fi

scripts/clamd.sh install
# Headless Chromium renders the HTML dashboard in one test (Debian's package; no browser download).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "setup: installing chromium (apt-get install chromium)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup: installing chromium (sudo apt-get install chromium)" >&2
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "setup: chromium is missing; install it (e.g. sudo apt-get install -y chromium) for the dashboard test" >&2
  fi
fi
# main: the everyday instance (the demo's). The tests start the others they need (see the presets
# in scripts/clamd.sh).
scripts/clamd.sh start main >/dev/null
