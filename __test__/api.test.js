'use strict'
// The drop-in surface: Verdict, exact validation messages, routing, options, directories.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const pompelmi = require('..')
const { scan, scanBuffer, scanStream, scanDirectory, Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { startFakeClamd } = require('./helpers/fake-clamd.js')
const { EICAR, CLEAN_FILE, tempDir, writeFile } = require('./helpers/samples.js')

test('Verdict is one frozen object of three distinct, unregistered Symbols', () => {
  assert.deepEqual(Object.keys(Verdict), ['Clean', 'Malicious', 'ScanError'])
  assert.ok(Object.isFrozen(Verdict))
  for (const name of Object.keys(Verdict)) {
    assert.equal(typeof Verdict[name], 'symbol')
    assert.equal(Verdict[name].description, name)
    assert.equal(Symbol.keyFor(Verdict[name]), undefined)
  }
  assert.equal(new Set(Object.values(Verdict)).size, 3)
  delete require.cache[require.resolve('..')]
  assert.equal(require('..').Verdict, Verdict, 'a second copy of the shim gives the same instances')
})

test('the export object has pompelmi 1.x core names', () => {
  for (const name of ['scan', 'scanBuffer', 'scanStream', 'scanDirectory', 'Verdict']) assert.ok(name in pompelmi, name)
  assert.equal(typeof scanDirectory.stream, 'function')
})

test('validation failures reject with the exact messages and never throw synchronously', async () => {
  const cases = [
    [() => scan(42), 'filePath must be a string'],
    [() => scan(undefined, null), 'filePath must be a string'],
    [() => scan('/no/such/file'), 'File not found: /no/such/file'],
    [() => scan('/no/such/file', { port: 3310 }), 'File not found: /no/such/file'],
    [() => scanBuffer('not a buffer'), 'buffer must be a Buffer'],
    [() => scanBuffer(42, null), 'buffer must be a Buffer'],
    [() => scanBuffer(new Uint8Array(0)), 'buffer is empty'],
    [() => scanBuffer(Buffer.alloc(0)), 'buffer is empty'],
    [() => scanStream(42), 'stream must be a Readable'],
    [() => scanStream({}), 'stream must be a Readable'],
    [() => scanStream('a string is not a stream'), 'stream must be a Readable'],
    [() => scanDirectory(42), 'dirPath must be a string'],
    [() => scanDirectory('/nonexistent'), 'Directory not found: /nonexistent'],
    [() => scanDirectory.stream('/nonexistent').next(), 'Directory not found: /nonexistent'],
    [() => scanDirectory.stream(7).next(), 'dirPath must be a string'],
  ]
  for (const [call, message] of cases) {
    let promise
    assert.doesNotThrow(() => (promise = call()))
    assert.ok(promise instanceof Promise)
    await assert.rejects(promise, (err) => err instanceof Error && err.message === message)
  }
})

test('bad option values reject with clear Node-style errors', async () => {
  const buf = Buffer.from('x')
  await assert.rejects(scanBuffer(buf, { port: -1 }), { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' })
  await assert.rejects(scanBuffer(buf, { port: 'abc' }), { code: 'ERR_SOCKET_BAD_PORT' })
  await assert.rejects(scanBuffer(buf, { port: 70000 }), { code: 'ERR_SOCKET_BAD_PORT' })
  await assert.rejects(scanBuffer(buf, { port: 3310, timeout: -5 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /"timeout"/ })
  await assert.rejects(scanBuffer(buf, { port: 3310, timeout: 'soon' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(scanBuffer(buf, { port: 3310, retries: 1.5 }), { message: /"retries"/ })
  await assert.rejects(scanBuffer(buf, { port: 3310, retryDelay: -1 }), { message: /"retryDelay"/ })
  await assert.rejects(scanBuffer(buf, { socket: 5 }), { message: /"socket"/ })
  await assert.rejects(scanBuffer(buf, 'options'), { message: /"options"/ })
})

test('routing follows pompelmi 1.x: host/port/socket presence, port alone, truthy socket wins', async (t) => {
  const dir = tempDir(t)
  const seen = []
  const tcp = await startFakeClamd(async (conn) => {
    seen.push('tcp')
    await conn.instream()
    conn.reply('stream: OK')
  })
  const unix = await startFakeClamd(
    async (conn) => {
      seen.push('unix')
      await conn.instream()
      conn.reply('stream: OK')
    },
    { socketPath: path.join(dir, 'fake.sock') },
  )
  t.after(() => Promise.all([tcp.close(), unix.close()]))
  const buf = Buffer.from('x')
  await scanBuffer(buf, { port: tcp.port })
  await scanBuffer(buf, { host: '127.0.0.1', port: tcp.port })
  await scanBuffer(buf, { host: null, port: tcp.port })
  await scanBuffer(buf, { host: 'localhost', port: String(tcp.port) })
  await scanBuffer(buf, { socket: '', port: tcp.port }) // an empty socket selects clamd, then TCP
  await scanBuffer(buf, { socket: unix.socket, host: '127.0.0.1', port: tcp.port })
  assert.deepEqual(seen, ['tcp', 'tcp', 'tcp', 'tcp', 'tcp', 'unix'])
  // `host: undefined` (an unset environment variable) means local mode: clamscan, not clamd.
  process.env.PATH_BEFORE = process.env.PATH
  process.env.PATH = dir // no clamscan here
  t.after(() => (process.env.PATH = process.env.PATH_BEFORE))
  await assert.rejects(scanBuffer(buf, { host: undefined }), { code: 'ENOENT', syscall: 'spawn clamscan' })
  await assert.rejects(scanBuffer(buf, { timeout: 100, retries: 2 }), { code: 'ENOENT', syscall: 'spawn clamscan' })
  assert.equal(seen.length, 6)
})

test('host names are resolved; an unknown host rejects like Node (ENOTFOUND)', async () => {
  await assert.rejects(scanBuffer(Buffer.from('x'), { host: 'no-such-host.invalid', port: 3310 }), (err) => {
    assert.equal(err.code, 'ENOTFOUND')
    assert.equal(err.syscall, 'getaddrinfo')
    assert.equal(err.hostname, 'no-such-host.invalid')
    assert.equal(err.message, 'getaddrinfo ENOTFOUND no-such-host.invalid')
    return true
  })
})

test('scanDirectory sorts files into clean/malicious/errors, following pompelmi 1.x paths', async (t) => {
  const clamd = startClamd('main')
  const dir = tempDir(t)
  const clean = writeFile(dir, 'a/clean.txt', 'hello')
  const bad = writeFile(dir, 'b/deeper/eicar.txt', EICAR)
  const link = path.join(dir, 'loop')
  require('node:fs').symlinkSync(link, link) // a symlink loop: reported, not fatal
  const result = await scanDirectory(dir, { socket: clamd.socket })
  assert.deepEqual(result, { clean: [clean], malicious: [bad], errors: [link] })
  const events = []
  for await (const event of scanDirectory.stream(dir, { port: clamd.port })) events.push(event)
  assert.deepEqual(
    events.filter((e) => e.type === 'progress').map((e) => [e.scanned, e.total]),
    [[1, 3], [2, 3], [3, 3]],
  )
  const results = events.filter((e) => e.type === 'result')
  // In completion order: the two scans run at once, so compare by file.
  assert.deepEqual(
    new Map(results.map((e) => [e.file, e.verdict])),
    new Map([[clean, Verdict.Clean], [bad, Verdict.Malicious], [link, null]]),
  )
  assert.deepEqual(events.at(-1), { type: 'complete', summary: result })
})

test('scanDirectory puts failed scans into errors without rejecting', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'one.txt', '1')
  writeFile(dir, 'two.txt', '2')
  const result = await scanDirectory(dir, { port: 1, timeout: 500 })
  assert.equal(result.errors.length, 2)
  assert.deepEqual(result.clean, [])
})

test('an unreadable file rejects with EACCES, never Clean', async (t) => {
  const fs = require('node:fs')
  const { execFileSync } = require('node:child_process')
  const clamd = startClamd('main')
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o755)
  const file = writeFile(dir, 'secret.txt', EICAR)
  fs.chmodSync(file, 0o000)
  // Root reads anything, so as root the scan runs in a child process as the unprivileged `nobody`.
  const script = `require(${JSON.stringify(path.join(__dirname, '..'))}).scan(${JSON.stringify(file)}, { socket: ${JSON.stringify(clamd.socket)} })
    .then((v) => console.log(String(v)), (e) => console.log(JSON.stringify({ code: e.code, syscall: e.syscall, message: e.message })))`
  const asRoot = process.getuid() === 0
  const nobody = asRoot ? Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })) : undefined
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', ...(asRoot ? { uid: nobody, gid: nobody } : {}) })
  assert.deepEqual(JSON.parse(out), { code: 'EACCES', syscall: 'open', message: `EACCES: permission denied, open '${file}'` })
})

test('options objects are not modified', async () => {
  const clamd = startClamd('main')
  const opts = Object.freeze({ port: clamd.port, timeout: 5000 })
  assert.equal(await scan(CLEAN_FILE, opts), Verdict.Clean)
})
