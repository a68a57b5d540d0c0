'use strict'
// Tracing, metrics and health against real clamd instances: the `pompelmi:scan` TracingChannel's
// context, the endpoint channels (down when a clamd is unreachable, up when it comes back,
// failover, retry), client.metrics(), and pompelmi/prometheus on the real prom-client, scraped as
// text. A fake clamd only for a VERSION with a signature date (the private clamd's test
// signatures have none).
const test = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const client = require('prom-client')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { register } = require('pompelmi/prometheus')
const { startClamd, stopClamd, client: testClient } = require('./helpers/clamd.js')
const { fakeClamd, closedPort, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, CLEAN_FILE } = require('./helpers/samples.js')

const clamd = startClamd('main')
const UNIX = `unix:${clamd.socket}`

/** Collects what the channels publish while `fn` runs. */
async function watching(fn) {
  const seen = []
  const trace = {
    start: (c) => seen.push(['start', c.kind]),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (c) => seen.push(['asyncEnd', { ...c }]),
    error: (c) => seen.push(['error', c.error.code]),
  }
  const listeners = {
    'pompelmi:endpoint:down': (m) => seen.push(['down', m.endpoint, m.error.code]),
    'pompelmi:endpoint:up': (m) => seen.push(['up', m.endpoint]),
    'pompelmi:failover': (m) => seen.push(['failover', m.from, m.to]),
    'pompelmi:retry': (m) => seen.push(['retry', m.endpoint, m.attempt, m.error.code]),
  }
  dc.tracingChannel('pompelmi:scan').subscribe(trace)
  for (const [name, fn] of Object.entries(listeners)) dc.subscribe(name, fn)
  try {
    await fn(seen)
  } finally {
    dc.tracingChannel('pompelmi:scan').unsubscribe(trace)
    for (const [name, fn] of Object.entries(listeners)) dc.unsubscribe(name, fn)
  }
  return seen
}

test('pompelmi:scan: one trace per call, its context filled in (kind, endpoint, bytes, verdict, viruses, attempt)', async (t) => {
  const c = testClient(t, { socket: clamd.socket })
  const seen = await watching(async () => {
    assert.equal(await c.scanBuffer(EICAR), Verdict.Malicious)
    assert.equal((await c.inspect(CLEAN_FILE)).verdict, Verdict.Clean)
    assert.equal(await pompelmi.scanStream([Buffer.from('stream bytes')], { socket: clamd.socket }), Verdict.Clean)
    assert.equal(await c.scanBuffer(Buffer.alloc(64), { signal: AbortSignal.timeout(10_000) }), Verdict.Clean)
  })
  const ends = seen.filter(([k]) => k === 'asyncEnd').map(([, c]) => c)
  assert.deepEqual(
    seen.filter(([k]) => k === 'start'),
    [
      ['start', 'buffer'],
      ['start', 'file'],
      ['start', 'stream'],
      ['start', 'buffer'],
    ],
  )
  assert.deepEqual(
    ends.map((c) => [c.kind, c.endpoint, c.bytes, c.verdict, c.reason, c.viruses, c.attempt]),
    [
      ['buffer', UNIX, EICAR.length, Verdict.Malicious, null, ['Eicar-Test-Signature.UNOFFICIAL'], 1],
      ['file', UNIX, require('node:fs').statSync(CLEAN_FILE).size, Verdict.Clean, null, [], 1],
      ['stream', UNIX, 12, Verdict.Clean, null, [], 1],
      ['buffer', UNIX, 64, Verdict.Clean, null, [], 1],
    ],
  )
  for (const c of ends) assert.ok(c.durationMs > 0)
})

test('pompelmi:endpoint:connect: one message per connection opened, from sessions and commands alike', async (t) => {
  const connects = []
  const onConnect = (m) => connects.push(m.endpoint)
  dc.subscribe('pompelmi:endpoint:connect', onConnect)
  t.after(() => dc.unsubscribe('pompelmi:endpoint:connect', onConnect))
  const c = testClient(t, { socket: clamd.socket })
  // One after another: one session carries them all.
  for (let i = 0; i < 3; i++) assert.equal(await c.scanBuffer(Buffer.from(`one session ${i}`)), Verdict.Clean)
  const settle = async (n) => {
    for (let i = 0; i < 100 && connects.length < n; i++) await new Promise((r) => setTimeout(r, 10))
    await new Promise((r) => setTimeout(r, 50))
  }
  await settle(1)
  assert.deepEqual(connects, [UNIX])
  // A command opens a connection of its own.
  assert.equal(await c.ping(), true)
  await settle(2)
  assert.deepEqual(connects, [UNIX, UNIX])
})

test('endpoint channels: down with its error, failover to the next endpoint, retry rounds, up when clamd is back', async (t) => {
  const dead = await closedPort()
  const c = testClient(t, { endpoints: [`tcp://127.0.0.1:${dead}`, UNIX], retryDelay: 10 })
  const failover = await watching(async () => {
    assert.equal(await c.scanBuffer(EICAR), Verdict.Malicious)
  })
  assert.deepEqual(
    failover.filter(([k]) => k !== 'start' && k !== 'asyncEnd'),
    [
      ['down', `tcp://127.0.0.1:${dead}`, 'ECONNREFUSED'],
      ['failover', `tcp://127.0.0.1:${dead}`, UNIX],
    ],
  )
  assert.equal(failover.find(([k]) => k === 'asyncEnd')[1].attempt, 2)
  const retries = await watching(async () => {
    await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { port: dead, retries: 2, retryDelay: 10 }), { code: 'ECONNREFUSED' })
  })
  assert.deepEqual(
    retries.filter(([k]) => k === 'retry'),
    [
      ['retry', `tcp://127.0.0.1:${dead}`, 1, 'ECONNREFUSED'],
      ['retry', `tcp://127.0.0.1:${dead}`, 2, 'ECONNREFUSED'],
    ],
  )
  assert.deepEqual(retries.filter(([k]) => k === 'error'), [['error', 'ECONNREFUSED']])
  // A real clamd that is not running yet: down; started: up (the PING probe finds it back).
  stopClamd('tee')
  const later = startClamd('tee')
  stopClamd('tee')
  t.after(() => stopClamd('tee'))
  const back = await watching(async (seen) => {
    const watched = testClient(t, { port: later.port, retries: 0 })
    await assert.rejects(watched.scanBuffer(Buffer.from('x')), { code: 'ECONNREFUSED' })
    assert.equal(watched.metrics().endpoints[0].state, 'down')
    startClamd('tee')
    for (let i = 0; i < 100 && !seen.some(([k]) => k === 'up'); i++) await new Promise((r) => setTimeout(r, 100))
    assert.equal(watched.metrics().endpoints[0].state, 'up')
    assert.equal(await watched.scanBuffer(EICAR), Verdict.Malicious)
  })
  const name = `tcp://127.0.0.1:${later.port}`
  assert.deepEqual(
    back.filter(([k]) => k === 'down' || k === 'up'),
    [
      ['down', name, 'ECONNREFUSED'],
      ['up', name],
    ],
  )
})

test('client.metrics(): counts by verdict and reason, bytes, a latency histogram, endpoint states and clamd version', async (t) => {
  const c = testClient(t, { socket: clamd.socket, maxFileSize: 1024 })
  await c.scanBuffer(EICAR)
  await c.scanBuffer(Buffer.from('clean'))
  await c.scanBuffer(Buffer.alloc(2048)) // over maxFileSize: ScanError too-large, nothing sent
  await c.scanStream([Buffer.alloc(100)])
  const m = c.metrics()
  assert.deepEqual(m.scans, {
    clean: 2,
    malicious: 1,
    scanError: 1,
    failed: 0,
    byReason: { 'size-limit': 0, 'too-large': 1, 'limits-exceeded': 0, 'clamd-error': 0, 'unexpected-reply': 0 },
  })
  assert.equal(m.bytes, EICAR.length + 5 + 100)
  assert.equal(m.latency.count, 4)
  assert.equal(m.latency.counts.reduce((a, b) => a + b), 4)
  assert.equal(m.latency.counts.length, m.latency.boundsMs.length + 1)
  assert.ok(m.latency.sumMs > 0)
  assert.deepEqual(
    m.endpoints.map((e) => [e.endpoint, e.state, e.inFlight, e.queued]),
    [[UNIX, 'up', 0, 0]],
  )
  for (let i = 0; i < 50 && !c.metrics().endpoints[0].version; i++) await new Promise((r) => setTimeout(r, 20))
  assert.match(c.metrics().endpoints[0].version, /^ClamAV \d+\.\d+/)
  const failing = testClient(t, { port: await closedPort(), retries: 0 })
  await assert.rejects(failing.scanBuffer(Buffer.from('x')))
  assert.equal(failing.metrics().scans.failed, 1)
  assert.equal(testClient(t, {}).metrics(), null, 'local mode has no clamd to report on')
  const pool = pompelmi.createPool({ socket: clamd.socket, size: 1 })
  t.after(() => pool.destroy())
  await pool.scanBuffer(EICAR)
  assert.equal(pool.metrics().scans.malicious, 1)
})

test('signature database date from VERSION (a fake clamd that has one)', async (t) => {
  const fake = await fakeClamd(t, async (conn) => {
    if ((await conn.command()) === 'VERSION') conn.reply('ClamAV 1.4.6/27400/Tue Oct  1 08:34:31 2024')
  })
  const c = testClient(t, { port: fake.port })
  c.metrics()
  for (let i = 0; i < 50 && !c.metrics().endpoints[0].databaseDate; i++) await new Promise((r) => setTimeout(r, 20))
  const [e] = c.metrics().endpoints
  assert.equal(e.databaseVersion, 27400)
  assert.equal(new Date(e.databaseDate).getTime(), new Date('Tue Oct  1 08:34:31 2024').getTime())
})

test('pompelmi/prometheus on the real prom-client: scraped as text', async (t) => {
  // Its VERSION names a database an hour old; it answers scans like clamd (EICAR found).
  const fake = await fakeClamd(t, async (conn) => {
    if ((await conn.command()) === 'VERSION') return conn.reply(`ClamAV 1.4.6/27400/${new Date(Date.now() - 3600_000).toString().slice(0, 24)}`)
    return serveSession(conn, (req) => (req.name !== 'INSTREAM' ? null : req.payload.includes(EICAR) ? 'stream: Eicar-Test-Signature.UNOFFICIAL FOUND' : 'stream: OK'))
  })
  const registry = new client.Registry()
  const c = testClient(t, { endpoints: [UNIX, `tcp://127.0.0.1:${fake.port}`] })
  assert.deepEqual(register(registry, c).length, 7)
  await c.scanBuffer(EICAR)
  await c.scanBuffer(Buffer.from('fine'))
  c.metrics()
  await new Promise((r) => setTimeout(r, 200))
  const text = await registry.metrics()
  const line = (re) => {
    const found = text.split('\n').find((l) => re.test(l))
    assert.ok(found, `${re} in\n${text}`)
    return Number(found.split(' ').pop())
  }
  assert.equal(line(/^pompelmi_scans_total\{verdict="malicious"\}/), 1)
  assert.ok(line(/^pompelmi_scans_total\{verdict="clean"\}/) >= 1)
  assert.equal(line(/^pompelmi_scans_total\{verdict="scan_error",reason="too-large"\}/), 0)
  assert.equal(line(/^pompelmi_scan_duration_seconds_count/), 2)
  assert.equal(line(/^pompelmi_scan_duration_seconds_bucket\{le="\+Inf"\}/), 2)
  assert.ok(line(/^pompelmi_payload_bytes_total/) >= EICAR.length)
  assert.equal(line(new RegExp(`^pompelmi_endpoint_up\\{endpoint="${UNIX}"\\}`)), 1)
  assert.equal(line(/^pompelmi_endpoint_in_flight\{endpoint="unix:/), 0)
  const age = line(/^pompelmi_signature_age_seconds\{endpoint="tcp:/)
  assert.ok(age > 3500 && age < 3700, `about an hour: ${age}`)
  assert.match(text, /# TYPE pompelmi_scan_duration_seconds histogram/)
  // Without a client: the top-level functions' clients.
  const global = new client.Registry()
  register(global)
  await pompelmi.scanBuffer(EICAR, { socket: clamd.socket, timeout: 12345 })
  assert.ok(/pompelmi_scans_total\{verdict="malicious"\} [1-9]/.test(await global.metrics()))
  assert.throws(() => register({}), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('no subscriber, no cost: without listeners nothing is published, and require() does not load node:diagnostics_channel', () => {
  const script = `
    const before = process.moduleLoadList.filter((m) => m.includes('diagnostics_channel')).length
    require(${JSON.stringify(path.join(__dirname, '..'))})
    console.log(JSON.stringify({ before, after: process.moduleLoadList.filter((m) => m.includes('diagnostics_channel')).length }))`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  const { before, after } = JSON.parse(r.stdout)
  assert.equal(after, before, 'require() loads no diagnostics_channel module of its own')
  assert.equal(dc.tracingChannel('pompelmi:scan').hasSubscribers, false)
})
