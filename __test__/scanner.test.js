'use strict'
// createScanner: events, virus names, unheard errors. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const pompelmi = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const pause = (ms) => new Promise((r) => setTimeout(r, ms))

test('createScanner: events with virus names; a missing error listener does not crash', async (t) => {
  const dir = tempDir(t)
  const clean = writeFile(dir, 'a.txt', 'fine')
  const bad = writeFile(dir, 'b.txt', EICAR)
  const scanner = pompelmi.createScanner(TCP)
  const events = []
  scanner.on('clean', (f) => events.push(['clean', f]))
  scanner.on('malicious', (f, viruses) => events.push(['malicious', f, viruses]))
  const done = new Promise((resolve) => scanner.on('complete', resolve))
  scanner.scanDirectory(dir)
  await done
  assert.deepEqual(events, [['clean', clean], ['malicious', bad, ['Eicar-Test-Signature.UNOFFICIAL']]])
  // No 'error' listener: a failing scan must not take the process down.
  const child = spawnSync(process.execPath, ['-e', `const p = require(${JSON.stringify(path.join(__dirname, '..'))}); const s = p.createScanner({ port: 1 }); s.scan('/etc/hostname'); s.scanDirectory('/nonexistent'); setTimeout(() => console.log('alive'), 500)`], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'alive')
  const errors = []
  const withListener = pompelmi.createScanner({ port: await closedPort() })
  withListener.on('error', (err, file) => errors.push([err.code, file]))
  withListener.scan(clean)
  for (let i = 0; i < 50 && errors.length === 0; i++) await pause(10)
  assert.deepEqual(errors, [['ECONNREFUSED', clean]])
})

test('createScanner().scanDirectory(a file) is an "error" event, never an unhandled rejection', async () => {
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const scanner = pompelmi.createScanner(TCP)
    const err = await new Promise((resolve) => {
      scanner.on('error', resolve)
      scanner.scanDirectory('/etc/hostname')
    })
    assert.equal(err.code, 'ENOTDIR')
    pompelmi.createScanner(TCP).scanDirectory('/etc/hostname') // no listener: dropped
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})
