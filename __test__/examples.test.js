'use strict'
// The Compose example app, run against the private clamd in the two topologies of the user guide
// (a TCP sidecar and a shared UNIX socket), as local processes since Docker does not run here.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const { startClamd } = require('./helpers/clamd.js')

const ROOT = path.join(__dirname, '..')
const clamd = startClamd('main')

function runApp(env) {
  return execFileSync(process.execPath, [path.join(ROOT, 'examples', 'app.js')], {
    encoding: 'utf8',
    env: { ...process.env, POMPELMI_MODULE: ROOT, ...env },
    timeout: 20_000,
  })
}

test('examples/app.js: TCP sidecar topology (CLAMAV_HOST/CLAMAV_PORT)', () => {
  assert.match(runApp({ CLAMAV_HOST: '127.0.0.1', CLAMAV_PORT: String(clamd.port) }), /clean buffer: Clean, EICAR: Malicious/)
})

test('examples/app.js: shared socket topology (CLAMAV_SOCKET)', () => {
  assert.match(runApp({ CLAMAV_SOCKET: clamd.socket }), /clean buffer: Clean, EICAR: Malicious/)
})
