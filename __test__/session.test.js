'use strict'
// The session layer against a fake clamd that does not behave exactly like today's clamd: a
// restart right after accept, an early reply on an open connection, unnumbered replies, a clean
// reply before the upload was complete or of the wrong kind, and siblings of a request that
// timed out or was aborted. None of these may ever resolve Clean.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Readable } = require('node:stream')

const { createClient, Verdict } = require('..')
const { startFakeClamd, fakeClamd: fake, serveSession } = require('./helpers/fake-clamd.js')
const { client } = require('./helpers/clamd.js')
const { CLEAN_FILE, tempDir, writeFile } = require('./helpers/samples.js')


const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('a session that breaks before answering anything is reopened once and its request replayed', async (t) => {
  const server = await fake(t, async (conn, index) => {
    // Accepted, then gone, as when clamd restarts right after accept.
    if (index === 0) return (await conn.request(0), conn.socket.destroy())
    return serveSession(conn, () => 'stream: OK')
  })
  const c = client(t, { port: server.port, maxConnections: 1 })
  assert.equal(await c.scanBuffer(Buffer.from('a')), Verdict.Clean)
  assert.equal(server.connections, 2)
})

test('a session that breaks twice rejects (one replay only), never Clean', async (t) => {
  const server = await fake(t, async (conn) => (await conn.request(0), conn.socket.destroy()))
  const c = client(t, { port: server.port })
  await assert.rejects(c.scanBuffer(Buffer.from('a')), { code: 'ECONNRESET' })
  assert.equal(server.connections, 2)
})

test('an early reply on a connection left open stops the upload; the session\'s other request goes to a new one', async (t) => {
  const big = Buffer.alloc(128 * 1024 * 1024, 1)
  let first
  const server = await fake(t, async (conn, index) => {
    if (index > 0) return serveSession(conn, () => 'stream: OK')
    first = conn
    // Request 1 is left unanswered; request 2 is refused early, and the fake goes on reading.
    await conn.until(() => conn.commands.length >= 2 && conn.bytes > 256 * 1024)
    conn.answer(2, 'INSTREAM size limit exceeded. ERROR')
  })
  const c = client(t, { port: server.port, maxConnections: 1, maxFileSize: 0 })
  const small = c.inspectBuffer(Buffer.from('small'))
  const large = await c.inspectBuffer(big)
  assert.equal(large.verdict, Verdict.ScanError)
  assert.equal(large.reason, 'size-limit')
  assert.ok(large.bytes > 0 && large.bytes < big.length, `bytes ${large.bytes}`)
  assert.equal((await small).verdict, Verdict.Clean, 'the other request was replayed on a new session')
  await first.until(() => false) // until the client closed that connection
  assert.ok(first.bytes < big.length / 2, `the rest was not uploaded (${first.bytes} bytes of ${big.length})`)
  assert.equal(first.requests.filter((r) => r.id === 2).length, 0, 'the refused upload was never completed')
})

test('an unnumbered error with one request outstanding is that request\'s ScanError', async () => {
  for (const [text, reason] of [
    ['INSTREAM size limit exceeded. ERROR', 'size-limit'],
    ['COMMAND READ TIMED OUT', 'clamd-error'],
  ]) {
    const server = await startFakeClamd(async (conn) => {
      await conn.request(0)
      conn.write(text)
      conn.socket.end()
    })
    const report = await createClient({ port: server.port })
      .inspectBuffer(Buffer.from('x'))
      .finally(() => server.close())
    assert.deepEqual([report.verdict, report.reason, report.reply], [Verdict.ScanError, reason, text])
    assert.equal(server.connections, 1)
  }
})

test('an unnumbered reply with two requests outstanding breaks the session; both are replayed', async (t) => {
  const server = await fake(t, async (conn, index) => {
    if (index > 0) return serveSession(conn, () => 'stream: OK')
    await conn.request(1)
    conn.write('COMMAND READ TIMED OUT')
  })
  const c = client(t, { port: server.port, maxConnections: 1 })
  const verdicts = await Promise.all([c.scanBuffer(Buffer.from('a')), c.scanBuffer(Buffer.from('b'))])
  assert.deepEqual(verdicts, [Verdict.Clean, Verdict.Clean])
  assert.equal(server.connections, 2)
})

test('a clean reply before the upload was complete rejects ERR_CLAMD_PROTOCOL (clamd cannot have scanned it)', async (t) => {
  const server = await fake(t, async (conn) => {
    await conn.until(() => conn.bytes > 128 * 1024)
    conn.socket.pause() // the client cannot finish the upload meanwhile
    conn.answer(1, 'stream: OK')
  })
  const c = client(t, { port: server.port })
  await assert.rejects(c.scanBuffer(Buffer.alloc(64 * 1024 * 1024, 2)), {
    code: 'ERR_CLAMD_PROTOCOL',
    message: 'clamd answered before the upload was complete',
  })
  assert.equal(server.connections, 1, 'not replayed: clamd answered')
})

test('FILDES: only fd[N]: OK is Clean; stream: OK for a descriptor is a ScanError', async (t) => {
  const socketPath = path.join(tempDir(t), 'fake.sock')
  let reply = 'fd[9]: OK'
  const server = await fake(t, (conn) => serveSession(conn, (r) => (r.name === 'FILDES' ? reply : 'stream: OK')), { socketPath })
  const c = client(t, { socket: server.socket })
  assert.equal(await c.scan(CLEAN_FILE), Verdict.Clean)
  reply = 'stream: OK'
  const report = await c.inspect(CLEAN_FILE)
  assert.deepEqual([report.verdict, report.reason], [Verdict.ScanError, 'unexpected-reply'])
})

test('when a request times out, the other requests of its session are replayed, not rejected', async (t) => {
  const server = await fake(t, (conn, index) => serveSession(conn, () => (index === 0 ? null : 'stream: OK')))
  const c = client(t, { port: server.port, maxConnections: 1 })
  const other = c.scanBuffer(Buffer.from('b'), { timeout: 10_000 })
  const timedOut = c.scanBuffer(Buffer.from('a'), { timeout: 300 })
  await assert.rejects(timedOut, { code: 'ETIMEDOUT' })
  assert.equal(await other, Verdict.Clean)
})

test('when a request is aborted mid-upload, the other requests of its session are replayed, not rejected', async (t) => {
  let first
  const server = await fake(t, (conn, index) => {
    if (index === 0) first = conn
    return serveSession(conn, () => (index === 0 ? null : 'stream: OK'))
  })
  const c = client(t, { port: server.port, maxConnections: 1 })
  const other = c.scanBuffer(Buffer.from('b'))
  while (!first) await sleep(5)
  await first.until(() => first.requests.length === 1)
  const ac = new AbortController()
  const stalled = new Readable({ read() {} })
  stalled.push(Buffer.alloc(100 * 1024, 4)) // the start of an upload that never ends
  const aborted = c.scanStream(stalled, { signal: ac.signal })
  await first.until(() => first.commands.length === 2 && first.bytes > 64 * 1024)
  ac.abort()
  await assert.rejects(aborted, { name: 'AbortError', code: 'ABORT_ERR' })
  assert.equal(await other, Verdict.Clean)
})

test('a stream that can no longer be replayed rejects with a code when a sibling ends its session', async (t) => {
  const server = await fake(t, (conn) => serveSession(conn, () => null))
  const c = client(t, { port: server.port, maxConnections: 1 })
  // 512 KiB: past the 256 KiB kept for a replay.
  const stream = c.scanStream(Readable.from([Buffer.alloc(512 * 1024, 3)]), { timeout: 10_000 })
  const streamed = stream.then(
    () => assert.fail('resolved'),
    (err) => err,
  )
  await sleep(200)
  const timedOut = c.scanBuffer(Buffer.from('a'), { timeout: 200 })
  await assert.rejects(timedOut, { code: 'ETIMEDOUT' })
  const err = await streamed
  assert.deepEqual([err.code, err.message], ['ERR_CLAMD_SESSION_CLOSED', 'clamd session closed'])
})

test('scanDirectory.stream scans `concurrency` files at once', async (t) => {
  const dir = tempDir(t)
  for (let i = 0; i < 24; i++) writeFile(dir, `f${String(i).padStart(2, '0')}.bin`, Buffer.alloc(1024, i))
  let inFlight = 0
  let most = 0
  const server = await fake(t, (conn) =>
    serveSession(conn, async () => {
      most = Math.max(most, ++inFlight)
      await sleep(30)
      inFlight--
      return 'stream: OK'
    }),
  )
  const { scanDirectory } = require('..')
  for (const [concurrency, expected] of [
    [1, 1],
    [8, 8],
  ]) {
    most = 0
    const events = []
    for await (const e of scanDirectory.stream(dir, { port: server.port, concurrency })) events.push(e)
    assert.equal(most, expected, `concurrency ${concurrency}: at most ${most} scans at once`)
    const results = events.filter((e) => e.type === 'result')
    assert.equal(results.length, 24)
    assert.ok(results.every((e) => e.verdict === Verdict.Clean))
    assert.deepEqual(
      events.filter((e) => e.type === 'progress').map((e) => e.scanned),
      Array.from({ length: 24 }, (_, i) => i + 1),
    )
    assert.equal(events.at(-1).summary.clean.length, 24)
  }
})
