'use strict'
// TLS to clamd through a real stunnel4 in front of the private clamd, with certificates made by
// openssl: server-verified TLS, mutual TLS (with and without a client certificate), a wrong name,
// an untrusted CA, a self-signed and an expired certificate, TLS against the plaintext port and
// plaintext against the TLS port. Each failure's code is the one Node's own `tls` gives against
// the same stunnel, and none resolves Clean.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const tls = require('node:tls')
const { spawnSync } = require('node:child_process')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd, client } = require('./helpers/clamd.js')
const { EICAR, CLEAN_FILE } = require('./helpers/samples.js')
const { makeCertificates, startStunnel } = require('./helpers/tls.js')

const clamd = startClamd('main')
const certs = makeCertificates()
const tunnels = {}
const tunnel = async (name, opts) => (tunnels[name] ||= await startStunnel({ target: clamd.port, ...opts }))
const serverTunnel = () => tunnel('server', { cert: certs.file('server.pem'), key: certs.file('server.key') })
const CA = () => certs.read('ca.pem')

/** What Node's own tls.connect says against the same port: 'ok' or the error's code. */
function nodeSays(port, options) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      // TLS 1.3: a refused client certificate arrives as an alert after the handshake.
      socket.write('zPING\0')
      socket.once('data', () => {
        socket.destroy()
        resolve('ok')
      })
    })
    socket.once('error', (err) => resolve(err.code))
  })
}

test('server-verified TLS: verdicts, reports named tls://, pipelined sessions, a file without FILDES', async (t) => {
  const { port } = await serverTunnel()
  const options = { host: 'localhost', port, tls: { ca: CA() } }
  assert.equal(await pompelmi.scanBuffer(EICAR, options), Verdict.Malicious)
  assert.equal(await pompelmi.scanBuffer(Buffer.from('clean'), options), Verdict.Clean)
  const c = client(t, { endpoints: [{ host: 'localhost', port, tls: { ca: Buffer.from(CA()) } }], maxConnections: 2 })
  const report = await c.inspect(CLEAN_FILE)
  assert.deepEqual([report.verdict, report.endpoint, report.bytes], [Verdict.Clean, `tls://localhost:${port}`, fs.statSync(CLEAN_FILE).size])
  // 64 at once over 2 sessions: pipelined, every verdict right.
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) => c.scanBuffer(i % 4 === 0 ? Buffer.concat([Buffer.from(`${i}`), EICAR]) : Buffer.from(`clean ${i}`))))
  results.forEach((v, i) => assert.equal(v, i % 4 === 0 ? Verdict.Malicious : Verdict.Clean, `scan ${i}`))
  assert.equal((await c.inspectStream([Buffer.alloc(300_000, 0x61), EICAR])).verdict, Verdict.Malicious)
  assert.equal(await c.ping(), true)
})

test("tls: true uses the system's CAs: SSL_CERT_FILE is honoured (as the system roots on Linux)", async () => {
  const { port } = await serverTunnel()
  const script = `require(${JSON.stringify(path.join(__dirname, '..'))}).scanBuffer(Buffer.from('x'), { host: 'localhost', port: ${port}, tls: true })
    .then((v) => console.log(v.description), (e) => console.log(e.code))`
  const withCa = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, SSL_CERT_FILE: certs.file('ca.pem') } })
  assert.equal(withCa.stdout.trim(), 'Clean', withCa.stderr)
  const without = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, SSL_CERT_FILE: certs.file('rogue-ca.pem'), SSL_CERT_DIR: certs.dir + '/none' } })
  assert.equal(without.stdout.trim(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', without.stderr)
})

test('mutual TLS: with the client certificate Clean; without one refused with a TLS code, as by Node', async () => {
  const { port } = await tunnel('mutual', { cert: certs.file('server.pem'), key: certs.file('server.key'), clientCa: certs.file('ca.pem') })
  const base = { host: 'localhost', port, retries: 0 }
  assert.equal(await pompelmi.scanBuffer(EICAR, { ...base, tls: { ca: CA(), cert: certs.read('client.pem'), key: certs.read('client.key') } }), Verdict.Malicious)
  const err = await pompelmi.scanBuffer(Buffer.from('x'), { ...base, tls: { ca: CA() }, timeout: 3000 }).then(
    (v) => assert.fail(`resolved ${v.description}`),
    (e) => e,
  )
  const node = await nodeSays(port, { ca: CA() })
  assert.notEqual(node, 'ok')
  assert.match(err.code, /^ERR_SSL_|^ECONNRESET$/, err.message)
  assert.equal(err.code, node, `Node says ${node}`)
})

const FAILURES = {
  'a wrong host name': { server: 'server', tls: () => ({ ca: CA(), servername: 'wrong.example' }), code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
  'a CA nobody trusts': { server: 'untrusted', tls: () => ({ ca: CA() }), code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
  'a self-signed certificate': { server: 'self', tls: () => ({ ca: CA() }), code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
  'an expired certificate': { server: 'expired', tls: () => ({ ca: CA() }), code: 'CERT_HAS_EXPIRED' },
}

for (const [name, f] of Object.entries(FAILURES)) {
  test(`${name}: ${f.code}, the code Node's tls gives; never Clean, never retried on the same endpoint`, async () => {
    const { port } = await tunnel(f.server, { cert: certs.file(`${f.server}.pem`), key: certs.file(`${f.server}.key`) })
    const started = Date.now()
    const err = await pompelmi.scanBuffer(EICAR, { host: 'localhost', port, tls: f.tls(), retries: 3, retryDelay: 2000 }).then(
      (v) => assert.fail(`resolved ${v.description}`),
      (e) => e,
    )
    assert.equal(err.code, f.code, err.message)
    assert.equal(await nodeSays(port, f.tls()), f.code)
    assert.deepEqual([err.address, err.port, err.endpoint], ['localhost', port, `tls://localhost:${port}`])
    assert.ok(Date.now() - started < 1500, `not retried (${Date.now() - started} ms with retryDelay 2000)`)
  })
}

test('with several endpoints a certificate failure fails over, as a refused connection does', async (t) => {
  const bad = await tunnel('expired', { cert: certs.file('expired.pem'), key: certs.file('expired.key') })
  const good = await serverTunnel()
  const c = client(t, { endpoints: [{ host: 'localhost', port: bad.port, tls: { ca: CA() } }, { host: 'localhost', port: good.port, tls: { ca: CA() } }] })
  for (let i = 0; i < 4; i++) {
    const report = await c.inspectBuffer(EICAR)
    assert.deepEqual([report.verdict, report.endpoint], [Verdict.Malicious, `tls://localhost:${good.port}`])
  }
})

test('TLS against the plaintext port and plaintext against the TLS port: rejected, within the timeout, never Clean', async () => {
  const { port } = await serverTunnel()
  for (const [what, options] of Object.entries({
    'TLS to clamd itself': { host: 'localhost', port: clamd.port, tls: { ca: CA() } },
    'plain TCP to stunnel': { host: '127.0.0.1', port },
  })) {
    const started = Date.now()
    const err = await pompelmi.scanBuffer(Buffer.from('clean'), { ...options, timeout: 2000, retries: 0 }).then(
      (v) => assert.fail(`${what}: resolved ${v.description}`),
      (e) => e,
    )
    assert.ok(err.code, `${what}: ${err.message}`)
    assert.ok(Date.now() - started < 4000, `${what}: settled in ${Date.now() - started} ms`)
  }
  const err = await pompelmi.scanBuffer(Buffer.from('x'), { host: 'localhost', port: clamd.port, tls: { ca: CA() }, retries: 0 }).catch((e) => e)
  assert.equal(err.code, await nodeSays(clamd.port, { ca: CA() }))
})

test('bad tls options reject ERR_INVALID_ARG_VALUE: on a UNIX socket, without clamd, a wrong shape, PEM that does not parse', async () => {
  for (const options of [
    { socket: clamd.socket, tls: true },
    { tls: true },
    { port: 1, tls: 'yes' },
    { port: 1, tls: { cert: 'x' } },
    { port: 1, tls: { ca: 'not PEM' } },
    { port: 1, tls: { rejectUnauthorized: 'no' } },
    { endpoints: [{ socket: clamd.socket, tls: {} }] },
    { endpoints: ['tls://localhost:1'], tls: true },
  ]) {
    await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), options), { code: 'ERR_INVALID_ARG_VALUE' }, JSON.stringify(options))
  }
  const { port } = await tunnel('self', { cert: certs.file('self.pem'), key: certs.file('self.key') })
  // rejectUnauthorized: false accepts any certificate (still encrypted).
  assert.equal(await pompelmi.scanBuffer(EICAR, { host: 'localhost', port, tls: { rejectUnauthorized: false } }), Verdict.Malicious)
})
