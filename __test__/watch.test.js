'use strict'
// watch with quarantine, against a real clamd. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const UNIX = { socket: clamd.socket }

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

test('quarantine refuses a path whose parent was swapped for a symlink, and a swapped file', async (t) => {
  const watched = tempDir(t)
  const outside = tempDir(t)
  const quarantine = path.join(tempDir(t), 'q')
  const evil = writeFile(watched, 'sub/evil.com', EICAR)
  const victim = writeFile(outside, 'sub/evil.com', 'a victim file outside the watched tree')
  const { dev, ino } = fs.statSync(evil)
  const report = await pompelmi.inspect(evil, UNIX)
  assert.equal(report.verdict, Verdict.Malicious)
  // After the scan, the parent becomes a link to a directory outside.
  fs.renameSync(path.join(watched, 'sub'), path.join(watched, 'sub.old'))
  fs.symlinkSync(path.join(outside, 'sub'), path.join(watched, 'sub'))
  await assert.rejects(pompelmi.watch.quarantineFile(evil, quarantine, report.viruses, { fileId: `${dev}:${ino}`, root: watched }), (err) =>
    ['ELOOP', 'ENOTDIR'].includes(err.code),
  )
  assert.equal(fs.readFileSync(victim, 'utf8'), 'a victim file outside the watched tree')
  // A file replaced by another one (another inode) after its scan is not moved either.
  fs.rmSync(path.join(watched, 'sub'))
  fs.renameSync(path.join(watched, 'sub.old'), path.join(watched, 'sub'))
  fs.writeFileSync(`${evil}.new`, 'replaced')
  fs.renameSync(`${evil}.new`, evil) // another inode (the old one is alive until the rename)
  await assert.rejects(pompelmi.watch.quarantineFile(evil, quarantine, report.viruses, { fileId: `${dev}:${ino}`, root: watched }), { code: 'ERR_FILE_CHANGED' })
  assert.equal(fs.readFileSync(evil, 'utf8'), 'replaced')
  assert.deepEqual(fs.existsSync(quarantine) ? fs.readdirSync(quarantine) : [], [])
})

test('watch: a quarantine directory reached through a link into the watched tree is never watched', async (t) => {
  const watched = tempDir(t)
  fs.mkdirSync(path.join(watched, 'qdir'))
  const quarantine = path.join(tempDir(t), 'qlink')
  fs.symlinkSync(path.join(watched, 'qdir'), quarantine)
  const moved = []
  const watcher = pompelmi.watch(watched, { ...UNIX, quarantine }, { onMalicious: (file, viruses, to) => moved.push(to) })
  t.after(() => watcher.close())
  await new Promise((r) => setTimeout(r, 100))
  writeFile(watched, 'evil.com', EICAR)
  await new Promise((r) => setTimeout(r, 2500))
  assert.deepEqual(moved, [path.join(quarantine, 'evil.com.quarantined')])
  assert.deepEqual(fs.readdirSync(path.join(watched, 'qdir')).sort(), ['evil.com.quarantined', 'evil.com.quarantined.json'])
})
