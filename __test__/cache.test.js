'use strict'
// createCache against a real clamd: keys, TTL, LRU, file storage. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { useFakeClamscan } = require('./helpers/fake-clamscan.js')
const { EICAR, tempDir, writeFile, fifo } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const UNIX = { socket: clamd.socket }
const pause = (ms) => new Promise((r) => setTimeout(r, ms))

test('createCache: hit after miss, options in the key, TTL, LRU, ScanError not cached, coalesced misses', async (t) => {
  const cache = pompelmi.createCache({ ttl: 200, maxSize: 2 })
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  const buf = Buffer.from(`cache me ${Date.now()}`)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.deepEqual(cache.stats(), { hits: 2, misses: 1, size: 1, hitRate: 2 / 3 })
  // Another clamd (socket) is another key.
  assert.equal(await cache.scanBuffer(buf, { socket: clamd.socket }), Verdict.Clean)
  assert.equal(cache.stats().misses, 2)
  // LRU: a third key evicts the oldest.
  assert.equal(await cache.scanBuffer(EICAR, TCP), Verdict.Malicious)
  assert.equal(cache.stats().size, 2)
  // TTL expiry rescans.
  await pause(250)
  await cache.scanBuffer(EICAR, TCP)
  assert.equal(cache.stats().misses, 4)
  // delete(sha256) and clear().
  assert.equal(cache.delete(crypto.createHash('sha256').update(EICAR).digest('hex')), true)
  cache.clear()
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  // Concurrent misses share one scan; files are keyed by content.
  const file = writeFile(tempDir(t), 'f.txt', EICAR)
  const verdicts = await Promise.all(Array.from({ length: 10 }, () => cache.scan(file, TCP)))
  assert.ok(verdicts.every((v) => v === Verdict.Malicious))
  assert.equal(cache.stats().misses, 10)
  assert.equal(cache.stats().size, 1)
  // A ScanError (unreachable port here rejects; a size-limit reply is a ScanError) is not cached.
  const limited = startClamd('limit')
  const big = Buffer.alloc(2 * 1024 * 1024, 1)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(cache.stats().hits, 0, 'ScanError is never served from the cache')
})

test("createCache storage: 'file' survives a reload with the real Verdict symbols", async (t) => {
  const filePath = path.join(tempDir(t), 'cache.json')
  const first = pompelmi.createCache({ storage: 'file', filePath })
  assert.equal(await first.scanBuffer(EICAR, TCP), Verdict.Malicious)
  first.flush()
  const second = pompelmi.createCache({ storage: 'file', filePath })
  const verdict = await second.scanBuffer(EICAR, TCP)
  assert.equal(verdict, Verdict.Malicious)
  assert.equal(typeof verdict, 'symbol')
  assert.equal(second.stats().hits, 1, 'served from the reloaded file')
})

/**
 * A TCP proxy to the real clamd that, while `hold()` is on, takes one chunk of what a client
 * sends and holds it (and the rest, by pausing) until `release()`: the window in which a file
 * being uploaded can be rewritten behind the cache's back. `started()`: a held upload began.
 */
async function holdingProxy(t, port) {
  const net = require('node:net')
  const state = { holding: false, started: false, waiting: [] }
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    upstream.pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('end', () => upstream.end())
    client.on('data', (d) => {
      if (!state.holding) return upstream.write(d)
      state.started = true
      client.pause()
      state.waiting.push(() => {
        upstream.write(d)
        client.resume()
      })
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => new Promise((r) => server.close(r)))
  return {
    port: server.address().port,
    hold: () => (state.holding = true),
    started: () => state.started,
    release() {
      state.holding = false
      state.waiting.splice(0).forEach((go) => go())
    },
  }
}

test('concurrent misses share a scan only when their bytes hash to what was scanned (a file rewritten mid-upload)', async (t) => {
  const proxy = await holdingProxy(t, clamd.port)
  const options = { port: proxy.port, timeout: 30000 }
  // X: 48 MiB of zeros, EICAR at the end. The file starts as X.
  const x = Buffer.concat([Buffer.alloc(48 * 1024 * 1024), EICAR])
  const file = writeFile(tempDir(t), 'x.bin', x)
  const cache = pompelmi.createCache({ signatureCheckInterval: 60000 })
  await cache.scanBuffer(Buffer.from('warm up the signature look-up and the session'), options)
  proxy.hold()
  const first = cache.scan(file, options)
  // The upload began: the file was hashed as X. Its tail is rewritten before it is read.
  while (!proxy.started()) await pause(5)
  const fd = fs.openSync(file, 'r+')
  fs.writeSync(fd, Buffer.alloc(EICAR.length, 0x61), 0, EICAR.length, 48 * 1024 * 1024)
  fs.closeSync(fd)
  const second = cache.scanBuffer(x, options) // the same hash as the file was: joins the scan
  await pause(50)
  proxy.release()
  assert.equal(await first, Verdict.Clean) // what was uploaded: the rewritten, clean bytes
  assert.equal(await second, Verdict.Malicious) // X itself, scanned on its own
})

test('createCache().scan checks the size guard before hashing: a 16 GiB sparse file is a ScanError at once', async (t) => {
  const file = path.join(tempDir(t), 'sparse.bin')
  fs.closeSync(fs.openSync(file, 'w'))
  fs.truncateSync(file, 16 * 1024 ** 3)
  const started = Date.now()
  const report = await pompelmi.createCache().scan(file, TCP)
  assert.equal(report, Verdict.ScanError)
  // Hashing 16 GiB of zeros takes tens of seconds here; the guard takes none of that.
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
})

test('a cached Clean does not outlive a signature update: the key holds clamd\'s signature version', async (t) => {
  const { execFileSync } = require('node:child_process')
  const { startClamd: start, stopClamd } = require('./helpers/clamd.js')
  const db = tempDir(t)
  fs.chmodSync(db, 0o755)
  const build = (version, signatures) => {
    const work = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pompelmi-test-cud-'))
    fs.writeFileSync(path.join(work, 'COPYING'), 'test signatures\n')
    fs.writeFileSync(path.join(work, 'daily.ndb'), signatures)
    execFileSync('sigtool', ['--build=daily.cud', '--unsigned', `--cvd-version=${version}`], { cwd: work, input: 'pompelmi\n', stdio: ['pipe', 'ignore', 'ignore'] })
    fs.copyFileSync(path.join(work, 'daily.cud'), path.join(db, 'daily.cud'))
    fs.chmodSync(path.join(db, 'daily.cud'), 0o644)
    fs.rmSync(work, { recursive: true, force: true })
  }
  const sample = Buffer.from('pompelmi signature-update sample: harmless until the next database')
  build(1, `Pompelmi.Test.Other:0:*:${Buffer.from('never-matches-anything-here').toString('hex')}\n`)
  const updatable = start('cud', '--database', db)
  // The package's connections never hold the process open; this test's own wait does.
  const keepAlive = setInterval(() => {}, 1000)
  t.after(() => clearInterval(keepAlive))
  t.after(() => stopClamd('cud'))
  const options = { port: updatable.port }
  const cache = pompelmi.createCache({ signatureCheckInterval: 0 })
  assert.match(await pompelmi.version(options), /^ClamAV [\d.]+\/1\//)
  assert.equal(await cache.scanBuffer(sample, options), Verdict.Clean)
  assert.equal(await cache.scanBuffer(sample, options), Verdict.Clean)
  assert.equal(cache.stats().hits, 1)
  // The update: version 2 detects the sample; clamd reloads it.
  build(2, `Pompelmi.Test.Update:0:*:${sample.toString('hex')}\n`)
  const net = require('node:net')
  await new Promise((resolve, reject) => net.connect(updatable.port, '127.0.0.1').on('error', reject).on('close', resolve).end('zRELOAD\0').resume())
  for (let i = 0; i < 100 && !/\/2\//.test(await pompelmi.version(options).catch(() => '')); i++) await pause(100)
  assert.equal(await cache.scanBuffer(sample, options), Verdict.Malicious)
})

test('createCache().scan(FIFO): read once, never cached, so a FIFO cannot plant Clean under the malware hash', async (t) => {
  const cache = pompelmi.createCache()
  const pipe = fifo(t)
  // Different bytes on each open: EICAR first, harmless after.
  const feeding = pipe.feed(EICAR).then(() => pipe.feed('harmless'))
  // One read of the FIFO is scanned (whatever its writers gave it by then), and not cached.
  assert.equal(typeof (await cache.scan(pipe.path, TCP)), 'symbol')
  assert.equal(cache.stats().size, 0)
  assert.equal(await cache.scanBuffer(EICAR, TCP), Verdict.Malicious)
  // A writer still waiting for a reader is let through (a non-blocking open never waits).
  const release = fs.openSync(pipe.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  await feeding
  fs.closeSync(release)
})

test('createCache().scan(path): a file swapped right after hashing cannot plant Clean under the malware hash', async (t) => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'upload.bin', EICAR)
  const harmless = writeFile(dir, 'harmless.bin', 'harmless')
  // The swap lands exactly between the hash and the scan: when the first digest is taken.
  const Hash = require('node:crypto').createHash('sha256').constructor
  const digest = Hash.prototype.digest
  let swapped = false
  Hash.prototype.digest = function (...args) {
    if (!swapped) {
      swapped = true
      fs.renameSync(harmless, file)
    }
    return digest.apply(this, args)
  }
  t.after(() => (Hash.prototype.digest = digest))
  const cache = pompelmi.createCache()
  assert.equal(await cache.scan(file, UNIX), Verdict.Malicious, 'the bytes hashed are the bytes scanned')
  Hash.prototype.digest = digest
  assert.equal(await cache.scanBuffer(EICAR, UNIX), Verdict.Malicious)
})

test('createCache: a verdict is stored under the hash of the bytes scanned, read through one descriptor', async (t) => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'a.txt', EICAR)
  const cache = pompelmi.createCache()
  assert.equal(await cache.scan(file, UNIX), Verdict.Malicious)
  // The path now names other bytes: a lookup by its new hash is a miss, then Clean for them.
  fs.writeFileSync(file, 'clean now')
  assert.equal(await cache.scan(file, UNIX), Verdict.Clean)
  assert.deepEqual([cache.stats().hits, cache.stats().misses], [0, 2])
  assert.equal(await cache.scanBuffer(EICAR, UNIX), Verdict.Malicious)
  assert.equal(cache.stats().hits, 1)
})

test('createCache storage file: a stored verdict "constructor" is not a verdict (own properties only)', async (t) => {
  const filePath = path.join(tempDir(t), 'cache.json')
  const first = pompelmi.createCache({ storage: 'file', filePath })
  assert.equal(await first.scanBuffer(EICAR, TCP), Verdict.Malicious)
  first.flush()
  const saved = JSON.parse(fs.readFileSync(filePath, 'utf8'))
  for (const [, e] of saved) e.verdict = 'constructor'
  fs.writeFileSync(filePath, JSON.stringify(saved))
  const second = pompelmi.createCache({ storage: 'file', filePath })
  const verdict = await second.scanBuffer(EICAR, TCP)
  assert.equal(typeof verdict, 'symbol')
  assert.equal(verdict, Verdict.Malicious)
  assert.equal(second.stats().hits, 0)
})

test('createCache storage file: written before the process exits, without flush()', async (t) => {
  const filePath = path.join(tempDir(t), 'cache.json')
  const script = `
    const p = require(${JSON.stringify(path.join(__dirname, '..'))})
    const cache = p.createCache({ storage: 'file', filePath: ${JSON.stringify(filePath)} })
    cache.scanBuffer(Buffer.from('hello'), { port: ${clamd.port} }).then((v) => { console.log(v.description) })`
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(out.trim(), 'Clean')
  const saved = JSON.parse(fs.readFileSync(filePath, 'utf8'))
  assert.deepEqual(saved.map(([, e]) => e.verdict), ['Clean'])
})

test('createCache keys come from the resolved target: {} (clamscan) and { port: null } (clamd at 127.0.0.1:3310) never share', async (t) => {
  useFakeClamscan(t, 'exit:0')
  const cache = pompelmi.createCache()
  assert.equal(await cache.scanBuffer(EICAR, {}), Verdict.Clean) // the fake clamscan says clean
  // Another target: a miss, asked for real (nothing listens on 3310 here, or a clamd that finds EICAR).
  const other = await cache.scanBuffer(EICAR, { port: null, timeout: 2000 }).catch((e) => e)
  assert.notEqual(other, Verdict.Clean)
  assert.deepEqual([cache.stats().hits, cache.stats().misses], [0, 2])
  // The same target written differently is one entry.
  await cache.scanBuffer(EICAR, { database: undefined })
  assert.equal(cache.stats().hits, 1)
})
