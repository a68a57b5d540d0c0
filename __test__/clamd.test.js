'use strict'
// scan, scanBuffer and scanStream against a real clamd (Debian's clamav-daemon with the
// project's test signatures), over TCP and over its UNIX socket.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const { AsyncLocalStorage } = require('node:async_hooks')

const { scan, scanBuffer, scanStream, createClient, Verdict } = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE, SHA256_SAMPLE, tempDir, writeFile, pompelmiTempEntries } = require('./helpers/samples.js')

const clamd = startClamd('main')
const limited = startClamd('limit')

const transports = {
  tcp: { host: '127.0.0.1', port: clamd.port },
  unix: { socket: clamd.socket },
}

for (const [name, opts] of Object.entries(transports)) {
  test(`${name}: scan() gives Clean, Malicious for EICAR and for hash signatures`, async (t) => {
    const dir = tempDir(t)
    const eicar = writeFile(dir, 'eicar.com', EICAR)
    assert.equal(await scan(CLEAN_FILE, opts), Verdict.Clean)
    assert.equal(await scan(eicar, opts), Verdict.Malicious)
    assert.equal(await scan(MD5_SAMPLE, opts), Verdict.Malicious)
    assert.equal(await scan(SHA256_SAMPLE, opts), Verdict.Malicious)
  })

  test(`${name}: scan('/dev/null') resolves Clean (the user guide's readiness probe)`, async () => {
    assert.equal(await scan('/dev/null', { ...opts, timeout: 3000 }), Verdict.Clean)
  })

  test(`${name}: scanBuffer() gives Clean and Malicious, without touching the disk`, async () => {
    const before = pompelmiTempEntries()
    assert.equal(await scanBuffer(Buffer.from('just some text'), opts), Verdict.Clean)
    assert.equal(await scanBuffer(EICAR, opts), Verdict.Malicious)
    assert.equal(await scanBuffer(Buffer.concat([Buffer.alloc(200_000, 1), EICAR]), opts), Verdict.Malicious)
    assert.equal(await scanStream(Readable.from([EICAR]), opts), Verdict.Malicious)
    assert.deepEqual(pompelmiTempEntries(), before)
  })

  test(`${name}: scanStream() gives Clean and Malicious, for files and generated streams`, async () => {
    assert.equal(await scanStream(fs.createReadStream(CLEAN_FILE), opts), Verdict.Clean)
    assert.equal(await scanStream(Readable.from([EICAR.subarray(0, 10), EICAR.subarray(10)]), opts), Verdict.Malicious)
    assert.equal(await scanStream(Readable.from([]), opts), Verdict.Clean)
  })
}

for (const [name, opts] of Object.entries(transports)) {
  // clamd's replies are read on the JS thread (src/reply_watch.rs). A session reads them itself
  // before it judges a reply deadline, so a busy JS thread is not a clamd that timed out.
  test(`${name}: replies that come while the JS thread is busy past the reply timeout are still the verdicts`, async (t) => {
    const c = createClient({ ...opts, timeout: 300, retries: 0 })
    t.after(() => c.close())
    assert.equal(await c.scanBuffer(Buffer.from('warm')), Verdict.Clean) // the session is open
    const clean = c.inspectBuffer(Buffer.from('clean bytes'))
    const eicar = c.inspectBuffer(Buffer.from(EICAR))
    const until = Date.now() + 1200 // four reply timeouts, the JS thread never yielding
    while (Date.now() < until);
    assert.equal((await clean).verdict, Verdict.Clean)
    const malicious = await eicar
    assert.equal(malicious.verdict, Verdict.Malicious)
    assert.equal(malicious.viruses.length, 1)
  })

  // Verdicts read on the JS thread are handed to JS at the end of the loop turn that read them,
  // many at once, in a callback scope of their own: each caller still resumes in its own context.
  test(`${name}: concurrent scans resume in their callers' AsyncLocalStorage contexts, each with its own verdict`, async (t) => {
    const als = new AsyncLocalStorage()
    const c = createClient(opts)
    t.after(() => c.close())
    const upload = (i) => (i % 4 === 0 ? Buffer.concat([Buffer.from(`upload ${i} `), EICAR]) : Buffer.from(`upload ${i}`))
    const seen = await Promise.all(
      Array.from({ length: 48 }, (_, i) =>
        als.run({ i }, async () => {
          const verdict = await c.scanBuffer(upload(i))
          await new Promise((resolve) => process.nextTick(resolve))
          return [als.getStore().i, verdict]
        }),
      ),
    )
    assert.deepEqual(seen, Array.from({ length: 48 }, (_, i) => [i, i % 4 === 0 ? Verdict.Malicious : Verdict.Clean]))
  })
}

test('string chunks are encoded to bytes before framing (non-ASCII included)', async () => {
  const text = 'héllo wörld ✓ '.repeat(1000)
  assert.equal(await scanStream(Readable.from([text, EICAR.toString('latin1')]), transports.unix), Verdict.Malicious)
  const s = fs.createReadStream(MD5_SAMPLE)
  s.setEncoding('hex') // chunks are hex strings: they must be decoded back to the file's bytes
  assert.equal(await scanStream(s, transports.tcp), Verdict.Malicious)
})

test('chunks larger than 64 KiB are split (a 5 MiB single-chunk stream is scanned)', async () => {
  const big = Buffer.alloc(5 * 1024 * 1024, 0x61)
  EICAR.copy(big, big.length - EICAR.length)
  assert.equal(await scanStream(Readable.from([big]), transports.tcp), Verdict.Malicious)
})

test('an upload over StreamMaxLength resolves ScanError every time, never EPIPE/ECONNRESET', async (t) => {
  const dir = tempDir(t)
  const big = Buffer.alloc(3 * 1024 * 1024, 0x62)
  const file = writeFile(dir, 'big.bin', big)
  // fdpass: false keeps scan() on INSTREAM over the socket; by descriptor (FILDES) clamd reads
  // the file itself and StreamMaxLength does not apply (see the FILDES test below).
  const variants = [
    ['tcp', { port: limited.port }],
    ['unix', { socket: limited.socket, fdpass: false }],
  ]
  for (const [name, opts] of variants) {
    for (let i = 0; i < 15; i++) {
      assert.equal(await scanBuffer(big, opts), Verdict.ScanError, `${name} scanBuffer #${i}`)
      assert.equal(await scan(file, opts), Verdict.ScanError, `${name} scan #${i}`)
      assert.equal(await scanStream(fs.createReadStream(file), opts), Verdict.ScanError, `${name} scanStream #${i}`)
    }
  }
})

test('exactly StreamMaxLength bytes are still accepted', async () => {
  assert.equal(await scanBuffer(Buffer.alloc(1024 * 1024, 0x63), { port: limited.port }), Verdict.Clean)
})

test('the event loop stays responsive while a 100 MiB file is scanned', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'big.bin')
  const fd = fs.openSync(file, 'w')
  const block = Buffer.alloc(1024 * 1024, 0x41)
  for (let i = 0; i < 100; i++) fs.writeSync(fd, block)
  fs.closeSync(fd)
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  let ticks = 0
  const interval = setInterval(() => ticks++, 5)
  const verdict = await scan(file, { socket: clamd.socket, timeout: 60_000 })
  clearInterval(interval)
  histogram.disable()
  assert.equal(verdict, Verdict.Clean)
  assert.ok(ticks > 5, `timers kept firing during the scan (${ticks} ticks)`)
  // Generous bound: this checks that no work blocks the JS thread, not the machine's speed.
  assert.ok(histogram.max / 1e6 < 250, `max event-loop delay ${(histogram.max / 1e6).toFixed(1)} ms`)
})
