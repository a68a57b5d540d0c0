'use strict'
// Options as the package reads them: own properties only (a polluted Object.prototype never
// redirects a scan), ports that are integers, one way to name clamd per object, and every
// factory's numbers checked (a bad value throws or rejects with a code; none freezes or crashes).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { fakeClamd, serveSession } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')

test('a polluted Object.prototype (endpoints, port, socket, host) never redirects a scan to another server', async (t) => {
  // The server a polluter would send scans to: it says every upload is clean.
  const decoy = await fakeClamd(t, (conn) => serveSession(conn, () => 'stream: OK'))
  const dir = tempDir(t)
  const eicar = writeFile(dir, 'eicar.txt', EICAR)
  const polluted = { endpoints: [{ port: decoy.port }], port: decoy.port, socket: '/nonexistent.sock', timeout: 1, maxFileSize: 1 }
  for (const [key, value] of Object.entries(polluted)) Object.prototype[key] = value // oxlint-disable-line no-extend-native
  t.after(() => {
    for (const key of Object.keys(polluted)) delete Object.prototype[key]
  })
  const options = { host: '127.0.0.1', port: clamd.port }
  const client = pompelmi.createClient(options)
  const pool = pompelmi.createPool(options)
  t.after(() => Promise.all([client.close(), pool.destroy()]))
  assert.equal(await pompelmi.scan(eicar, options), Verdict.Malicious)
  assert.equal(await pompelmi.scanBuffer(EICAR, options), Verdict.Malicious)
  assert.equal(await client.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await pool.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await pompelmi.createCache().scanBuffer(EICAR, options), Verdict.Malicious)
  assert.deepEqual((await pompelmi.scanDirectory(dir, options)).malicious, [eicar])
  const policy = await pompelmi.createPolicy({ scan: options }).check(EICAR, { filename: 'a.txt' })
  assert.equal(policy.reason, 'virus_detected')
  // No options at all: local mode, not the polluter's port.
  await pompelmi.scanBuffer(EICAR).catch(() => {})
  assert.equal(decoy.connections, 0)
})

test('port: only an integer or a string of one, 1–65535 (true is not port 1, [3310] is not 3310)', async () => {
  for (const port of [true, [clamd.port], { valueOf: () => clamd.port }, '12ab', 1.5, 0, 70000, '']) {
    await assert.rejects(pompelmi.scanBuffer(EICAR, { port }), { code: 'ERR_SOCKET_BAD_PORT' }, String(port))
  }
  assert.throws(() => pompelmi.createClient({ endpoints: [{ port: true }] }), { code: 'ERR_SOCKET_BAD_PORT' })
  assert.equal(await pompelmi.scanBuffer(EICAR, { port: String(clamd.port) }), Verdict.Malicious)
})

test('endpoints together with host, port or socket is rejected with a code (which was meant is not guessed)', async () => {
  await assert.rejects(pompelmi.scanBuffer(EICAR, { endpoints: [{ port: clamd.port }], socket: clamd.socket }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "endpoints" option cannot be combined with "socket": list every clamd in "endpoints"',
  })
  assert.throws(() => pompelmi.createClient({ endpoints: [{ port: clamd.port }], host: 'x', port: 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  // `undefined` does not count, as for routing.
  assert.equal(await pompelmi.scanBuffer(EICAR, { endpoints: [{ port: clamd.port }], host: undefined }), Verdict.Malicious)
})

test('every factory checks its numbers and choices: a bad value throws with a code, never freezes or misbehaves', async () => {
  const bad = [
    () => pompelmi.createCache({ maxSize: -1 }),
    () => pompelmi.createCache({ ttl: 'soon' }),
    () => pompelmi.createCache({ ttl: -5 }),
    () => pompelmi.createCache({ storage: 'disk' }),
    () => pompelmi.createCache({ filePath: 42 }),
    () => pompelmi.createPolicy({ maxSize: 'big' }),
    () => pompelmi.createPolicy({ allowedMimeTypes: 'image/png' }),
    () => pompelmi.createPolicy({ rejectEncrypted: 'yes' }),
    () => pompelmi.createPolicy({ onScannerUnavailable: 'ignore' }),
    () => pompelmi.createPolicy({ scan: { port: true } }),
    () => pompelmi.createScanner({ port: -1 }),
    () => pompelmi.createScanner({ followSymlinks: 'no' }),
    () => pompelmi.createMultiEngine({ engines: [{ type: 'virustotal', apiKey: 'k', threshold: 'two' }] }),
    () => pompelmi.createMultiEngine({ engines: [{ type: 'virustotal', apiKey: 'k', threshold: 0 }] }),
    () => pompelmi.createMultiEngine({ engines: [{ type: 'clamav', port: 'x' }] }),
    () => pompelmi.createMultiEngine({ engines: [{ type: 'clamav' }], timeout: -1 }),
    () => pompelmi.createMultiEngine({ engines: [{ type: 'clamav' }], consensus: 'most' }),
    () => pompelmi.createMultiEngine({ engines: [] }),
    () => pompelmi.middleware({ onScanError: 'ignore' }),
    () => pompelmi.middleware({ port: 'x' }),
    () => pompelmi.middleware({ uploadField: 3 }),
    () => pompelmi.watch(tempDirSync(), { quarantine: 5 }),
    () => pompelmi.watch(tempDirSync(), { timeout: -1 }),
    () => pompelmi.watch(tempDirSync(), {}, { onError: 'log' }),
    () => pompelmi.createPool({ size: 0 }),
    () => pompelmi.createPool({ size: 'many' }),
  ]
  for (const make of bad) {
    assert.throws(make, (err) => typeof err.code === 'string' && err.code.startsWith('ERR_'), make.toString())
  }
  await assert.rejects(pompelmi.notify('http://127.0.0.1:1/', { verdict: Verdict.Malicious }, { timeout: -1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(pompelmi.notify('http://127.0.0.1:1/', { verdict: Verdict.Malicious }, { timeout: 'x' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(pompelmi.scanDirectory(tempDirSync(), { concurrency: 0 }), { code: 'ERR_INVALID_ARG_VALUE' })
  // Numeric strings (from environment variables) are numbers, not text to concatenate.
  const cache = pompelmi.createCache({ ttl: '50', maxSize: '10' })
  const client = { port: clamd.port }
  assert.equal(await cache.scanBuffer(Buffer.from('ttl as a string'), client), Verdict.Clean)
  await new Promise((r) => setTimeout(r, 120))
  await cache.scanBuffer(Buffer.from('ttl as a string'), client)
  assert.deepEqual([cache.stats().hits, cache.stats().misses], [0, 2], 'the entry expired after 50 ms')
})

const made = []
function tempDirSync() {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pompelmi-test-'))
  made.push(dir)
  return dir
}
test.after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })))

test('createCache({ storage: "file" }) with a file it cannot write: a warning, the cache goes on in memory, the process lives', (t) => {
  const dir = tempDir(t)
  const blocker = writeFile(dir, 'not-a-dir', 'x') // a file where the cache wants a directory
  const script = `
    const pompelmi = require(${JSON.stringify(path.join(__dirname, '..'))})
    process.on('warning', (w) => console.log('warning', w.code))
    const cache = pompelmi.createCache({ storage: 'file', filePath: ${JSON.stringify(path.join(blocker, 'cache.json'))} })
    cache.scanBuffer(Buffer.from('x'), { port: ${clamd.port} }).then(async (v) => {
      console.log('verdict', v.description)
      await new Promise((r) => setTimeout(r, 800)) // past the 500 ms write timer
      console.log('hits after', (await cache.scanBuffer(Buffer.from('x'), { port: ${clamd.port} })).description, cache.stats().hits)
    })`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /verdict Clean/)
  assert.match(r.stdout, /warning POMPELMI_CACHE_WRITE_FAILED/)
  assert.match(r.stdout, /hits after Clean 1/)
})
