'use strict'
// Real clamd instances for the tests, started (idempotently) through scripts/clamd.sh.
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'clamd.sh')

/**
 * Starts (or finds) the named private clamd and returns `{ port, socket, pid }`. Each name has its
 * configuration in scripts/clamd.sh: `main` (StreamMaxLength 1G, AlertExceedsMax yes), `limit`
 * (StreamMaxLength 1M), `noalert` (as main, AlertExceedsMax no), `scanlimit` and
 * `scanlimit-noalert` (MaxScanSize 1M). Extra `options` are clamd.sh's flags (e.g. `--database DIR`).
 */
function startClamd(name = 'main', ...options) {
  const out = execFileSync('bash', [SCRIPT, 'start', name, ...options], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const env = Object.fromEntries(out.trim().split('\n').map((line) => line.split('=')))
  return { port: Number(env.CLAMD_PORT), socket: env.CLAMD_SOCKET, pid: Number(env.CLAMD_PID) }
}

function stopClamd(name) {
  execFileSync('bash', [SCRIPT, 'stop', name], { stdio: 'inherit' })
}

/** A `createClient(options)` that is closed when the test `t` ends. */
function client(t, options) {
  const c = require('../..').createClient(options)
  t.after(() => c.close())
  return c
}

module.exports = { startClamd, stopClamd, client, SIGNATURES: path.join(__dirname, '..', '..', 'testdata', 'signatures') }
