'use strict'
// clamd's limits against real clamd instances, through every entry point. clamd skips a file over
// MaxFileSize (100M) and stops at MaxScanSize; without `AlertExceedsMax yes` it then answers OK.
// The size guard (`maxFileSize`, default 100 MiB) and the limit alerts keep such payloads from
// ever resolving Clean.
//   main               StreamMaxLength 1G, AlertExceedsMax yes (the recommended configuration)
//   noalert            StreamMaxLength 1G, AlertExceedsMax no
//   scanlimit(-noalert) MaxScanSize 1M, with and without the alert
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const { spawnSync } = require('node:child_process')
const { Readable } = require('node:stream')
const express = require('express')
const multer = require('multer')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd, SIGNATURES } = require('./helpers/clamd.js')
const { EICAR, CLEAN_FILE, pompelmiTempEntries } = require('./helpers/samples.js')

const main = startClamd('main')
const noalert = startClamd('noalert')
const scanlimit = startClamd('scanlimit')
const scanlimitNoalert = startClamd('scanlimit-noalert')

const MiB = 1024 * 1024
const BIN = path.join(__dirname, '..', 'bin', 'pompelmi.js')

// The file: 110 MiB of random bytes with EICAR at its very end (over MaxFileSize 100M).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-test-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))
const bigBuffer = crypto.randomBytes(110 * MiB)
EICAR.copy(bigBuffer, bigBuffer.length - EICAR.length)
const big = path.join(dir, 'big110.bin')
fs.writeFileSync(big, bigBuffer)
fs.chmodSync(dir, 0o755)
// A gzip archive of 3 KiB that expands to 3 MiB of zeros followed by EICAR (past MaxScanSize 1M).
const bomb = zlib.gzipSync(Buffer.concat([Buffer.alloc(3 * MiB), EICAR]), { level: 9 })
const bombFile = path.join(dir, 'bomb.gz')
fs.writeFileSync(bombFile, bomb)

/** Every clamd entry point, as a report; `payload` is { file, buffer }. */
function entryPoints(clamd, { file, buffer }) {
  return {
    'inspect, FILDES (UNIX)': (o) => pompelmi.inspect(file, { socket: clamd.socket, ...o }),
    'inspect, INSTREAM (UNIX)': (o) => pompelmi.inspect(file, { socket: clamd.socket, fdpass: false, ...o }),
    'inspect, INSTREAM (TCP)': (o) => pompelmi.inspect(file, { port: clamd.port, ...o }),
    'inspectBuffer (TCP)': (o) => pompelmi.inspectBuffer(buffer, { port: clamd.port, ...o }),
    'inspectStream (UNIX)': (o) => pompelmi.inspectStream(fs.createReadStream(file), { socket: clamd.socket, ...o }),
  }
}

const LONG = { timeout: 120_000 }

test('(a) guard on (default 100 MiB): a 110 MiB upload is ScanError too-large on every entry point, and never sent whole', async () => {
  for (const [name, call] of Object.entries(entryPoints(noalert, { file: big, buffer: bigBuffer }))) {
    const report = await call(LONG)
    assert.equal(report.verdict, Verdict.ScanError, name)
    assert.equal(report.reason, 'too-large', name)
    assert.deepEqual([report.viruses, report.limit], [[], null], name)
    if (name.startsWith('inspectStream')) {
      // A stream is counted as it goes: at most the limit reached clamd.
      assert.ok(report.bytes <= 100 * MiB, `${name}: ${report.bytes} bytes`)
    } else {
      // A buffer's or file's size is known first: nothing was sent.
      assert.deepEqual([report.bytes, report.endpoint], [0, null], name)
    }
  }
  // The plain verdict functions too.
  const opts = { socket: noalert.socket, ...LONG }
  assert.equal(await pompelmi.scan(big, opts), Verdict.ScanError)
  assert.equal(await pompelmi.scanBuffer(bigBuffer, opts), Verdict.ScanError)
  assert.equal(await pompelmi.scanStream(fs.createReadStream(big), opts), Verdict.ScanError)
})

test('(a) guard off, AlertExceedsMax no: clamd answers OK for the skipped 110 MiB file (the hole the guard closes)', async () => {
  const calls = entryPoints(noalert, { file: big, buffer: bigBuffer })
  for (const name of ['inspect, FILDES (UNIX)', 'inspect, INSTREAM (TCP)']) {
    const report = await calls[name]({ maxFileSize: 0, ...LONG })
    assert.equal(report.verdict, Verdict.Clean, `${name}: ${report.reply}`)
    assert.equal(report.bytes, bigBuffer.length)
  }
})

test('(b) guard off, AlertExceedsMax yes: ScanError limits-exceeded, limit MaxFileSize, on every entry point', async () => {
  for (const [name, call] of Object.entries(entryPoints(main, { file: big, buffer: bigBuffer }))) {
    const report = await call({ maxFileSize: 0, ...LONG })
    assert.equal(report.verdict, Verdict.ScanError, `${name}: ${report.reply}`)
    assert.deepEqual([report.reason, report.limit, report.viruses], ['limits-exceeded', 'MaxFileSize', []], name)
    assert.match(report.reply, /Heuristics\.Limits\.Exceeded\.MaxFileSize FOUND$/)
    assert.equal(report.bytes, bigBuffer.length, `${name}: every byte reached clamd`)
  }
  assert.equal(await pompelmi.scan(big, { socket: main.socket, maxFileSize: 0 }), Verdict.ScanError)
})

test('(b) the guard answers first when it is on, whatever clamd would say', async () => {
  const report = await pompelmi.inspect(big, { socket: main.socket })
  assert.deepEqual([report.verdict, report.reason], [Verdict.ScanError, 'too-large'])
})

test('(c) an archive small on the wire that expands past MaxScanSize: limits-exceeded with the alert', async () => {
  for (const [name, call] of Object.entries(entryPoints(scanlimit, { file: bombFile, buffer: bomb }))) {
    const report = await call()
    assert.equal(report.verdict, Verdict.ScanError, `${name}: ${report.reply}`)
    assert.deepEqual([report.reason, report.limit, report.viruses], ['limits-exceeded', 'MaxScanSize', []], name)
  }
  assert.equal(await pompelmi.scan(bombFile, { socket: scanlimit.socket }), Verdict.ScanError)
  assert.equal(await pompelmi.scanBuffer(bomb, { port: scanlimit.port }), Verdict.ScanError)
  assert.equal(await pompelmi.scanStream(Readable.from([bomb]), { socket: scanlimit.socket }), Verdict.ScanError)
  // With clamd's default MaxScanSize the EICAR inside is found.
  assert.equal(await pompelmi.scanBuffer(bomb, { port: main.port }), Verdict.Malicious)
})

test('(c) without the alert clamd answers OK for the partly scanned archive (no client can see it: set AlertExceedsMax)', async () => {
  for (const [name, call] of Object.entries(entryPoints(scanlimitNoalert, { file: bombFile, buffer: bomb }))) {
    const report = await call()
    assert.equal(report.verdict, Verdict.Clean, `${name}: ${report.reply}`)
  }
})

test('the guard is exact: a payload of exactly maxFileSize bytes is scanned, one byte more is not', async () => {
  const opts = { port: main.port, maxFileSize: 1000 }
  const at = await pompelmi.inspectBuffer(Buffer.alloc(1000, 0x61), opts)
  assert.deepEqual([at.verdict, at.bytes], [Verdict.Clean, 1000])
  const over = await pompelmi.inspectBuffer(Buffer.alloc(1001, 0x61), opts)
  assert.deepEqual([over.verdict, over.reason], [Verdict.ScanError, 'too-large'])
})

/** A generated stream of `total` bytes that counts what was read from it. */
function countingStream(total, chunk = 64 * 1024) {
  const counter = { read: 0 }
  const stream = new Readable({
    read() {
      if (counter.read >= total) return this.push(null)
      counter.read += chunk
      this.push(Buffer.alloc(chunk, 0x62))
    },
  })
  return { stream, counter }
}

/**
 * Reading stopped near the limit and stays stopped. A few chunks past 1 MiB may have been read
 * already (one in the native channel, one in a pending write, the Readable's own buffer), never
 * more than half a MiB, and nothing more later.
 */
async function assertReadingStopped(counter) {
  const atSettle = counter.read
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(counter.read, atSettle, 'nothing more is read after the call settled')
  assert.ok(counter.read <= MiB + 512 * 1024, `${counter.read} bytes were read from the stream`)
}

test('a stream over maxFileSize: the upload stops and nothing more is read from the source; the client goes on working', async (t) => {
  const client = pompelmi.createClient({ socket: main.socket, maxFileSize: MiB, maxConnections: 1 })
  t.after(() => client.close())
  const { stream, counter } = countingStream(300 * MiB)
  const report = await client.inspectStream(stream)
  assert.deepEqual([report.verdict, report.reason], [Verdict.ScanError, 'too-large'])
  assert.ok(report.bytes <= MiB, `${report.bytes} bytes reached clamd`)
  await assertReadingStopped(counter)
  assert.equal(stream.destroyed, false, 'the stream is left to its owner')
  assert.equal(await client.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await client.scan(CLEAN_FILE), Verdict.Clean)
})

test('local mode: the guard before clamscan, and clamscan --alert-exceeds-max=yes for its own limits', async () => {
  const local = { database: SIGNATURES, ...LONG }
  const guarded = await pompelmi.inspect(big, local)
  assert.deepEqual([guarded.verdict, guarded.reason, guarded.endpoint], [Verdict.ScanError, 'too-large', null])
  const buffer = await pompelmi.inspectBuffer(bigBuffer, local)
  assert.deepEqual([buffer.verdict, buffer.reason], [Verdict.ScanError, 'too-large'])
  // Guard off: the real clamscan skips the file for its MaxFileSize and, with the alert, says so.
  const alerted = await pompelmi.inspect(big, { ...local, maxFileSize: 0 })
  assert.equal(alerted.verdict, Verdict.ScanError, alerted.reply)
  assert.deepEqual([alerted.reason, alerted.limit, alerted.viruses], ['limits-exceeded', 'MaxFileSize', []])
  assert.equal(await pompelmi.scan(big, { ...local, maxFileSize: 0 }), Verdict.ScanError)
})

test('(c) with default limits: a 110 KiB gzip whose member expands past MaxFileSize is limits-exceeded (clamd with the alert, local mode); OK without the alert', async () => {
  const expanding = zlib.gzipSync(Buffer.concat([Buffer.alloc(110 * MiB), EICAR]), { level: 9 })
  assert.ok(expanding.length < 200 * 1024, `${expanding.length} bytes on the wire`)
  for (const [name, options] of [
    ['clamd', { socket: main.socket }],
    ['local', { database: SIGNATURES }],
  ]) {
    const report = await pompelmi.inspectBuffer(expanding, { ...options, ...LONG })
    assert.equal(report.verdict, Verdict.ScanError, `${name}: ${report.reply}`)
    assert.deepEqual([report.reason, report.limit, report.viruses], ['limits-exceeded', 'MaxFileSize', []], name)
  }
  assert.equal(await pompelmi.scanBuffer(expanding, { socket: noalert.socket, ...LONG }), Verdict.Clean, 'without the alert: clamd says OK')
})

test('local mode: a stream over maxFileSize stops the temp file at the limit, reads no further, leaves no temp file', async () => {
  const before = pompelmiTempEntries()
  const { stream, counter } = countingStream(300 * MiB)
  const report = await pompelmi.inspectStream(stream, { database: SIGNATURES, maxFileSize: MiB })
  assert.deepEqual([report.verdict, report.reason], [Verdict.ScanError, 'too-large'])
  await assertReadingStopped(counter)
  assert.deepEqual(pompelmiTempEntries(), before)
  // Under the limit the same path scans for real.
  assert.equal(await pompelmi.scanStream(Readable.from([EICAR]), { database: SIGNATURES, maxFileSize: MiB }), Verdict.Malicious)
})

test('createPool, scanDirectory and createClient take maxFileSize', async (t) => {
  const pool = pompelmi.createPool({ port: main.port, maxFileSize: 1024 })
  t.after(() => pool.destroy())
  assert.equal(await pool.scanBuffer(Buffer.alloc(2048)), Verdict.ScanError)
  assert.equal(await pool.scanBuffer(Buffer.alloc(512)), Verdict.Clean)
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-test-'))
  t.after(() => fs.rmSync(tree, { recursive: true, force: true }))
  fs.writeFileSync(path.join(tree, 'small.txt'), 'fine')
  fs.writeFileSync(path.join(tree, 'large.bin'), Buffer.alloc(4096))
  const summary = await pompelmi.scanDirectory(tree, { socket: main.socket, maxFileSize: 1024 })
  assert.deepEqual(summary, { clean: [path.join(tree, 'small.txt')], malicious: [], errors: [path.join(tree, 'large.bin')] })
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { port: main.port, maxFileSize: -1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /"maxFileSize"/ })
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { port: main.port, maxFileSize: 1.5 }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('createCache: a Clean cached with the guard off is not served to a call whose guard refuses the payload', async () => {
  const cache = pompelmi.createCache()
  const payload = Buffer.alloc(4096, 0x63)
  assert.equal(await cache.scanBuffer(payload, { port: main.port, maxFileSize: 0 }), Verdict.Clean)
  assert.equal(await cache.scanBuffer(payload, { port: main.port, maxFileSize: 1024 }), Verdict.ScanError)
  assert.equal(await cache.scanBuffer(payload, { port: main.port, maxFileSize: 0 }), Verdict.Clean)
  assert.equal(cache.stats().hits, 1)
})

async function serve(t, app) {
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${server.address().port}`
}

test('middleware over HTTP: a 110 MiB upload answers 422 (too-large, or limits-exceeded with the guard off), an expanding archive 422 too, never 200', async (t) => {
  for (const [options, reason, content, name] of [
    [{ port: noalert.port }, 'too-large', bigBuffer, 'big110.bin'],
    [{ port: main.port, maxFileSize: 0 }, 'limits-exceeded', bigBuffer, 'big110.bin'],
    [{ socket: scanlimit.socket }, 'limits-exceeded', bomb, 'bomb.gz'], // (c)
  ]) {
    const app = express()
    app.post('/upload', multer({ storage: multer.memoryStorage() }).single('file'), pompelmi.middleware({ ...options, ...LONG }), (req, res) => res.json({ ok: true }))
    const url = await serve(t, app)
    const body = new FormData()
    body.append('file', new Blob([content]), name)
    const res = await fetch(`${url}/upload`, { method: 'POST', body })
    assert.equal(res.status, 422)
    assert.deepEqual(await res.json(), { error: 'File could not be scanned', field: 'file', name, reason })
  }
})

test('CLI: a file over the limit is a scan error (exit 2), with the guard and with clamd\'s alert', () => {
  const cli = (...args) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 })
  const guarded = cli('scan', big, '--socket', noalert.socket)
  assert.equal(guarded.status, 2, guarded.stderr)
  assert.match(guarded.stdout, /ScanError \(too-large\)/)
  const alerted = cli('scan', big, '--socket', main.socket, '--max-file-size', '0', '--json')
  assert.equal(alerted.status, 2, alerted.stderr)
  const json = JSON.parse(alerted.stdout)
  assert.deepEqual([json.infected, json.errors], [0, 1])
  assert.match(json.results[0].error, /ScanError \(limits-exceeded: MaxFileSize\)/)
  assert.equal(json.results[0].viruses, undefined)
  // (c): the archive past MaxScanSize.
  const archive = cli('scan', bombFile, '--socket', scanlimit.socket)
  assert.equal(archive.status, 2, archive.stdout)
  assert.match(archive.stdout, /ScanError \(limits-exceeded: MaxScanSize\)/)
  // Sizes as clamd.conf writes them.
  const under = cli('scan', CLEAN_FILE, '--socket', main.socket, '--max-file-size', '1K')
  assert.equal(under.status, 0, under.stdout)
  const over = cli('scan', big, '--socket', main.socket, '--max-file-size', '100M')
  assert.equal(over.status, 2)
  const bad = cli('scan', CLEAN_FILE, '--max-file-size', 'lots')
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /--max-file-size must be a size/)
})
