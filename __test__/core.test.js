'use strict'
// lib/core/ unit by unit, offline (no clamd, no clamscan): options, errors, inputs, verdicts,
// the walker's names, and the client's argument and closed-client rules. In the fast tier.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')

const options = require('../lib/core/options.js')
const errors = require('../lib/core/errors.js')
const inputs = require('../lib/core/inputs.js')
const { Verdict, VERDICT_BY_NAME } = require('../lib/core/verdict.js')
const { escapeName, walk } = require('../lib/core/walk.js')
const { Client } = require('../lib/core/client.js')
const { tempDir } = require('./helpers/samples.js')

test('options: 1.x routing, defaults, endpoints, and the keys that decide a verdict', () => {
  const local = options.resolveTarget({})
  assert.equal(local.local, true)
  assert.equal(local.timeout, options.DEFAULTS.localTimeout)
  const tcp = options.resolveTarget({ port: '3311' })
  assert.deepEqual(tcp.endpoints, [{ kind: 'tcp', host: '127.0.0.1', port: 3311 }])
  assert.equal(tcp.queueTimeout, tcp.timeout, 'queueTimeout defaults to timeout')
  const unix = options.resolveTarget({ host: 'x', socket: '/run/c.sock' })
  assert.deepEqual(unix.endpoints, [{ kind: 'unix', path: '/run/c.sock' }], 'a truthy socket wins')
  assert.equal(options.resolveTarget({ port: undefined }).local, true, 'an undefined key does not count')
  assert.equal(options.resolveTarget({ port: null }).local, false, 'null does')
  const many = options.resolveTarget({ endpoints: ['tcp://[::1]:3310', 'unix:/a.sock', { host: 'h', port: 1 }] })
  assert.deepEqual(many.endpoints.map(options.endpointName), ['tcp://[::1]:3310', 'unix:/a.sock', 'tcp://h:1'])
  // The verdict key ignores the order of endpoints and everything that only affects transport.
  const a = options.resolveTarget({ endpoints: ['unix:/a.sock', 'tcp://h:1'], timeout: 5 })
  const b = options.resolveTarget({ endpoints: ['tcp://h:1', 'unix:/a.sock'], retries: 2 })
  assert.equal(a.verdictKey, b.verdictKey)
  assert.notEqual(a.key, b.key)
})

test('options: bad values throw with a code, never a default in their place', () => {
  for (const [opts, code] of [
    [{ port: true }, 'ERR_SOCKET_BAD_PORT'],
    [{ port: 70000 }, 'ERR_SOCKET_BAD_PORT'],
    [{ timeout: -1, port: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ retries: 1.5, port: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ endpoints: [] }, 'ERR_INVALID_ARG_VALUE'],
    [{ endpoints: ['ftp://x'] }, 'ERR_INVALID_ARG_VALUE'],
    [{ endpoints: ['tcp://h:1'], port: 2 }, 'ERR_INVALID_ARG_VALUE'],
    ['not an object', 'ERR_INVALID_ARG_VALUE'],
  ]) {
    assert.throws(() => options.resolveTarget(opts), (err) => err.code === code, JSON.stringify(opts))
  }
  assert.throws(() => options.callOptions({ signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('options: resolved once per object; literals of primitives by content; an error is never cached', () => {
  const opts = { port: 3310 }
  const first = options.resolveTarget(opts)
  assert.equal(options.resolveTarget(opts), first, 'the same object: the same resolution')
  assert.equal(options.resolveTarget({ port: 3310 }), first, 'a literal with the same content: the same resolution')
  assert.notEqual(options.resolveTarget({ port: 3311 }), first)
  assert.notEqual(options.resolveTarget({ port: '3310' }), first, 'the type is part of the content')
  // Objects holding objects are cached by identity.
  const signal = new AbortController().signal
  const withSignal = { signal }
  assert.equal(options.callOptions(withSignal), options.callOptions(withSignal))
  assert.notEqual(options.callOptions({ signal }), options.callOptions(withSignal))
  // A bad object throws every time it is used.
  const bad = { port: 0 }
  assert.throws(() => options.resolveTarget(bad), { code: 'ERR_SOCKET_BAD_PORT' })
  assert.throws(() => options.resolveTarget(bad), { code: 'ERR_SOCKET_BAD_PORT' })
  // Resolutions are frozen: one caller cannot change what another gets.
  assert.ok(Object.isFrozen(first))
  // A getter that answers differently each time is read once: what is cached under a content is
  // what that content resolves to.
  let reads = 0
  const shifty = {
    get port() {
      return reads++ === 0 ? 3312 : 3313
    },
  }
  assert.equal(options.resolveTarget(shifty).endpoints[0].port, 3312)
  assert.equal(reads, 1)
  assert.equal(options.resolveTarget({ port: 3313 }).endpoints[0].port, 3313, 'not filed under the other read')
})

test('options: only own properties count, whatever Object.prototype holds', () => {
  Object.prototype.port = 1234
  Object.prototype.socket = '/evil.sock'
  try {
    assert.equal(options.resolveTarget({}).local, true)
    assert.equal(options.resolveTarget(Object.create({ port: 1 })).local, true)
    assert.equal(options.own(undefined).port, undefined)
  } finally {
    delete Object.prototype.port
    delete Object.prototype.socket
  }
})

test('errors: native failures become errors shaped like Node\'s own', () => {
  const refused = errors.toError({ message: 'connect ECONNREFUSED 127.0.0.1:1', kind: 'os', code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 1 }, 'tcp://127.0.0.1:1')
  assert.equal(refused.code, 'ECONNREFUSED')
  assert.equal(refused.errno, -111)
  assert.equal(refused.syscall, 'connect')
  assert.equal(refused.port, 1)
  assert.equal(refused.endpoint, 'tcp://127.0.0.1:1')
  assert.ok(errors.isUnreachable(refused))
  const fileErr = errors.toError({ message: 'x', kind: 'os', code: 'EACCES', syscall: 'open', path: '/secret' }, 'unix:/c.sock')
  assert.equal(fileErr.message, "EACCES: permission denied, open '/secret'")
  assert.equal(fileErr.endpoint, undefined, 'a file error is not about clamd')
  assert.equal(errors.isUnreachable(fileErr), false)
  const timeout = errors.toError({ message: 'clamd connection timed out after 5ms', kind: 'timeout', code: 'ETIMEDOUT' }, null)
  assert.equal(timeout.errno, undefined, 'a timeout has no errno')
  const abort = errors.abortError({ reason: 'stop' })
  assert.equal(abort.name, 'AbortError')
  assert.equal(abort.code, 'ABORT_ERR')
  assert.equal(abort.cause, 'stop')
  assert.equal(errors.clientClosed().code, 'ERR_CLIENT_CLOSED')
})

test('inputs: one check per kind, with 1.x\'s messages and a code', () => {
  assert.throws(() => inputs.checkInput('buffer', 'x'), { message: 'buffer must be a Buffer', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => inputs.checkInput('buffer', Buffer.alloc(0)), { message: 'buffer is empty', code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => inputs.checkInput('stream', Buffer.from('x')), { message: 'stream must be a Readable', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => inputs.checkInput('file', 42), { message: 'filePath must be a string', code: 'ERR_INVALID_ARG_TYPE' })
  const ended = Readable.from([])
  ended.resume()
  ended.read()
  const destroyed = new Readable({ read() {} })
  destroyed.destroy()
  assert.throws(() => inputs.checkInput('stream', destroyed), { code: 'ERR_STREAM_DESTROYED' })
  inputs.checkInput('stream', new Readable({ read() {} }))
  inputs.checkInput('buffer', Buffer.from('x'))
  // Chunks go back to the bytes they were decoded from.
  const s = new Readable({ read() {} })
  s.setEncoding('latin1')
  assert.deepEqual(inputs.chunkBytes('\xe9', s), Buffer.from([0xe9]))
  assert.throws(() => inputs.chunkBytes(42, s), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('verdicts: one set of symbols per realm, named like the native verdicts', () => {
  assert.equal(require('../lib/core/verdict.js').Verdict, Verdict)
  assert.equal(VERDICT_BY_NAME.clean, Verdict.Clean)
  assert.equal(VERDICT_BY_NAME.malicious, Verdict.Malicious)
  assert.equal(VERDICT_BY_NAME.error, Verdict.ScanError)
  assert.equal(globalThis[Symbol.for('pompelmi.Verdict')], Verdict)
})

test('walk: byte names; control characters escaped for display', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a')
  fs.mkdirSync(path.join(dir, 'sub'))
  fs.writeFileSync(path.join(dir, 'sub', 'b.txt'), 'b')
  const { files } = await walk(dir)
  assert.deepEqual(files.map((f) => path.relative(dir, f.path)).sort(), ['a.txt', path.join('sub', 'b.txt')])
  assert.equal(escapeName(Buffer.from('x\r\x1b[2Ky')), 'x\\x0d\\x1b[2Ky')
})

test('client: argument errors reject (never throw), before any connection; a closed client rejects', async () => {
  // Port 1 is never contacted: every call below fails before it would connect.
  const client = new Client({ port: 1 })
  await assert.rejects(client.scanBuffer('nope'), { message: 'buffer must be a Buffer' })
  await assert.rejects(client.scanStream({}), { message: 'stream must be a Readable' })
  await assert.rejects(client.scan(42), { message: 'filePath must be a string' })
  await assert.rejects(client.scan('/nonexistent/x'), { code: 'ENOENT', message: 'File not found: /nonexistent/x' })
  await assert.rejects(client.scanBuffer(Buffer.from('x'), { signal: AbortSignal.abort() }), { name: 'AbortError' })
  await assert.rejects(client.scanBuffer(Buffer.from('x'), { timeout: -1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  await client.close()
  await assert.rejects(client.scanBuffer(Buffer.from('x')), { code: 'ERR_CLIENT_CLOSED' })
  const custom = new Client({ port: 1 }, { closedError: () => Object.assign(new Error('Pool destroyed'), { code: 'ERR_POOL_DESTROYED' }) })
  await custom.close()
  await assert.rejects(custom.ping(), { code: 'ERR_POOL_DESTROYED' })
})

test("require('pompelmi') loads the scanning core only: feature modules, adapters and the tee load on first use, no hook is installed", () => {
  const { spawnSync } = require('node:child_process')
  const root = path.join(__dirname, '..')
  const script = `
    const before = process.listenerCount('exit')
    const p = require(${JSON.stringify(root)})
    const loaded = () => Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(root + path.sep)}) && !f.includes('node_modules')).map((f) => f.slice(${root.length + 1})).sort()
    const atRequire = loaded()
    const exitHooks = process.listenerCount('exit') - before
    void p.createCache
    console.log(JSON.stringify({ atRequire, exitHooks, afterCache: loaded().filter((f) => !atRequire.includes(f)) }))`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const { atRequire, exitHooks, afterCache } = JSON.parse(r.stdout)
  const core = ['binding', 'client', 'diagnostics', 'errors', 'inputs', 'options', 'shared', 'verdict'].map((m) => `lib/core/${m}.js`)
  assert.deepEqual(atRequire.filter((f) => f.endsWith('.js')), ['index.js', ...core].sort())
  // The packed package bundles exactly these (scripts/bundle.js).
  assert.deepEqual([...require('../scripts/bundle.js').MODULES].sort(), ['index.js', ...core].sort())
  assert.equal(exitHooks, 0)
  assert.deepEqual(afterCache, ['lib/cache.js'])
})

test('metrics: VERSION read into the version, the database number and its date', () => {
  const { parseVersion } = require('../lib/core/metrics.js')
  assert.deepEqual(parseVersion('ClamAV 1.4.6/27400/Tue Oct  1 08:34:31 2024'), {
    version: 'ClamAV 1.4.6/27400/Tue Oct  1 08:34:31 2024',
    databaseVersion: 27400,
    databaseDate: new Date('Tue Oct  1 08:34:31 2024').toISOString(),
  })
  assert.deepEqual(parseVersion('ClamAV 1.4.6'), { version: 'ClamAV 1.4.6', databaseVersion: null, databaseDate: null })
  assert.deepEqual(parseVersion('ClamAV 1.4.6/x/not a date'), { version: 'ClamAV 1.4.6/x/not a date', databaseVersion: null, databaseDate: null })
})

test('error codes: one registry (lib/core/codes.js); every code in the sources is in it, and in index.d.ts', () => {
  const { CODES } = require('../lib/core/codes.js')
  const root = path.join(__dirname, '..')
  const sources = [
    ...fs.readdirSync(path.join(root, 'lib'), { recursive: true }).filter((f) => /\.(js|mjs)$/.test(f) && f !== path.join('core', 'codes.js')).map((f) => path.join(root, 'lib', f)),
    path.join(root, 'index.js'),
    path.join(root, 'bin', 'pompelmi.js'),
    ...['error.rs', 'tls.rs'].map((f) => path.join(root, 'crates', 'clamd-client', 'src', f)),
  ]
  const used = new Set()
  for (const file of sources) {
    const text = fs.readFileSync(file, 'utf8')
    for (const m of text.matchAll(/['"]((?:ERR|E)[A-Z][A-Z0-9_]+|ABORT_ERR|MODULE_NOT_FOUND|[A-Z]+_[A-Z_]*CERT[A-Z_]*|UNABLE_TO_VERIFY_LEAF_SIGNATURE)['"]/g)) {
      // Not codes of ours: a label, and the key looked up in Node's system-error table.
      if (m[1] === 'ERRORS' || m[1] === 'EAI_NONAME') continue
      // ERR_SSL_TLSV1_ALERT_<NAME>: the template in the union.
      if (!m[1].startsWith('ERR_SSL_TLSV1_ALERT_')) used.add(m[1])
    }
  }
  const missing = [...used].filter((c) => !Object.hasOwn(CODES, c))
  assert.deepEqual(missing, [], 'codes used in the sources but not in the registry')
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const union = dts.slice(dts.indexOf('type ErrorCode ='), dts.indexOf('`ERR_SSL_TLSV1_ALERT_${string}`'))
  const notTyped = Object.keys(CODES).filter((c) => !union.includes(`'${c}'`))
  assert.deepEqual(notTyped, [], 'codes in the registry but not in the ErrorCode union')
})
