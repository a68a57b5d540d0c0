#!/usr/bin/env bash
# What the tests need beyond the demo's set-up (scripts/setup.sh): Chromium for the dashboard
# test, stunnel4 and openssl for the TLS tests, dnsmasq for the discovery tests, and moto (an S3-compatible server, from PyPI) in
# .venv for the S3 upload tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_install() {
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "setup: installing $* (apt-get install)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup: installing $* (sudo apt-get install)" >&2
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    echo "setup: $* missing; install it (e.g. sudo apt-get install -y $*)" >&2
    return 1
  fi
}

# Headless Chromium renders the HTML dashboard in one test (Debian's package; no browser download).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium
fi

# stunnel4 and openssl: the TLS terminator in front of clamd, and the certificates (tls.test.js).
missing=()
command -v stunnel4 >/dev/null || missing+=(stunnel4)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi

# dnsmasq: the DNS server on loopback that discovery.test.js starts (dnsmasq-base: the program
# alone, no system service taking port 53).
command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || apt_install dnsmasq-base

# moto[server]: the S3-compatible server the S3 upload tests start (__test__/helpers/s3.js).
if [[ ! -x .venv/bin/moto_server ]]; then
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    apt_install python3-venv
    python3 -m venv .venv
  fi
  echo "setup: installing moto[server] into .venv (pip)" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]' >&2
fi
