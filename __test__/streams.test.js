'use strict'
// Streams handed to scanStream/inspectStream: one that cannot give all its bytes is refused, one
// that stops producing is bounded by the idle timeout, and `signal` caps a call's total time.
// Real clamd over UNIX and TCP and real clamscan; a fake clamd only to hold replies back.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { Readable, PassThrough } = require('node:stream')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd, client, SIGNATURES } = require('./helpers/clamd.js')
const { fakeClamd, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile, fifo } = require('./helpers/samples.js')

const clamd = startClamd('main')
const UNIX = { socket: clamd.socket }
const TCP = { port: clamd.port }
const MODES = { UNIX, TCP, local: { database: SIGNATURES } }
const threads = () => fs.readdirSync('/proc/self/task').length

/** A stream that yields EICAR and has been read to its end, as a body parser leaves `req`. */
async function consumed() {
  const s = new PassThrough()
  s.end(EICAR)
  for await (const _ of s);
  return s
}

/** Read from, not ended: its first chunk is gone. */
async function halfRead() {
  const s = new PassThrough()
  s.write(EICAR.subarray(0, 10))
  s.write(EICAR.subarray(10))
  await new Promise((r) => s.once('readable', r))
  s.read(10)
  return s
}

for (const [mode, options] of Object.entries(MODES)) {
  test(`${mode}: a stream already read, ended or destroyed is refused with a code, never a Clean for bytes never seen`, async (t) => {
    const pool = mode === 'local' ? null : pompelmi.createPool({ ...options, size: 1 })
    const client = pompelmi.createClient(options)
    t.after(() => Promise.all([client.close(), pool && pool.destroy()]))
    const entries = [
      ['scanStream', (s) => pompelmi.scanStream(s, options)],
      ['inspectStream', (s) => pompelmi.inspectStream(s, options)],
      ['client.scanStream', (s) => client.scanStream(s)],
      ...(pool ? [['pool.scanStream', (s) => pool.scanStream(s)]] : []),
    ]
    for (const [name, call] of entries) {
      await assert.rejects(call(await consumed()), { code: 'ERR_STREAM_ALREADY_FINISHED' }, `${name}: consumed`)
      await assert.rejects(call(await halfRead()), { code: 'ERR_STREAM_ALREADY_FINISHED' }, `${name}: half read`)
      const destroyed = Readable.from([EICAR])
      destroyed.destroy()
      await assert.rejects(call(destroyed), { code: 'ERR_STREAM_DESTROYED' }, `${name}: destroyed`)
      // A fresh empty stream is still a valid zero-byte scan, and a fresh EICAR one is found.
      const verdictOf = (r) => (typeof r === 'symbol' ? r : r.verdict)
      assert.equal(verdictOf(await call(Readable.from([]))), Verdict.Clean, `${name}: fresh empty`)
      assert.equal(verdictOf(await call(Readable.from([EICAR]))), Verdict.Malicious, `${name}: fresh EICAR`)
    }
  })

  test(`${mode}: a stream that stops producing rejects ETIMEDOUT after the idle timeout`, async () => {
    const stalled = new Readable({ read() {} })
    stalled.push(Buffer.from('a first chunk, then nothing'))
    const started = Date.now()
    const err = await pompelmi.scanStream(stalled, { ...options, timeout: 400 }).catch((e) => e)
    assert.equal(err.code, 'ETIMEDOUT', String(err))
    assert.match(err.message, /waiting for data from the stream/)
    assert.ok(Date.now() - started < 5000, `settled after ${Date.now() - started} ms`)
  })
}

test('an Express request a body parser already read (EICAR) is refused, not Clean with bytes: 0', async (t) => {
  const server = http.createServer(async (req, res) => {
    for await (const _ of req); // what express.raw()/json() do before the handler runs
    const result = await pompelmi.inspectStream(req, { port: clamd.port }).catch((e) => ({ code: e.code }))
    res.end(JSON.stringify({ code: result.code, verdict: result.verdict && result.verdict.description }))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => new Promise((r) => server.close(r)))
  const res = await fetch(`http://127.0.0.1:${server.address().port}/`, { method: 'POST', body: EICAR })
  assert.deepEqual(await res.json(), { code: 'ERR_STREAM_ALREADY_FINISHED' })
})

test('signal: AbortSignal.timeout(ms) caps the total time of pipelined calls whose replays stretch the idle timeout', async (t) => {
  // A clamd that takes every request and never answers: each call's idle timeout would run out,
  // its siblings be replayed, and the whole take up to three idle timeouts.
  const silent = await fakeClamd(t, (conn) => serveSession(conn, () => null))
  const client = pompelmi.createClient({ port: silent.port, timeout: 1000, maxConnections: 1 })
  t.after(() => client.close())
  const started = Date.now()
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => client.scanBuffer(Buffer.from(`x${i}`), { signal: AbortSignal.timeout(1200) })))
  const elapsed = Date.now() - started
  for (const r of results) assert.equal(r.status, 'rejected')
  assert.ok(results.every((r) => ['ABORT_ERR', 'ETIMEDOUT'].includes(r.reason.code)), results.map((r) => r.reason.code).join())
  assert.ok(elapsed < 2000, `all settled within the signal's 1200 ms (plus slack): ${elapsed} ms`)
})

test('setEncoding streams: clamd mode and local mode give the same verdict for every encoding', async (t) => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'eicar.txt', EICAR)
  const clean = writeFile(dir, 'clean.bin', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41, 0xc3, 0x28]))
  const local = { database: require('./helpers/clamd.js').SIGNATURES }
  for (const encoding of ['utf8', 'ascii', 'latin1', 'binary', 'base64', 'base64url', 'hex', 'utf16le', 'ucs2']) {
    for (const [source, expected] of [[file, Verdict.Malicious], [clean, Verdict.Clean]]) {
      const verdicts = []
      for (const options of [TCP, UNIX, local]) {
        const stream = fs.createReadStream(source)
        stream.setEncoding(encoding)
        verdicts.push(await pompelmi.scanStream(stream, options))
      }
      assert.deepEqual(verdicts, [expected, expected, expected], `${encoding} ${path.basename(source)}`)
    }
  }
})

test('a FIFO is read as a stream, TCP and UNIX; without a writer it times out, leaks no thread and blocks no one', async (t) => {
  for (const options of [TCP, UNIX]) {
    const pipe = fifo(t)
    const [verdict] = await Promise.all([pompelmi.scan(pipe.path, options), pipe.feed(EICAR)])
    assert.equal(verdict, Verdict.Malicious)
  }
  const c = client(t, { ...UNIX, timeout: 300 })
  const before = threads()
  const started = Date.now()
  const waits = Array.from({ length: 30 }, (_, i) => c.scan(fifo(t, `idle-${i}`).path).then(() => 'resolved', (e) => e.code))
  // Meanwhile another client's scans go through: no runtime worker is blocked.
  const other = client(t, UNIX)
  assert.equal(await other.scanBuffer(EICAR), Verdict.Malicious)
  assert.ok(Date.now() - started < 1000, 'an unrelated scan waited for the FIFOs')
  // Each FIFO times out waiting for data (or, behind the stalled ones, waiting for its turn).
  const codes = new Set(await Promise.all(waits))
  assert.ok(codes.has('ETIMEDOUT'))
  assert.deepEqual([...codes].filter((c) => c !== 'ETIMEDOUT' && c !== 'ERR_CLAMD_QUEUE_TIMEOUT'), [])
  await new Promise((r) => setTimeout(r, 100))
  assert.ok(threads() - before < 5, `threads grew from ${before} to ${threads()}`)
})
