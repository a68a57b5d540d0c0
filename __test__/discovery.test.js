'use strict'
// Discovery of clamd replicas through DNS, against real processes: a dnsmasq on loopback answers
// names with 127.0.0.2…127.0.0.5 and ::1, each address with its own real clamd on one shared
// port (as the pods behind a headless Service). Under load: traffic spreads over every address,
// a new one takes work, a vanished one drains without losing a scan, a killed one is marked down
// and comes back when restarted.
const test = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { createClient, Verdict } = pompelmi
const { startClamd, stopClamd } = require('./helpers/clamd.js')
const { EICAR } = require('./helpers/samples.js')
const { startDns } = require('./helpers/dns.js')
const { makeCertificates, startStunnel } = require('./helpers/tls.js')
const { pickPort } = require('../scripts/ports.js')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const REPLICAS = { dns2: '127.0.0.2', dns3: '127.0.0.3', dns4: '127.0.0.4', dns5: '127.0.0.5', dns6: '::1' }
const name = (ip, port) => (ip.includes(':') ? `tcp://[${ip}]:${port}` : `tcp://${ip}:${port}`)

let port
let dns
const started = []
function startReplica(replica) {
  started.push(replica)
  return startClamd(replica, '--stream-max-length', '1G', '--tcp-addr', REPLICAS[replica], '--port', String(port))
}

let mainPort
test.before(async () => {
  port = await pickPort('clamd')
  for (const replica of Object.keys(REPLICAS)) startReplica(replica)
  mainPort = startClamd('main').port
  // SRV: two targets on the replicas' port, one on the main clamd's own port.
  const srv = [
    ['_clamd._tcp.srv.test', 'a.srv.test', port],
    ['_clamd._tcp.srv.test', 'b.srv.test', port],
    ['_clamd._tcp.srv.test', 'main.srv.test', mainPort],
  ]
  dns = await startDns({ 'clamd.test': ['127.0.0.2', '127.0.0.3', '127.0.0.4'] }, { srv })
})
test.after(() => {
  for (const replica of new Set(started)) stopClamd(replica)
})

/** Messages published on a diagnostics channel while the test runs. */
function listen(t, channel) {
  const seen = []
  const onMessage = (m) => seen.push({ ...m, at: Date.now() })
  dc.subscribe(channel, onMessage)
  t.after(() => dc.unsubscribe(channel, onMessage))
  return seen
}

async function until(condition, what, ms = 15000) {
  const end = Date.now() + ms
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/**
 * Scans without pause on `workers` workers until `stop()`: unique clean buffers, EICAR buffers
 * and streams. Every call is recorded with when it started, where it went and how it ended.
 */
function load(client, workers = 16) {
  const calls = []
  let running = true
  let n = 0
  const worker = async () => {
    while (running) {
      const i = n++
      const bad = i % 7 === 0
      const startedAt = Date.now()
      const body = bad ? Buffer.concat([Buffer.from(`${i} `), EICAR]) : Buffer.from(`clean upload ${i} ${Math.random()}`)
      const call = { startedAt, expected: bad ? Verdict.Malicious : Verdict.Clean }
      calls.push(call)
      try {
        const report = i % 3 === 2 ? await client.inspectStream(Readable.from([body])) : await client.inspectBuffer(body)
        Object.assign(call, { endpoint: report.endpoint, verdict: report.verdict })
      } catch (err) {
        call.error = err
        if (err.code === 'ERR_CLIENT_CLOSED') running = false // the test ended early
        await sleep(1) // a failing call must not spin the loop
      }
    }
  }
  const all = Array.from({ length: workers }, worker)
  return {
    calls,
    since: (t) => calls.filter((c) => c.startedAt >= t && c.endpoint),
    async stop() {
      running = false
      await Promise.all(all)
      return calls
    },
  }
}

/** The endpoints a client's metrics list, sorted. */
const endpointNames = (client) =>
  client
    .metrics()
    .endpoints.map((e) => e.endpoint)
    .sort()

const share = (calls, endpoint) => calls.filter((c) => c.endpoint === endpoint).length / Math.max(1, calls.length)

test('options: dns+tcp:// and { discover: true } are TCP endpoints to discover; misuse is rejected with a code', () => {
  for (const options of [
    { endpoints: ['dns+tcp://clamd.test:3310'] },
    { endpoints: ['dns+tls://clamd.test:3310'] },
    { endpoints: [{ host: 'clamd.test', port: 3310, discover: true }], resolver: ['127.0.0.1:53', '[::1]:5353'], discoverInterval: 5000 },
    { host: 'clamd.test', port: 3310, discover: true },
  ]) {
    assert.doesNotThrow(() => createClient(options).close(), JSON.stringify(options))
  }
  for (const [options, option] of [
    [{ endpoints: [{ socket: '/tmp/clamd.sock', discover: true }] }, 'discover'],
    [{ socket: '/tmp/clamd.sock', discover: true }, 'discover'],
    [{ discover: true }, 'discover'],
    [{ host: 'clamd.test', discover: 'yes' }, 'discover'],
    [{ host: 'clamd.test', discover: true, resolver: '127.0.0.1:53' }, 'resolver'],
    [{ host: 'clamd.test', discover: true, resolver: ['clamd.test:53'] }, 'resolver'],
    [{ host: 'clamd.test', discover: true, resolver: ['127.0.0.1'] }, 'resolver'],
    [{ host: 'clamd.test', discover: true, resolver: [] }, 'resolver'],
    [{ host: 'clamd.test', discover: true, discoverInterval: 10 }, 'discoverInterval'],
    [{ endpoints: ['dns+unix:/tmp/x'] }, 'endpoints'],
  ]) {
    assert.throws(() => createClient(options), (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes(`"${option}"`), JSON.stringify(options))
  }
})

test('under load: spread over every address; a new one takes work; a vanished one drains with no scan lost; a killed one is down, then back', async (t) => {
  await dns.set({ 'clamd.test': ['127.0.0.2', '127.0.0.3', '127.0.0.4'] })
  const discovery = listen(t, 'pompelmi:discovery')
  const downs = listen(t, 'pompelmi:endpoint:down')
  const ups = listen(t, 'pompelmi:endpoint:up')
  const client = createClient({ endpoints: [`dns+tcp://clamd.test:${port}`], resolver: dns.resolver, discoverInterval: 1000, timeout: 5000 })
  t.after(() => client.close())
  const [a, b, c, d] = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((ip) => name(ip, port))
  const run = load(client)
  t.after(() => run.stop())

  // 1. Every address of the name takes work, each named by its address.
  await sleep(1500)
  assert.deepEqual(discovery[0] && { name: discovery[0].name, added: [...discovery[0].added].sort(), removed: discovery[0].removed }, { name: 'clamd.test', added: [a, b, c], removed: [] })
  const first = run.since(0)
  for (const e of [a, b, c]) assert.ok(share(first, e) > 0.15, `${e} took ${share(first, e)} of ${first.length} scans`)
  assert.deepEqual(endpointNames(client), [a, b, c])

  // 2. A fourth address joins mid-run and takes work.
  await dns.set({ 'clamd.test': ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'] })
  await until(() => discovery.some((m) => m.added.includes(d)), 'the fourth address')
  const joined = discovery.find((m) => m.added.includes(d))
  assert.deepEqual(joined.removed, [])
  await sleep(1500)
  assert.ok(share(run.since(joined.at), d) > 0.1, `the new address took ${share(run.since(joined.at), d)} of the scans after it joined`)

  // 3. One vanishes mid-run: it drains (its scans finish), and takes no new work.
  await dns.set({ 'clamd.test': ['127.0.0.2', '127.0.0.4', '127.0.0.5'] })
  await until(() => discovery.some((m) => m.removed.includes(b)), 'the removal')
  const left = discovery.find((m) => m.removed.includes(b))
  assert.deepEqual(left.added, [])
  await sleep(1500)
  // A call that chose its endpoint just before the change may still go there; later ones never.
  const afterLeaving = run.since(left.at + 100)
  assert.ok(afterLeaving.length > 100, `${afterLeaving.length} scans after the removal`)
  assert.equal(afterLeaving.filter((c) => c.endpoint === b).length, 0, 'no new scan goes to the removed address')
  assert.ok(!client.metrics().endpoints.some((e) => e.endpoint === b && e.state !== 'draining'), 'the removed address is draining or gone')

  // 4. One replica is killed: it is marked down, its work goes elsewhere.
  process.kill(startReplica('dns4').pid, 'SIGKILL')
  const killedAt = Date.now()
  await until(() => downs.some((m) => m.endpoint === c), 'the down event')
  await sleep(1000)
  assert.equal(client.metrics().endpoints.find((e) => e.endpoint === c).state, 'down')
  assert.equal(run.since(killedAt + 500).filter((x) => x.endpoint === c).length, 0)

  // 5. Restarted, it is found back and takes work again.
  startReplica('dns4')
  await until(() => ups.some((m) => m.endpoint === c), 'the up event', 20000)
  const upAt = ups.find((m) => m.endpoint === c).at
  await sleep(1500)
  assert.ok(run.since(upAt).filter((x) => x.endpoint === c).length > 0, 'the restarted replica takes work')

  // No scan was lost or wrong through all of it.
  const calls = await run.stop()
  assert.ok(calls.length > 1000, `${calls.length} scans`)
  const failed = calls.filter((x) => x.error)
  assert.deepEqual(failed.map((x) => `${x.error.code}: ${x.error.message}`), [])
  assert.equal(calls.filter((x) => x.verdict !== x.expected).length, 0)
  assert.ok(calls.some((x) => x.expected === Verdict.Malicious))
})

test('A and AAAA: both families take work, the IPv6 one named [addr]:port', async (t) => {
  await dns.set({ 'dual.test': ['127.0.0.2', '::1'] })
  const client = createClient({ endpoints: [{ host: 'dual.test', port, discover: true }], resolver: dns.resolver })
  t.after(() => client.close())
  const reports = await Promise.all(Array.from({ length: 200 }, (_, i) => client.inspectBuffer(Buffer.from(`dual ${i}`))))
  assert.ok(reports.every((r) => r.verdict === Verdict.Clean))
  const used = new Set(reports.map((r) => r.endpoint))
  assert.deepEqual([...used].sort(), [name('127.0.0.2', port), name('::1', port)].sort())
  assert.equal(await client.scanBuffer(EICAR), Verdict.Malicious)
})

test('the top-level functions and createPool take the discovery options too; an open discovering client does not keep the process alive', async (t) => {
  await dns.set({ 'dual.test': ['127.0.0.2', '::1'] })
  const options = { host: 'dual.test', port, discover: true, resolver: dns.resolver, discoverInterval: 1000 }
  assert.equal(await pompelmi.scanBuffer(EICAR, options), Verdict.Malicious)
  const report = await pompelmi.inspectBuffer(Buffer.from('top level'), options)
  assert.ok([name('127.0.0.2', port), name('::1', port)].includes(report.endpoint), report.endpoint)
  const pool = pompelmi.createPool({ ...options, size: 2 })
  t.after(() => pool.destroy())
  const reports = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.inspectBuffer(Buffer.from(`pool ${i}`))))
  assert.equal(new Set(reports.map((r) => r.endpoint)).size, 2)
  assert.equal(pool.metrics().endpoints.length, 2)
  // Its refresh task runs on the native runtime, which holds no handle on Node's event loop.
  const { spawnSync } = require('node:child_process')
  const script = `require(${JSON.stringify(require.resolve('..'))}).scanBuffer(Buffer.from('x'), ${JSON.stringify(options)}).then((v) => console.log(String(v.description)))`
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'Clean')
  assert.ok(Date.now() - started < 5000, `exited after ${Date.now() - started} ms`)
})

test("dns+srv://: every target of the name's _clamd._tcp SRV records takes work, on the record's port", async (t) => {
  await dns.set({ 'a.srv.test': ['127.0.0.2'], 'b.srv.test': ['127.0.0.5'], 'main.srv.test': ['127.0.0.1'] })
  const expected = [name('127.0.0.2', port), name('127.0.0.5', port), name('127.0.0.1', mainPort)].sort()
  for (const endpoints of [['dns+srv://srv.test'], [{ host: 'srv.test', discover: 'srv' }]]) {
    const client = createClient({ endpoints, resolver: dns.resolver })
    t.after(() => client.close())
    const reports = await Promise.all(Array.from({ length: 150 }, (_, i) => client.inspectBuffer(Buffer.from(`srv ${i}`))))
    assert.ok(reports.every((r) => r.verdict === Verdict.Clean))
    assert.deepEqual([...new Set(reports.map((r) => r.endpoint))].sort(), expected)
    assert.equal(await client.scanBuffer(EICAR), Verdict.Malicious)
    assert.deepEqual(
      endpointNames(client),
      expected,
    )
  }
  // No SRV record: ENOTFOUND naming the record asked for, never a verdict.
  const missing = createClient({ endpoints: ['dns+srv://nothing.test'], resolver: dns.resolver })
  t.after(() => missing.close())
  await assert.rejects(missing.scanBuffer(EICAR), (err) => err.code === 'ENOTFOUND' && err.message.includes('_clamd._tcp.nothing.test'))
  assert.throws(() => createClient({ endpoints: ['dns+srv://bad name'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => createClient({ host: 'srv.test', discover: 'SRV' }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('a name that does not resolve rejects with ENOTFOUND, never Clean; so does a resolver that does not answer', async (t) => {
  const missing = createClient({ endpoints: [`dns+tcp://nothing-here.test:${port}`], resolver: dns.resolver })
  t.after(() => missing.close())
  for (const scan of [() => missing.scanBuffer(Buffer.from('x')), () => missing.inspectBuffer(EICAR), () => missing.ping()]) {
    await assert.rejects(scan(), (err) => err.code === 'ENOTFOUND' && /nothing-here\.test/.test(err.message))
  }
  const deadPort = await pickPort('closed')
  const silent = createClient({ host: 'clamd.test', port, discover: true, resolver: [`127.0.0.1:${deadPort}`], timeout: 2000 })
  t.after(() => silent.close())
  await assert.rejects(silent.scanBuffer(Buffer.from('x')), { code: 'ENOTFOUND' })
  // The system resolver, for a name nobody has.
  const system = createClient({ host: 'no-such-host.invalid', port, discover: true })
  t.after(() => system.close())
  await assert.rejects(system.scanBuffer(Buffer.from('x')), { code: 'ENOTFOUND' })
})

test('beside a fixed endpoint, a name that does not resolve holds up only the first call, and joins once it resolves', async (t) => {
  const fixed = `tcp://127.0.0.1:${mainPort}`
  // A resolver that never answers: the first call waits for it once, later ones do not.
  const deadPort = await pickPort('closed')
  const stuck = createClient({ endpoints: [fixed, `dns+tcp://late.test:${port}`], resolver: [`127.0.0.1:${deadPort}`] })
  t.after(() => stuck.close())
  assert.equal((await stuck.inspectBuffer(EICAR)).endpoint, fixed)
  // For longer than the one-second limit: a call that asked the resolver again would wait seconds.
  const end = Date.now() + 2500
  let slowest = 0
  while (Date.now() < end) {
    const started = Date.now()
    assert.equal(await stuck.scanBuffer(Buffer.from(`later ${started}`)), Verdict.Clean)
    slowest = Math.max(slowest, Date.now() - started)
    await sleep(50)
  }
  assert.ok(slowest < 500, `the slowest later call took ${slowest} ms`)
  // A name that appears later in DNS joins without waiting for discoverInterval (10 minutes).
  await dns.set({ 'late.test': [] })
  const client = createClient({ endpoints: [fixed, `dns+tcp://late.test:${port}`], resolver: dns.resolver, discoverInterval: 600000 })
  t.after(() => client.close())
  assert.equal((await client.inspectBuffer(Buffer.from('before'))).endpoint, fixed)
  await dns.set({ 'late.test': ['127.0.0.5'] })
  const until = Date.now() + 5000
  let joined = false
  while (!joined && Date.now() < until) {
    await client.scanBuffer(Buffer.from('x'))
    joined = client.metrics().endpoints.some((e) => e.endpoint === name('127.0.0.5', port))
    await sleep(50)
  }
  assert.ok(joined, 'the name joined once it resolved')
})

test('the system resolver is the default (getaddrinfo: /etc/hosts)', async (t) => {
  const main = startClamd('main')
  const client = createClient({ host: 'localhost', port: main.port, discover: true })
  t.after(() => client.close())
  assert.equal(await client.scanBuffer(EICAR), Verdict.Malicious)
  assert.ok(
    client
      .metrics()
      .endpoints.map((e) => e.endpoint)
      .includes(`tcp://127.0.0.1:${main.port}`),
  )
})

test('when every address is down the name is resolved again at once, at most once a second', async (t) => {
  await dns.set({ 'moving.test': ['127.0.0.7'] }) // nothing listens there
  const client = createClient({ endpoints: [`dns+tcp://moving.test:${port}`], resolver: dns.resolver, discoverInterval: 600000, timeout: 2000 })
  t.after(() => client.close())
  await assert.rejects(client.scanBuffer(Buffer.from('x')), { code: 'ECONNREFUSED' })
  const before = dns.queries('moving.test')
  const end = Date.now() + 2500
  let failures = 0
  while (Date.now() < end) {
    await client.scanBuffer(Buffer.from('x')).then(
      () => assert.fail('nothing listens there'),
      (err) => {
        assert.equal(err.code, 'ECONNREFUSED')
        failures++
      },
    )
    await sleep(10)
  }
  const asked = dns.queries('moving.test') - before
  // A and AAAA per resolution; 2.5 s at most once a second is at most 3 resolutions (+1 at the edge).
  assert.ok(failures > 50, `${failures} failed scans`)
  assert.ok(asked >= 2 && asked <= 8, `${asked} queries during ${failures} failed scans`)
  // The replicas moved: found without waiting for the interval (10 minutes).
  await dns.set({ 'moving.test': ['127.0.0.2'] })
  const movedAt = Date.now()
  let verdict
  while (Date.now() - movedAt < 5000) {
    verdict = await client.scanBuffer(EICAR).catch((err) => err.code)
    if (verdict === Verdict.Malicious) break
    await sleep(50)
  }
  assert.equal(verdict, Verdict.Malicious)
})

test('a resolver that fails after addresses were known keeps them', async (t) => {
  await dns.set({ 'steady.test': ['127.0.0.2', '127.0.0.5'] })
  const client = createClient({ endpoints: [`dns+tcp://steady.test:${port}`], resolver: dns.resolver, discoverInterval: 1000 })
  t.after(() => client.close())
  assert.equal(await client.scanBuffer(Buffer.from('before')), Verdict.Clean)
  const known = endpointNames(client)
  assert.equal(known.length, 2)
  await dns.stop()
  t.after(() => dns.restart())
  await sleep(3500) // three intervals with a dead resolver
  const verdicts = await Promise.all(Array.from({ length: 50 }, (_, i) => client.scanBuffer(i % 10 ? Buffer.from(`after ${i}`) : EICAR)))
  assert.deepEqual(verdicts, Array.from({ length: 50 }, (_, i) => (i % 10 ? Verdict.Clean : Verdict.Malicious)))
  assert.deepEqual(
    endpointNames(client),
    known,
  )
})

const certs = makeCertificates()

test('TLS to discovered addresses checks the certificate against the name, not the address', async (t) => {
  const main = startClamd('main')
  const tunnel = await startStunnel({ cert: certs.file('server.pem'), key: certs.file('server.key'), target: main.port })
  await dns.set({ 'tls.clamd.test': ['127.0.0.1'], 'other.clamd.test': ['127.0.0.1'] })
  const ca = certs.read('ca.pem')
  // No CA given: the system roots, which do not know the test CA.
  const untrusting = createClient({ endpoints: [`dns+tls://tls.clamd.test:${tunnel.port}`], resolver: dns.resolver })
  t.after(() => untrusting.close())
  await assert.rejects(untrusting.scanBuffer(EICAR), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
  const trusted = createClient({ endpoints: [{ host: 'tls.clamd.test', port: tunnel.port, discover: true, tls: { ca } }], resolver: dns.resolver })
  t.after(() => trusted.close())
  const report = await trusted.inspectBuffer(EICAR)
  assert.equal(report.verdict, Verdict.Malicious)
  assert.equal(report.endpoint, `tls://127.0.0.1:${tunnel.port}`)
  // The certificate names tls.clamd.test and 127.0.0.1, not other.clamd.test.
  const wrong = createClient({ endpoints: [{ host: 'other.clamd.test', port: tunnel.port, discover: true, tls: { ca } }], resolver: dns.resolver })
  t.after(() => wrong.close())
  await assert.rejects(wrong.scanBuffer(Buffer.from('x')), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
})
