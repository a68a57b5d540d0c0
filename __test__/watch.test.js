'use strict'
// watch with quarantine, against a real clamd. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const pompelmi = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }

const pause = (ms) => new Promise((r) => setTimeout(r, ms))

test('watch with quarantine: malicious files moved with a sidecar (real virus name, sha256), never overwriting', async (t) => {
  const dir = tempDir(t)
  const quarantine = path.join(tempDir(t), 'q', 'nested')
  const seen = { clean: [], malicious: [] }
  const watcher = pompelmi.watch(dir, { ...TCP, quarantine }, {
    onClean: (f) => seen.clean.push(f),
    onMalicious: (f, viruses, moved) => seen.malicious.push({ f, viruses, moved }),
  })
  t.after(() => watcher.close())
  writeFile(dir, 'fine.txt', 'fine')
  writeFile(dir, 'evil.com', EICAR)
  for (let i = 0; i < 100 && seen.malicious.length + seen.clean.length < 2; i++) await pause(50)
  assert.deepEqual(seen.clean, [path.join(dir, 'fine.txt')])
  assert.equal(seen.malicious.length, 1)
  const { moved, viruses } = seen.malicious[0]
  assert.deepEqual(viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  assert.equal(moved, path.join(quarantine, 'evil.com.quarantined'))
  assert.equal(fs.existsSync(path.join(dir, 'evil.com')), false)
  const sidecar = JSON.parse(fs.readFileSync(`${moved}.json`, 'utf8'))
  assert.equal(sidecar.virus, 'Eicar-Test-Signature.UNOFFICIAL')
  assert.equal(sidecar.sha256, crypto.createHash('sha256').update(EICAR).digest('hex'))
  // A second file of the same name does not overwrite the first.
  writeFile(dir, 'evil.com', Buffer.concat([EICAR, Buffer.from(' again')]))
  for (let i = 0; i < 100 && seen.malicious.length < 2; i++) await pause(50)
  assert.equal(seen.malicious[1].moved, path.join(quarantine, 'evil.com.1.quarantined'))
  assert.equal(fs.readFileSync(moved, 'utf8'), EICAR.toString(), 'the first quarantined file is intact')
})
