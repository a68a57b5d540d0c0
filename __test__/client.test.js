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
const { startClamd, SIGNATURES } = require('./helpers/clamd.js')
const { fakeClamd: fake, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const limited = startClamd('limit')


function client(t, options) {
  const c = createClient(options)
  t.after(() => c.close())
  return c
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
