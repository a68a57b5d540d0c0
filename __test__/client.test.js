'use strict'
// createClient: pooled IDSESSION sessions, pipelining, replay, FILDES, reports, health commands,
// per-call options, aborts, close(), and createPool.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { createClient, createPool, Verdict } = pompelmi
const { startClamd, client, SIGNATURES } = require('./helpers/clamd.js')
const { fakeClamd: fake, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const limited = startClamd('limit')
const TCP = { port: clamd.port }

/** An HTTP server with `handler` on a free loopback port: its port. */
async function serve(t, handler) {
  const server = require('node:http').createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return server.address().port
}


/** Decides like clamd from the payload: EICAR inside → FOUND. */
const likeClamd = (request) =>
  request.payload && request.payload.includes(EICAR) ? 'stream: Eicar-Test-Signature FOUND' : 'stream: OK'

test('a client has every method of the API', (t) => {
  const c = client(t, { port: clamd.port })
  for (const m of ['scan', 'scanBuffer', 'scanStream', 'inspect', 'inspectBuffer', 'inspectStream', 'ping', 'version', 'stats', 'ready', 'close']) {
    assert.equal(typeof c[m], 'function', m)
  }
  for (const f of ['createClient', 'createPool', 'inspect', 'inspectBuffer', 'inspectStream', 'ping', 'version', 'stats', 'ready']) {
    assert.equal(typeof pompelmi[f], 'function', f)
  }
})

test('ping, version, stats and ready against a real clamd', async (t) => {
  const c = client(t, { socket: clamd.socket })
  assert.equal(await c.ping(), true)
  assert.match(await c.version(), /^ClamAV \d+\.\d+\.\d+/)
  const stats = await c.stats()
  assert.match(stats, /POOLS:/)
  assert.match(stats, /END$/)
  assert.equal(await c.ready({ timeout: 2000 }), true)
  assert.equal(await pompelmi.ping({ port: clamd.port }), true)
  assert.match(await pompelmi.version({ port: clamd.port }), /^ClamAV/)
  assert.match(await pompelmi.stats({ socket: clamd.socket }), /THREADS:/)
  assert.equal(await pompelmi.ready({ port: clamd.port, timeout: 1000 }), true)
})

test('ready() waits for a clamd that starts late, and rejects with the last error when time runs out', async (t) => {
  const dir = tempDir(t)
  const socket = path.join(dir, 'late.sock')
  setTimeout(() => {
    const pong = async (conn) => {
      await conn.command()
      conn.write('PONG')
      conn.socket.end()
    }
    fake(t, pong, { socketPath: socket }).catch(() => {})
  }, 300).unref()
  const started = Date.now()
  // The fake answers PING on a fresh connection with a plain reply.
  const late = await fake(t, async (conn) => {
    await conn.command()
    conn.write('PONG')
    conn.socket.end()
  })
  void late
  assert.equal(await pompelmi.ready({ socket, timeout: 3000, interval: 100 }), true)
  assert.ok(Date.now() - started >= 250)
  await assert.rejects(pompelmi.ready({ socket: path.join(dir, 'never.sock'), timeout: 300, interval: 50 }), { code: 'ENOENT' })
})

test('inspect reports: verdict, virus names, reply, reason, endpoint, bytes, duration', async (t) => {
  const c = client(t, { port: clamd.port })
  const bad = await c.inspectBuffer(Buffer.concat([Buffer.from('prefix '), EICAR]))
  assert.deepEqual(Object.keys(bad).sort(), ['bytes', 'durationMs', 'endpoint', 'limit', 'reason', 'reply', 'verdict', 'viruses'])
  assert.equal(bad.limit, null)
  assert.equal(bad.verdict, Verdict.Malicious)
  assert.deepEqual(bad.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  assert.equal(bad.reply, 'stream: Eicar-Test-Signature.UNOFFICIAL FOUND')
  assert.equal(bad.reason, null)
  assert.equal(bad.endpoint, `tcp://127.0.0.1:${clamd.port}`)
  assert.equal(bad.bytes, EICAR.length + 7)
  assert.ok(bad.durationMs > 0 && bad.durationMs < 5000)
  const clean = await pompelmi.inspect(CLEAN_FILE, { port: clamd.port })
  assert.deepEqual([clean.verdict, clean.viruses, clean.reply, clean.reason], [Verdict.Clean, [], 'stream: OK', null])
  assert.equal(clean.bytes, fs.statSync(CLEAN_FILE).size)
  const s = await pompelmi.inspectStream(Readable.from([EICAR]), { socket: clamd.socket })
  assert.equal(s.endpoint, `unix:${clamd.socket}`)
  assert.deepEqual(s.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
})

test('inspect reason: size-limit for StreamMaxLength, clamd-error for other clamd errors', async (t) => {
  const big = await pompelmi.inspectBuffer(Buffer.alloc(2 * 1024 * 1024), { port: limited.port })
  assert.equal(big.verdict, Verdict.ScanError)
  assert.equal(big.reason, 'size-limit')
  assert.equal(big.reply, 'INSTREAM size limit exceeded. ERROR')
  const server = await fake(t, (conn) => serveSession(conn, () => "stream: Can't allocate memory ERROR"))
  const other = await pompelmi.inspectBuffer(Buffer.from('x'), { port: server.port })
  assert.deepEqual([other.verdict, other.reason], [Verdict.ScanError, 'clamd-error'])
})

test('inspect in local mode: endpoint "clamscan" and virus names from its output', async (t) => {
  const file = writeFile(tempDir(t), 'e.txt', EICAR)
  const r = await pompelmi.inspect(file, { database: SIGNATURES })
  assert.equal(r.verdict, Verdict.Malicious)
  assert.equal(r.endpoint, 'clamscan')
  assert.deepEqual(r.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  assert.equal(r.bytes, EICAR.length)
  const b = await pompelmi.inspectBuffer(Buffer.from('fine'), { database: SIGNATURES })
  assert.deepEqual([b.verdict, b.reason, b.bytes], [Verdict.Clean, null, 4])
})

test('top-level calls with the same options reuse one pooled session', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, likeClamd))
  for (let i = 0; i < 50; i++) {
    assert.equal(await pompelmi.scanBuffer(Buffer.from(`sequential ${i}`), { port: server.port }), Verdict.Clean)
  }
  assert.equal(server.connections, 1)
})

test('requests are pipelined (8 per session) and matched to out-of-order replies by id', async (t) => {
  let maxOutstanding = 0
  const server = await fake(t, async (conn) => {
    // Answer only once 8 requests are waiting on this connection, in reverse order.
    const batch = []
    for (let n = 0; ; n++) {
      const request = await conn.request(n)
      if (!request || request.name === 'END') return
      batch.push(request)
      maxOutstanding = Math.max(maxOutstanding, batch.length)
      if (batch.length === 8) {
        for (const r of batch.reverse()) conn.write(`${r.id}: ${likeClamd(r)}`)
        batch.length = 0
      }
    }
  })
  const c = client(t, { port: server.port, maxConnections: 1 })
  const payloads = Array.from({ length: 32 }, (_, i) => (i % 3 === 0 ? Buffer.concat([Buffer.from(`${i} `), EICAR]) : Buffer.from(`clean ${i}`)))
  const verdicts = await Promise.all(payloads.map((p) => c.scanBuffer(p)))
  assert.deepEqual(verdicts, payloads.map((_, i) => (i % 3 === 0 ? Verdict.Malicious : Verdict.Clean)))
  assert.equal(server.connections, 1)
  assert.equal(maxOutstanding, 8)
})

test('2000 concurrent scanBuffer calls against one real clamd all resolve correctly', async (t) => {
  const c = client(t, { port: clamd.port })
  const verdicts = await Promise.all(
    Array.from({ length: 2000 }, (_, i) => c.scanBuffer(i % 10 === 0 ? Buffer.concat([Buffer.from(`${i}`), EICAR]) : Buffer.from(`unique clean ${i}`))),
  )
  verdicts.forEach((v, i) => assert.equal(v, i % 10 === 0 ? Verdict.Malicious : Verdict.Clean, `call ${i}`))
})

test('maxConnections bounds connections per endpoint; excess calls queue', async (t) => {
  let open = 0
  let maxOpen = 0
  const server = await fake(t, (conn) => {
    open++
    maxOpen = Math.max(maxOpen, open)
    conn.socket.on('close', () => open--)
    return serveSession(conn, (r) => new Promise((resolve) => setTimeout(() => resolve(likeClamd(r)), 5)))
  })
  const c = client(t, { port: server.port, maxConnections: 3 })
  const verdicts = await Promise.all(Array.from({ length: 300 }, (_, i) => c.scanBuffer(Buffer.from(`q${i}`))))
  assert.ok(verdicts.every((v) => v === Verdict.Clean))
  assert.ok(maxOpen <= 3, `at most 3 connections (saw ${maxOpen})`)
})

test('a session broken after it worked is reopened and its unanswered requests replayed', async (t) => {
  const server = await fake(t, async (conn, index) => {
    if (index > 0) return serveSession(conn, likeClamd)
    // First session: answer two requests, then drop the connection with the rest unanswered.
    // Calls reach the session in any order, so each answer is decided from its own payload.
    const requests = []
    for (let n = 0; n < 6; n++) requests.push(await conn.request(n))
    for (const r of requests.slice(0, 2)) conn.write(`${r.id}: ${likeClamd(r)}`)
    setTimeout(() => conn.reset(), 20)
  })
  const c = client(t, { port: server.port, maxConnections: 1 })
  const payloads = Array.from({ length: 6 }, (_, i) => (i === 4 ? EICAR : Buffer.from(`p${i}`)))
  const verdicts = await Promise.all(payloads.map((p) => c.scanBuffer(p)))
  assert.deepEqual(verdicts, [Verdict.Clean, Verdict.Clean, Verdict.Clean, Verdict.Clean, Verdict.Malicious, Verdict.Clean])
  assert.equal(server.connections, 2)
})

test('FILDES: over a UNIX socket a regular file travels as a descriptor, not as bytes', async () => {
  const r = await pompelmi.inspect(MD5_SAMPLE, { socket: clamd.socket })
  assert.match(r.reply, /^fd\[\d+\]: Pompelmi\.Test\.Hash-MD5\.UNOFFICIAL FOUND$/)
  assert.equal(r.bytes, fs.statSync(MD5_SAMPLE).size)
  const streamed = await pompelmi.inspect(MD5_SAMPLE, { socket: clamd.socket, fdpass: false })
  assert.match(streamed.reply, /^stream: /)
  const tcp = await pompelmi.inspect(MD5_SAMPLE, { port: clamd.port })
  assert.match(tcp.reply, /^stream: /)
})

test('FILDES scans a file clamd itself cannot open by path', async (t) => {
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o700) // clamd runs as the clamav user: it cannot enter this directory
  const file = writeFile(dir, 'private.bin', Buffer.concat([Buffer.from('secret '), EICAR]))
  fs.chmodSync(file, 0o600)
  if (process.getuid() === 0) {
    // Shown: clamd's path-based SCAN of the same file is refused.
    const reply = await new Promise((resolve, reject) => {
      const s = net.connect(clamd.socket, () => s.end(`zSCAN ${file}\0`))
      let out = ''
      s.on('data', (d) => (out += d))
      s.on('end', () => resolve(out))
      s.on('error', reject)
    })
    assert.doesNotMatch(reply, /FOUND/)
  }
  const r = await pompelmi.inspect(file, { socket: clamd.socket })
  assert.equal(r.verdict, Verdict.Malicious)
  assert.match(r.reply, /^fd\[/)
})

test('non-regular files (/dev/null, a FIFO) over a UNIX socket use INSTREAM', async (t) => {
  const devnull = await pompelmi.inspect('/dev/null', { socket: clamd.socket })
  assert.deepEqual([devnull.verdict, devnull.reply], [Verdict.Clean, 'stream: OK'])
  const fifo = path.join(tempDir(t), 'pipe')
  execFileSync('mkfifo', [fifo])
  const writer = spawn('sh', ['-c', `printf '%s' "$0" > "$1"`, EICAR.toString(), fifo])
  const writerDone = new Promise((resolve) => writer.on('close', resolve))
  const r = await pompelmi.inspect(fifo, { socket: clamd.socket, timeout: 5000 })
  assert.equal(await writerDone, 0)
  assert.equal(r.verdict, Verdict.Malicious)
  assert.match(r.reply, /^stream: /)
})

test('a per-call timeout applies from when the request is sent', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, () => null))
  const c = client(t, { port: server.port, timeout: 10_000 })
  const started = Date.now()
  await assert.rejects(c.scanBuffer(Buffer.from('x'), { timeout: 150 }), { message: 'clamd connection timed out after 150ms', code: 'ETIMEDOUT' })
  assert.ok(Date.now() - started < 1000)
})

test('abort: an AbortSignal rejects with AbortError within 100 ms, queued calls are removed', async (t) => {
  const seen = []
  const server = await fake(t, (conn) => serveSession(conn, (r) => (seen.push(r.payload.toString()), null)))
  const c = client(t, { port: server.port, maxConnections: 1, timeout: 300 })
  const controller = new AbortController()
  // 8 fill the only session; the next 12 wait in the queue.
  const calls = Array.from({ length: 20 }, (_, i) => c.scanBuffer(Buffer.from(`call ${i}`), { signal: controller.signal }))
  await new Promise((r) => setTimeout(r, 100))
  const started = Date.now()
  controller.abort()
  const results = await Promise.allSettled(calls)
  assert.ok(Date.now() - started < 100, `rejected after ${Date.now() - started} ms`)
  for (const r of results) {
    assert.equal(r.status, 'rejected')
    assert.equal(r.reason.name, 'AbortError')
    assert.equal(r.reason.code, 'ABORT_ERR')
  }
  // Requests still queued when the signal fired are never sent. The 8 sent ones keep their slots
  // while clamd may still work on them, for at most the idle timeout: then the session is
  // dropped and a new call goes out.
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(seen.length, 8, 'only the 8 already sent reached clamd')
  await assert.rejects(c.scanBuffer(Buffer.from('after')), /timed out after 300ms/)
  assert.equal(seen.length, 9)
  assert.equal(seen.at(-1), 'after')
})

test('abort: an already aborted signal rejects before connecting', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, likeClamd))
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { port: server.port, signal: AbortSignal.abort() }), { name: 'AbortError' })
  await assert.rejects(pompelmi.scan(CLEAN_FILE, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  assert.equal(server.connections, 0)
})

test('abort during an upload closes the connection', async (t) => {
  let closed = false
  const server = await fake(t, (conn) => {
    conn.socket.on('close', () => (closed = true))
    return serveSession(conn, likeClamd)
  })
  const controller = new AbortController()
  const endless = new Readable({
    read() {
      setTimeout(() => this.push(Buffer.alloc(1024, 1)), 5)
    },
  })
  const p = pompelmi.scanStream(endless, { port: server.port, signal: controller.signal })
  await new Promise((r) => setTimeout(r, 100))
  controller.abort()
  await assert.rejects(p, { name: 'AbortError' })
  for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(closed, true)
})

test('abort in local mode kills clamscan', async (t) => {
  const bin = path.join(tempDir(t), 'bin')
  fs.mkdirSync(bin)
  const marker = path.join(bin, 'killed')
  fs.writeFileSync(path.join(bin, 'clamscan'), `#!/bin/sh\ntrap 'touch ${marker}; exit 143' TERM\nsleep 10 & wait\n`, { mode: 0o755 })
  const before = process.env.PATH
  process.env.PATH = `${bin}${path.delimiter}${before}`
  t.after(() => (process.env.PATH = before))
  const controller = new AbortController()
  const p = pompelmi.scan(CLEAN_FILE, { signal: controller.signal })
  await new Promise((r) => setTimeout(r, 200))
  controller.abort()
  await assert.rejects(p, { name: 'AbortError' })
  for (let i = 0; i < 100 && !fs.existsSync(marker); i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(fs.existsSync(marker), 'clamscan received SIGTERM')
})

test('close() rejects calls in flight, releases connections, and later calls reject', async (t) => {
  let closedConnections = 0
  const server = await fake(t, (conn) => {
    conn.socket.on('close', () => closedConnections++)
    return serveSession(conn, () => null)
  })
  const c = createClient({ port: server.port })
  const inflight = Promise.allSettled([c.scanBuffer(Buffer.from('a')), c.scanBuffer(Buffer.from('b'))])
  await new Promise((r) => setTimeout(r, 100))
  await c.close()
  for (const r of await inflight) {
    assert.equal(r.status, 'rejected')
    assert.equal(r.reason.code, 'ERR_CLIENT_CLOSED')
  }
  for (let i = 0; i < 100 && closedConnections < server.connections; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(closedConnections, server.connections)
  await assert.rejects(c.scanBuffer(Buffer.from('c')), { message: 'Client closed' })
})

test('createPool: pompelmi 1.x pool API on real sessions', async (t) => {
  const pool = createPool({ port: clamd.port, size: 2 })
  t.after(() => pool.destroy())
  for (const m of ['scan', 'scanBuffer', 'scanStream', 'destroy']) assert.equal(typeof pool[m], 'function')
  assert.equal(await pool.scanBuffer(Buffer.from('fine')), Verdict.Clean)
  assert.equal(await pool.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await pool.scan(CLEAN_FILE), Verdict.Clean)
  assert.equal(await pool.scanStream(Readable.from([EICAR])), Verdict.Malicious)
  await assert.rejects(pool.scan('/nope'), { message: 'File not found: /nope' })
  await assert.rejects(pool.scan(42), { message: 'filePath must be a string' })
})

test('createPool.destroy() rejects queued and in-flight calls with "Pool destroyed"', async (t) => {
  let open = 0
  const server = await fake(t, (conn) => {
    open++
    conn.socket.on('close', () => open--)
    return serveSession(conn, () => null)
  })
  const pool = createPool({ port: server.port, size: 1 })
  const calls = Promise.allSettled(Array.from({ length: 12 }, (_, i) => pool.scanBuffer(Buffer.from(`x${i}`)))) // 8 in flight, 4 queued
  await new Promise((r) => setTimeout(r, 100))
  const destroyed = pool.destroy()
  assert.ok(destroyed instanceof Promise)
  await destroyed
  for (let i = 0; i < 100 && open > 0; i++) await new Promise((r) => setTimeout(r, 10)) // the fake sees the close a tick later
  assert.equal(open, 0, 'every connection is closed once destroy() resolves')
  for (const r of await calls) {
    assert.equal(r.status, 'rejected')
    assert.equal(r.reason.message, 'Pool destroyed')
  }
  await assert.rejects(pool.scanBuffer(Buffer.from('late')), { message: 'Pool destroyed' })
})

test('bad call options reject clearly', async (t) => {
  const c = client(t, { port: clamd.port })
  await assert.rejects(c.scanBuffer(Buffer.from('x'), { signal: 'nope' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(c.scanBuffer(Buffer.from('x'), { timeout: -1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => createClient({ endpoints: [] }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => createClient({ endpoints: ['ftp://x'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(createClient().ping(), { code: 'ERR_NO_CLAMD' })
})

test('more distinct top-level option sets than shared clients: calls in flight are never cut off', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, (r) => new Promise((resolve) => setTimeout(() => resolve(likeClamd(r)), 100))))
  // 80 option sets (distinct timeouts) → 80 shared clients, more than the 64 kept.
  const verdicts = await Promise.all(Array.from({ length: 80 }, (_, i) => pompelmi.scanBuffer(Buffer.from(`x${i}`), { port: server.port, timeout: 5000 + i })))
  assert.ok(verdicts.every((v) => v === Verdict.Clean))
})

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

test('queueTimeout: 2000 calls queued on a clamd that never answers all settle within the deadline', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, () => null))
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
  const server = await fake(t, async (conn) => {
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

test('ping() and ready() reject against an HTTP server on the port (PONG exactly)', async (t) => {
  const port = await serve(t, (req, res) => res.end('PONG'))
  await assert.rejects(pompelmi.ping({ port }), { code: 'ERR_CLAMD_PROTOCOL', message: /not clamd/ })
  await assert.rejects(pompelmi.ready({ port, timeout: 400, interval: 50 }), { code: 'ERR_CLAMD_PROTOCOL' })
  assert.equal(await pompelmi.ping(TCP), true)
})

test('an idle session is ended 5 s after its last answer, also after a slow reply', async (t) => {
  let ended = null
  let answeredAt = null
  const server = await fake(t, async (conn) => {
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

test('maxConnectionAge: an old connection takes no new request; under load against a real clamd every verdict holds', async (t) => {
  // Counting connections needs the server's side: a fake clamd that answers like clamd.
  const server = await fake(t, (conn) => serveSession(conn, (req) => (req.name === 'INSTREAM' ? (req.payload.includes(EICAR) ? 'stream: Eicar-Test-Signature FOUND' : 'stream: OK') : null)))
  const young = client(t, { port: server.port, maxConnectionAge: 150, maxConnections: 1 })
  assert.equal(await young.scanBuffer(Buffer.from('one')), Verdict.Clean)
  assert.equal(await young.scanBuffer(Buffer.from('two')), Verdict.Clean)
  assert.equal(server.connections, 1)
  await new Promise((r) => setTimeout(r, 250))
  assert.equal(await young.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(server.connections, 2, 'the old session was retired, a new one opened')
  // The real clamd, connections aging out every 20 ms while 400 scans run 16 at a time.
  const c = client(t, { socket: clamd.socket, maxConnectionAge: 20 })
  let next = 0
  const wrong = []
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < 400) {
        const i = next++
        const bad = i % 7 === 0
        const v = await c.scanBuffer(bad ? Buffer.concat([Buffer.from(`${i}`), EICAR]) : Buffer.from(`clean ${i}`))
        if (v !== (bad ? Verdict.Malicious : Verdict.Clean)) wrong.push(i)
      }
    }),
  )
  assert.deepEqual(wrong, [])
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { port: 1, maxConnectionAge: -1 }), { code: 'ERR_INVALID_ARG_VALUE' })
})
