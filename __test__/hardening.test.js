'use strict'
// Hostile uploads and hostile peers (issue 11): each test here failed on the package before the
// hardening. Real clamd where the path involves it, the fake clamd for protocol faults, real
// express + multer for the middleware.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const net = require('node:net')
const { execFileSync, spawn } = require('node:child_process')
const express = require('express')
const multer = require('multer')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { fakeClamd, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const UNIX = { socket: clamd.socket }
const TCP = { port: clamd.port }

function client(t, options) {
  const c = pompelmi.createClient(options)
  t.after(() => c.close())
  return c
}

async function serve(t, handler) {
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return server.address().port
}

/** A FIFO at a fresh path; `feed(content)` opens it for writing once and writes `content`. */
function fifo(t, name = 'pipe') {
  const p = path.join(tempDir(t), name)
  execFileSync('mkfifo', [p])
  return {
    path: p,
    feed: (content) =>
      new Promise((resolve, reject) => {
        const out = fs.createWriteStream(p)
        out.on('error', reject)
        out.end(content, resolve)
      }),
  }
}

const threads = () => fs.readdirSync('/proc/self/task').length

// -- 1. the middleware scans every uploaded file -----------------------------------------------

test('middleware with multer upload.fields(): an EICAR in a second field is found (1.x scanned only uploadField)', async (t) => {
  const app = express()
  const upload = multer({ storage: multer.memoryStorage() }).fields([{ name: 'file' }, { name: 'avatar' }])
  app.post('/u', upload, pompelmi.middleware(TCP), (req, res) => res.json({ ok: true }))
  const port = await serve(t, app)
  const body = new FormData()
  body.append('file', new Blob(['harmless']), 'a.txt')
  body.append('avatar', new Blob([EICAR]), 'b.png')
  const res = await fetch(`http://127.0.0.1:${port}/u`, { method: 'POST', body })
  assert.equal(res.status, 403)
  const json = await res.json()
  assert.deepEqual(json.files.map((f) => [f.field, f.viruses]), [['avatar', ['Eicar-Test-Signature.UNOFFICIAL']]])
})

test('middleware: malformed req.files entries answer 422 and never throw', async () => {
  const mw = pompelmi.middleware(TCP)
  for (const req of [{ files: [null] }, { files: { avatar: [{ fieldname: 'avatar' }] } }, { files: { avatar: 'x' } }, { file: 42 }]) {
    const res = { code: null, body: null, status(c) { this.code = c; return this }, json(b) { this.body = b; return this } }
    let nexted = false
    await mw(req, res, () => (nexted = true)) // resolves: a rejection would leave Express 4 hanging
    assert.equal(res.code, 422, JSON.stringify(req))
    assert.equal(nexted, false)
  }
})

// -- 2. what is hashed is what is scanned -------------------------------------------------------

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

// -- 3. the bytes scanned are the upload's, for every encoding -----------------------------------

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

// -- 4. memory safety at the boundary ----------------------------------------------------------

test('a Buffer transferred and collected mid-scan: no crash, the right verdict (--expose-gc)', async () => {
  const script = `
    const p = require(${JSON.stringify(path.join(__dirname, '..'))})
    const { Readable } = require('node:stream')
    const EICAR = Buffer.from(${JSON.stringify(EICAR.toString())})
    const c = p.createClient({ port: ${clamd.port} })
    ;(async () => {
      const verdicts = []
      for (let round = 0; round < 5; round++) {
        // Not from the pool: its own ArrayBuffer (large enough to be unmapped when freed, and to
        // take a while to upload), transferred away and collected while the scan runs.
        const buf = Buffer.alloc(32 * 1024 * 1024)
        EICAR.copy(buf)
        const scanning = c.scanBuffer(buf)
        structuredClone(buf.buffer, { transfer: [buf.buffer] })
        global.gc()
        const junk = Array.from({ length: 64 }, () => Buffer.alloc(256 * 1024, 0x41))
        verdicts.push((await scanning).description, junk.length > 0 && buf.length)
        // Stream chunks too: each chunk is transferred once write() has it.
        const chunk = Buffer.alloc(8 * 1024 * 1024)
        EICAR.copy(chunk)
        const stream = new Readable({ read() {} })
        const s = c.scanStream(stream)
        stream.push(chunk)
        stream.push(null)
        await new Promise((r) => setImmediate(r))
        structuredClone(chunk.buffer, { transfer: [chunk.buffer] })
        global.gc()
        verdicts.push((await s).description)
      }
      console.log(JSON.stringify(verdicts))
      await c.close()
    })()`
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })
  const verdicts = JSON.parse(out)
  assert.deepEqual(verdicts.filter((v) => typeof v === 'string'), Array(10).fill('Malicious'))
  // After the transfer the caller's Buffer is detached (length 0): the scan had its own copy.
  assert.deepEqual(verdicts.filter((v) => typeof v === 'number'), Array(5).fill(0))
})

// -- 5. files are opened safely ----------------------------------------------------------------

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

test('scanDirectory: a link out of the tree is not followed (an error with its reason) unless followSymlinks', async (t) => {
  const outside = tempDir(t)
  const secret = writeFile(outside, 'secret.txt', EICAR)
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'hello')
  fs.symlinkSync(secret, path.join(dir, 'link.txt'))
  writeFile(dir, 'in/real.txt', EICAR)
  fs.symlinkSync(path.join(dir, 'in', 'real.txt'), path.join(dir, 'inner-link.txt'))
  const result = await pompelmi.scanDirectory(dir, TCP)
  assert.deepEqual(result.errors, [path.join(dir, 'link.txt')])
  assert.deepEqual(result.reasons, { [path.join(dir, 'link.txt')]: 'symlink-outside' })
  assert.deepEqual(result.malicious, [path.join(dir, 'in', 'real.txt')], 'a link inside the tree to a file already listed is not scanned twice')
  const followed = await pompelmi.scanDirectory(dir, { ...TCP, followSymlinks: true })
  assert.deepEqual(followed.malicious.sort(), [path.join(dir, 'in', 'real.txt'), path.join(dir, 'link.txt')].sort())
})

test('directory walks visit each file once: a link to an ancestor and links to "." never loop (scanDirectory, createScanner, CLI)', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'one')
  writeFile(dir, 'sub/b.txt', EICAR)
  fs.symlinkSync('..', path.join(dir, 'sub', 'up'))
  fs.symlinkSync('.', path.join(dir, 'self1'))
  fs.symlinkSync('.', path.join(dir, 'self2'))
  const result = await pompelmi.scanDirectory(dir, TCP)
  assert.deepEqual([result.clean, result.malicious, result.errors], [[path.join(dir, 'a.txt')], [path.join(dir, 'sub', 'b.txt')], []])
  const scanner = pompelmi.createScanner(TCP)
  const seen = []
  scanner.on('clean', (f) => seen.push(f))
  scanner.on('malicious', (f) => seen.push(f))
  await new Promise((resolve) => {
    scanner.on('complete', resolve)
    scanner.scanDirectory(dir)
  })
  assert.equal(seen.length, 2)
  const cli = require('node:child_process').spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pompelmi.js'), 'scan', dir, '--port', String(clamd.port)], { encoding: 'utf8' })
  assert.equal(cli.status, 1)
  assert.match(cli.stdout, /Scanned 2 file\(s\)/)
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

// -- 6. quarantine moves exactly the scanned file ----------------------------------------------

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

// -- 8. every call settles in bounded time -----------------------------------------------------

test('queueTimeout: 2000 calls queued on a clamd that never answers all settle within the deadline', async (t) => {
  const server = await fakeClamd(t, (conn) => serveSession(conn, () => null))
  const c = client(t, { port: server.port, timeout: 100, maxConnections: 1 })
  const started = Date.now()
  const codes = await Promise.all(Array.from({ length: 2000 }, () => c.scanBuffer(Buffer.from('x')).then(() => 'resolved', (e) => e.code)))
  // Without the queue deadline the last of 2000 calls would wait 250 rounds of 8 × 100 ms, over
  // 25 s. The bound leaves room for a busy machine (a run took 2951 ms of a 3000 ms bound).
  assert.ok(Date.now() - started < 10000, `took ${Date.now() - started} ms`)
  const counts = codes.reduce((m, code) => m.set(code, (m.get(code) || 0) + 1), new Map())
  assert.ok(counts.get('ERR_CLAMD_QUEUE_TIMEOUT') > 1900, JSON.stringify([...counts]))
  assert.ok(!counts.has('resolved'))
  await assert.rejects(c.scanBuffer(Buffer.from('x')), { message: /clamd (queue wait|connection) timed out after 100ms/ })
})

test('createMultiEngine: an engine that never settles is a ScanError at its timeout', async () => {
  const engine = pompelmi.createMultiEngine({
    engines: [{ type: 'clamav', ...TCP }, { name: 'hung', scanBuffer: () => new Promise(() => {}) }],
    timeout: 200,
  })
  const started = Date.now()
  const result = await engine.scanBuffer(EICAR)
  assert.ok(Date.now() - started < 1500)
  assert.equal(result.engines[1].verdict, Verdict.ScanError)
  assert.match(result.engines[1].error, /timed out after 200ms/)
  const own = pompelmi.createMultiEngine({ engines: [{ name: 'slow', timeout: 100, scanBuffer: () => new Promise(() => {}) }] })
  assert.equal((await own.scanBuffer(EICAR)).verdict, Verdict.ScanError)
})

test('every rejection carries a code', async (t) => {
  const dir = tempDir(t)
  const cases = [
    pompelmi.scan(42, TCP),
    pompelmi.scan(path.join(dir, 'missing'), TCP),
    pompelmi.scanBuffer('x', TCP),
    pompelmi.scanBuffer(Buffer.alloc(0), TCP),
    pompelmi.scanStream('x', TCP),
    pompelmi.scanDirectory(42, TCP),
    pompelmi.scanDirectory(path.join(dir, 'missing'), TCP),
    pompelmi.scan(dir, TCP),
    pompelmi.scanBuffer(Buffer.from('x'), { port: 'x' }),
    pompelmi.createCache().scan(42),
    pompelmi.createCache().scanBuffer(Buffer.alloc(0)),
    pompelmi.createMultiEngine({ engines: [{ type: 'clamav', ...TCP }] }).scan(42),
    pompelmi.notify('not a url', { verdict: Verdict.Malicious }),
    pompelmi.ping({}),
  ]
  const settled = cases.map((p) => p.then(() => null, (e) => e))
  const pool = pompelmi.createPool(TCP)
  await pool.destroy()
  settled.push(pool.scanBuffer(Buffer.from('x')).then(() => null, (e) => e))
  for (const [i, p] of settled.entries()) {
    const err = await p
    assert.ok(err instanceof Error, `case ${i} rejected`)
    assert.equal(typeof err.code, 'string', `case ${i} (${err.message}) has a code`)
  }
})

// -- 10. connecting has its own deadline; down endpoints are skipped -----------------------------

/** A listener whose accept queue is full: further SYNs are dropped, as for a host that is down. */
async function droppingPort(t) {
  const child = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(String(s.address().port) + '\\n')
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) // never accepts
    })`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
  // Fill the accept queue: then the kernel drops new SYNs.
  const fillers = []
  for (let i = 0; i < 8; i++) {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
  }
  t.after(() => fillers.forEach((s) => s.destroy()))
  await new Promise((r) => setTimeout(r, 200))
  return port
}

test('connectTimeout: a host that drops SYNs costs one connect deadline, then is skipped; all down rejects at once', async (t) => {
  const port = await droppingPort(t)
  const alone = client(t, { port, connectTimeout: 400, timeout: 10000 })
  let started = Date.now()
  await assert.rejects(alone.scanBuffer(Buffer.from('x')), { code: 'ETIMEDOUT' })
  const first = Date.now() - started
  assert.ok(first >= 350 && first < 2000, `first call took ${first} ms`)
  started = Date.now()
  for (let i = 0; i < 5; i++) await assert.rejects(alone.scanBuffer(Buffer.from('x')), { code: 'ETIMEDOUT' })
  assert.ok(Date.now() - started < 400, `five calls while down took ${Date.now() - started} ms`)
  // With a healthy endpoint beside it: after the first detour, calls go straight to the healthy one.
  const fleet = client(t, { endpoints: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: clamd.port }], connectTimeout: 400 })
  for (let i = 0; i < 6; i++) assert.equal(await fleet.scanBuffer(EICAR), Verdict.Malicious)
  started = Date.now()
  for (let i = 0; i < 10; i++) assert.equal(await fleet.scanBuffer(EICAR), Verdict.Malicious)
  assert.ok(Date.now() - started < 1000, `ten calls took ${Date.now() - started} ms`)
})

test('the reply wait is idle: a reply dripped a byte per 100 ms outlives timeout 300', async (t) => {
  const server = await fakeClamd(t, async (conn) => {
    const request = await conn.request(0)
    const text = `${request.id}: stream: OK\0`
    for (const ch of text) {
      await new Promise((r) => setTimeout(r, 100))
      conn.socket.write(ch)
    }
  })
  const c = client(t, { port: server.port, timeout: 300 })
  assert.equal(await c.scanBuffer(Buffer.from('x')), Verdict.Clean)
})

// -- 11. health checks check clamd ---------------------------------------------------------------

test('ping() and ready() reject against an HTTP server on the port (PONG exactly)', async (t) => {
  const port = await serve(t, (req, res) => res.end('PONG'))
  await assert.rejects(pompelmi.ping({ port }), { code: 'ERR_CLAMD_PROTOCOL', message: /not clamd/ })
  await assert.rejects(pompelmi.ready({ port, timeout: 400, interval: 50 }), { code: 'ERR_CLAMD_PROTOCOL' })
  assert.equal(await pompelmi.ping(TCP), true)
})

test('an idle session is ended 5 s after its last answer, also after a slow reply', async (t) => {
  let ended = null
  let answeredAt = null
  const server = await fakeClamd(t, async (conn) => {
    conn.socket.on('close', () => (ended = Date.now()))
    const request = await conn.request(0)
    await new Promise((r) => setTimeout(r, 1500)) // a reply slower than nothing: the old timer never re-armed
    answeredAt = Date.now()
    conn.answer(request.id, 'stream: OK')
    await conn.request(1)
  })
  const c = client(t, { port: server.port })
  assert.equal(await c.scanBuffer(Buffer.from('x')), Verdict.Clean)
  await new Promise((r) => setTimeout(r, 6500))
  assert.ok(ended !== null, 'the session was not ended')
  const idle = ended - answeredAt
  assert.ok(idle >= 4500 && idle < 6500, `ended ${idle} ms after the answer`)
})

// -- 9. output cannot be spoofed ---------------------------------------------------------------

test('the CLI escapes control characters in file names; reports say "All clean" only when every row is', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'x\r\x1b[2Kclean ok.txt', EICAR)
  const cli = path.join(__dirname, '..', 'bin', 'pompelmi.js')
  const res = await new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'scan', dir, '--port', String(clamd.port)])
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })
  assert.equal(res.code, 1)
  assert.ok(!res.out.includes('\r') && !res.out.includes('\x1b'), 'no raw CR or ESC')
  assert.match(res.out, /INFECTED {2}.*x\\x0d\\x1b\[2Kclean ok\.txt/)
  // Every row an error (clamd unreachable): no "All clean" anywhere.
  const errors = [{ file: 'a', verdict: 'error' }, { file: 'b', verdict: 'error' }]
  assert.doesNotMatch(pompelmi.generateDashboard(errors), /All clean/)
  assert.match(pompelmi.generateDashboard(errors), /2 files could not be scanned/)
  assert.doesNotMatch(pompelmi.generateShareCard(errors), /All clean/)
  assert.doesNotMatch(pompelmi.generateShareCard({ clean: ['a'], malicious: [], errors: ['b'] }), /All clean/)
  assert.match(pompelmi.generateShareCard([{ file: 'a', verdict: 'clean' }]), /All clean/)
  const report = path.join(dir, 'report.html')
  const unreachable = spawn(process.execPath, [cli, 'scan', dir, '--port', '1', '--report', report])
  assert.equal(await new Promise((r) => unreachable.on('close', r)), 3)
  assert.doesNotMatch(fs.readFileSync(report, 'utf8'), /All clean/)
})
