'use strict'
// The scanning tee (passthrough()): bytes flow on while clamd scans them; the last chunk and the
// end wait for clamd's Clean; everything else destroys the tee, so pipeline rejects and the
// destination never completes. A real clamd over UNIX and TCP and the real clamscan; a real clamd
// killed mid-stream; a fake clamd only to hold its reply back on cue.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')

process.env.POMPELMI_MODULE = path.join(__dirname, '..')
const pompelmi = require('..')
const { Verdict, MaliciousUploadError, ScanFailedError } = pompelmi
const { startClamd, stopClamd, client, SIGNATURES } = require('./helpers/clamd.js')
const { fakeClamd, closedPort, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir } = require('./helpers/samples.js')
const { storeScanned } = require('../examples/tee-to-file.js')

const clamd = startClamd('main')
const MODES = { UNIX: { socket: clamd.socket }, TCP: { port: clamd.port }, local: { database: SIGNATURES } }

/** `count` chunks of `size` random bytes, then `tail` if given. */
function chunks(count, size, tail) {
  const list = Array.from({ length: count }, () => crypto.randomBytes(size))
  if (tail) list.push(tail)
  return list
}

/** A Writable that keeps what it gets, optionally slowly. */
function sink({ delayMs = 0, highWaterMark } = {}) {
  const received = []
  const out = new Writable({
    highWaterMark,
    write(chunk, _enc, done) {
      received.push(chunk)
      if (delayMs) setTimeout(done, delayMs)
      else done()
    },
  })
  out.received = received
  out.bytes = () => received.reduce((n, c) => n + c.length, 0)
  return out
}

for (const [mode, options] of Object.entries(MODES)) {
  test(`${mode}: a clean upload reaches the file complete and byte-identical; tee.report is Clean`, async (t) => {
    const dir = tempDir(t)
    const data = chunks(40, 64 * 1024)
    const target = path.join(dir, 'clean.bin')
    const report = await storeScanned(Readable.from(data), target, options)
    assert.equal(report.verdict, Verdict.Clean)
    assert.ok(fs.readFileSync(target).equals(Buffer.concat(data)), 'byte-identical')
    assert.deepEqual(fs.readdirSync(dir), ['clean.bin'], 'no partial file left')
    // The same through a client's and a pool's tee.
    const c = client(t, options)
    const out = sink()
    const tee = c.passthrough()
    await pipeline(Readable.from(data), tee, out)
    assert.ok(Buffer.concat(out.received).equals(Buffer.concat(data)))
    assert.equal((await tee.report).verdict, Verdict.Clean)
  })

  test(`${mode}: EICAR at the end, or split across chunks: pipeline rejects ERR_MALICIOUS_UPLOAD and the recipe leaves no file`, async (t) => {
    const dir = tempDir(t)
    const target = path.join(dir, 'upload.bin')
    const data = chunks(8, 32 * 1024, EICAR)
    await assert.rejects(storeScanned(Readable.from(data), target, options), (err) => {
      assert.ok(err instanceof MaliciousUploadError)
      assert.equal(err.code, 'ERR_MALICIOUS_UPLOAD')
      assert.equal(err.statusCode, 403)
      assert.deepEqual(err.report.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
      return true
    })
    assert.deepEqual(fs.readdirSync(dir), [], 'neither the final file nor the partial one')
    // Split byte by byte: the destination has everything but the last chunk, and never finishes.
    const out = sink()
    let finished = false
    out.on('finish', () => (finished = true))
    const tee = pompelmi.passthrough(options)
    const split = [Buffer.from('leading clean bytes '), ...[...EICAR].map((b) => Buffer.of(b))]
    await assert.rejects(pipeline(Readable.from(split), tee, out), { code: 'ERR_MALICIOUS_UPLOAD' })
    assert.equal(finished, false)
    assert.equal(out.bytes(), Buffer.concat(split).length - 1, 'the last chunk was held back')
    const report = await tee.report
    assert.equal(report.verdict, Verdict.Malicious, 'tee.report resolves whenever clamd answered')
  })

  test(`${mode}: zero bytes are scanned like any upload and resolve Clean, no hang`, async (t) => {
    const out = sink()
    const tee = client(t, options).passthrough()
    await pipeline(Readable.from([]), tee, out)
    const report = await tee.report
    assert.deepEqual([report.verdict, report.bytes, out.bytes()], [Verdict.Clean, 0, 0])
  })

  test(`${mode}: over maxFileSize: ERR_SCAN_FAILED with the too-large report, the writer is not left waiting`, async () => {
    const out = sink()
    const tee = pompelmi.passthrough({ ...options, maxFileSize: 100 * 1024 })
    const err = await pipeline(Readable.from(chunks(64, 16 * 1024)), tee, out).then(() => null, (e) => e)
    assert.ok(err instanceof ScanFailedError)
    assert.deepEqual([err.code, err.statusCode, err.report.verdict, err.report.reason], ['ERR_SCAN_FAILED', 422, Verdict.ScanError, 'too-large'])
    assert.ok(out.bytes() <= 200 * 1024, `the upload stopped near the guard (${out.bytes()} bytes went on)`)
  })

  test(`${mode}: an abort fails the tee with ERR_SCAN_FAILED, the AbortError as cause; tee.report rejects with it`, async () => {
    const controller = new AbortController()
    const source = new Readable({
      read() {
        setTimeout(() => this.push(crypto.randomBytes(1024)), 2)
      },
    })
    setTimeout(() => controller.abort(), 50)
    const tee = pompelmi.passthrough({ ...options, signal: controller.signal })
    const err = await pipeline(source, tee, sink()).then(() => null, (e) => e)
    assert.equal(err.code, 'ERR_SCAN_FAILED')
    assert.equal(err.cause.name, 'AbortError')
    assert.equal(err.report, undefined, 'clamd did not answer')
    await assert.rejects(tee.report, (e) => e === err)
  })
}

test('the last chunk and the end wait for the verdict (a fake clamd holds its reply)', async (t) => {
  let answer
  const held = new Promise((resolve) => (answer = resolve))
  const fake = await fakeClamd(t, async (conn) => {
    const request = await conn.request(0)
    await held
    conn.write(`${request.id}: stream: OK`)
  })
  const out = sink()
  let finished = false
  out.on('finish', () => (finished = true))
  const tee = pompelmi.passthrough({ port: fake.port })
  const data = chunks(5, 1000)
  const done = pipeline(Readable.from(data), tee, out)
  // Everything but the last chunk flows on; the end does not come.
  while (out.bytes() < 4000) await new Promise((r) => setTimeout(r, 5))
  await new Promise((r) => setTimeout(r, 100))
  assert.deepEqual([out.bytes(), finished], [4000, false])
  answer()
  await done
  assert.deepEqual([out.bytes(), finished], [5000, true])
  assert.ok(Buffer.concat(out.received).equals(Buffer.concat(data)))
})

test('a clamd ScanError (StreamMaxLength) fails the tee with its report', async () => {
  const limit = startClamd('limit') // StreamMaxLength 1M: clamd's own size-limit reply
  const tee = pompelmi.passthrough({ socket: limit.socket })
  const err = await pipeline(Readable.from(chunks(40, 64 * 1024)), tee, sink()).then(() => null, (e) => e)
  assert.deepEqual([err.code, err.report.verdict, err.report.reason], ['ERR_SCAN_FAILED', Verdict.ScanError, 'size-limit'])
})

test('clamd down: ERR_SCAN_FAILED with the connection error as cause, no report, nothing completes', async () => {
  const port = await closedPort()
  const out = sink()
  const tee = pompelmi.passthrough({ port, retries: 0 })
  const err = await pipeline(Readable.from([Buffer.from('x')]), tee, out).then(() => null, (e) => e)
  assert.deepEqual([err.code, err.cause.code, err.report], ['ERR_SCAN_FAILED', 'ECONNREFUSED', undefined])
  assert.equal(out.writableFinished, false)
})

test('a real clamd killed mid-stream: pipeline rejects ERR_SCAN_FAILED, the destination never completes', async () => {
  const victim = startClamd('tee')
  try {
    const out = sink()
    let sent = 0
    const source = new Readable({
      read() {
        sent += 64 * 1024
        if (sent === 2 * 1024 * 1024) process.kill(victim.pid, 'SIGKILL')
        setImmediate(() => this.push(sent > 64 * 1024 * 1024 ? null : crypto.randomBytes(64 * 1024)))
      },
    })
    const tee = pompelmi.passthrough({ socket: victim.socket, retries: 0 })
    const err = await pipeline(source, tee, out).then(() => null, (e) => e)
    assert.equal(err && err.code, 'ERR_SCAN_FAILED')
    assert.ok(['ECONNRESET', 'EPIPE'].includes(err.cause.code), err.cause.code)
    assert.equal(out.writableFinished, false)
  } finally {
    stopClamd('tee')
  }
})

test('a slow destination governs: backpressure holds and memory stays bounded', async () => {
  let produced = 0
  const size = 64 * 1024
  const source = new Readable({
    highWaterMark: size,
    read() {
      produced += size
      this.push(produced > 16 * 1024 * 1024 ? null : Buffer.alloc(size, 0x61))
    },
  })
  const out = sink({ delayMs: 2, highWaterMark: size })
  const tee = pompelmi.passthrough({ socket: clamd.socket })
  let ahead = 0
  const timer = setInterval(() => (ahead = Math.max(ahead, produced - out.bytes())), 1)
  await pipeline(source, tee, out)
  clearInterval(timer)
  assert.equal(out.bytes(), 16 * 1024 * 1024)
  assert.ok(ahead < 1024 * 1024, `the source ran at most ${(ahead / 1024).toFixed(0)} KiB ahead of the slow destination`)
})

test('a destination that fails stops the scan; tee.report rejects, never unhandled', async () => {
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const broken = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error('disk full'), { code: 'ENOSPC' }))
      },
    })
    const tee = pompelmi.passthrough({ socket: clamd.socket })
    await assert.rejects(pipeline(Readable.from(chunks(4, 1024)), tee, broken), { code: 'ENOSPC' })
    await assert.rejects(tee.report, { code: 'ERR_SCAN_FAILED' })
    // A tee nobody reads the report of, failing on its own.
    const lonely = pompelmi.passthrough({ port: await closedPort(), retries: 0 })
    lonely.on('error', () => {})
    lonely.end(Buffer.from('x'))
    await new Promise((r) => lonely.once('close', r))
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('passthrough on the top level, createClient and createPool; bad options throw at once', async (t) => {
  const pool = pompelmi.createPool({ socket: clamd.socket, size: 1 })
  t.after(() => pool.destroy())
  for (const tee of [pompelmi.passthrough({ port: clamd.port }), client(t, { socket: clamd.socket }).passthrough(), pool.passthrough()]) {
    const out = sink()
    await pipeline(Readable.from([Buffer.from('one '), Buffer.from('two')]), tee, out)
    assert.equal(Buffer.concat(out.received).toString(), 'one two')
  }
  assert.throws(() => pompelmi.passthrough({ port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
  assert.throws(() => pool.passthrough({ signal: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => pompelmi.passthrough({ socket: clamd.socket, signal: AbortSignal.abort() }), { code: 'ABORT_ERR' })
})

test('clamd too slow: the tee fails ERR_SCAN_FAILED with the ETIMEDOUT as cause, within the timeout, never holding on', async (t) => {
  const silent = await fakeClamd(t, (conn) => serveSession(conn, () => null))
  const out = sink()
  const started = Date.now()
  const tee = pompelmi.passthrough({ port: silent.port, timeout: 300, retries: 0 })
  const err = await pipeline(Readable.from(chunks(4, 1024)), tee, out).then(() => null, (e) => e)
  assert.deepEqual([err && err.code, err && err.cause && err.cause.code, out.writableFinished], ['ERR_SCAN_FAILED', 'ETIMEDOUT', false])
  assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`)
  await assert.rejects(tee.report, { code: 'ERR_SCAN_FAILED' })
})
