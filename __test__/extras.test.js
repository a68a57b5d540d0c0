'use strict'
// The rest of pompelmi 1.x's exports, each on the native core, with its documented behaviour
// and its 1.x bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { Readable } = require('node:stream')
const { spawnSync } = require('node:child_process')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const pause = (ms) => new Promise((r) => setTimeout(r, ms))

test('the export object has pompelmi 1.x\'s 17 names', () => {
  const names = ['scan', 'scanBuffer', 'scanStream', 'scanDirectory', 'Verdict', 'middleware', 'scanS3', 'createPool', 'watch', 'notify', 'createScanner', 'generateDashboard', 'generateShareCard', 'generateScorecard', 'createCache', 'createPolicy', 'createMultiEngine']
  for (const name of names) assert.ok(name in pompelmi, name)
})

test('createCache: hit after miss, options in the key, TTL, LRU, ScanError not cached, coalesced misses', async (t) => {
  const cache = pompelmi.createCache({ ttl: 200, maxSize: 2 })
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  const buf = Buffer.from(`cache me ${Date.now()}`)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.deepEqual(cache.stats(), { hits: 2, misses: 1, size: 1, hitRate: 2 / 3 })
  // Another clamd (socket) is another key.
  assert.equal(await cache.scanBuffer(buf, { socket: clamd.socket }), Verdict.Clean)
  assert.equal(cache.stats().misses, 2)
  // LRU: a third key evicts the oldest.
  assert.equal(await cache.scanBuffer(EICAR, TCP), Verdict.Malicious)
  assert.equal(cache.stats().size, 2)
  // TTL expiry rescans.
  await pause(250)
  await cache.scanBuffer(EICAR, TCP)
  assert.equal(cache.stats().misses, 4)
  // delete(sha256) and clear().
  assert.equal(cache.delete(crypto.createHash('sha256').update(EICAR).digest('hex')), true)
  cache.clear()
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  // Concurrent misses share one scan; files are keyed by content.
  const file = writeFile(tempDir(t), 'f.txt', EICAR)
  const verdicts = await Promise.all(Array.from({ length: 10 }, () => cache.scan(file, TCP)))
  assert.ok(verdicts.every((v) => v === Verdict.Malicious))
  assert.equal(cache.stats().misses, 10)
  assert.equal(cache.stats().size, 1)
  // A ScanError (unreachable port here rejects; a size-limit reply is a ScanError) is not cached.
  const limited = startClamd('limit')
  const big = Buffer.alloc(2 * 1024 * 1024, 1)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(cache.stats().hits, 0, 'ScanError is never served from the cache')
})

test("createCache storage: 'file' survives a reload with the real Verdict symbols", async (t) => {
  const filePath = path.join(tempDir(t), 'cache.json')
  const first = pompelmi.createCache({ storage: 'file', filePath })
  assert.equal(await first.scanBuffer(EICAR, TCP), Verdict.Malicious)
  first.flush()
  const second = pompelmi.createCache({ storage: 'file', filePath })
  const verdict = await second.scanBuffer(EICAR, TCP)
  assert.equal(verdict, Verdict.Malicious)
  assert.equal(typeof verdict, 'symbol')
  assert.equal(second.stats().hits, 1, 'served from the reloaded file')
})

test('createPolicy: size, MIME, extension, encrypted ZIP, scan; ScanError not allowed; virus name reported', async () => {
  const policy = pompelmi.createPolicy({ scan: TCP, maxSize: 100, allowedMimeTypes: ['text/plain'], allowedExtensions: ['.txt'], rejectEncrypted: true })
  assert.deepEqual(await policy.check(Buffer.from('ok'), { filename: 'a.txt', mimeType: 'text/plain' }), {
    allowed: true,
    reason: null,
    verdict: Verdict.Clean,
    details: { size: 2, mimeType: 'text/plain', extension: '.txt', virusName: null },
  })
  assert.equal((await policy.check(Buffer.alloc(101), { filename: 'a.txt' })).reason, 'file_too_large')
  assert.equal((await policy.check(Buffer.from('x'), { filename: 'a.txt', mimeType: 'image/png' })).reason, 'mime_not_allowed')
  assert.equal((await policy.check(Buffer.from('x'), { filename: 'a.exe', mimeType: 'text/plain' })).reason, 'extension_not_allowed')
  // An allow-list with no type given fails closed (1.x skipped the list), unless configured.
  assert.equal((await policy.check(Buffer.from('x'), { filename: 'evil.exe' })).reason, 'mime_not_allowed')
  const untyped = pompelmi.createPolicy({ allowedMimeTypes: ['image/png'], allowUnknownMimeType: true })
  assert.equal((await untyped.check(Buffer.from('x'), { filename: 'a.png' })).allowed, true)
  assert.equal((await untyped.check(Buffer.from('x'), { filename: 'a.png', mimeType: 'text/html' })).reason, 'mime_not_allowed')
  const zip = Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.from([20, 0, 1, 0]), Buffer.alloc(20)])
  assert.equal((await policy.check(zip, { filename: 'a.txt', mimeType: 'text/plain' })).reason, 'encrypted_archive')
  const bad = await policy.check(EICAR, { filename: 'e.txt', mimeType: 'text/plain' })
  assert.deepEqual([bad.allowed, bad.reason, bad.verdict, bad.details.virusName], [false, 'virus_detected', Verdict.Malicious, 'Eicar-Test-Signature.UNOFFICIAL'])
  const limited = startClamd('limit')
  const scanError = pompelmi.createPolicy({ scan: { port: limited.port } })
  assert.deepEqual(await scanError.check(Buffer.alloc(2 * 1024 * 1024)).then((r) => [r.allowed, r.reason]), [false, 'scan_error'])
  const lenient = pompelmi.createPolicy({ scan: { port: limited.port }, allowScanError: true })
  assert.equal((await lenient.check(Buffer.alloc(2 * 1024 * 1024))).allowed, true)
})

test('createPolicy onScannerUnavailable: reject, allow, throw; middleware checks every file; nestGuard', async () => {
  const port = await closedPort()
  assert.equal((await pompelmi.createPolicy({ scan: { port } }).check(Buffer.from('x'))).reason, 'scanner_unavailable')
  assert.deepEqual(await pompelmi.createPolicy({ scan: { port }, onScannerUnavailable: 'allow' }).check(Buffer.from('x')).then((r) => [r.allowed, r.verdict]), [true, Verdict.ScanError])
  await assert.rejects(pompelmi.createPolicy({ scan: { port }, onScannerUnavailable: 'throw' }).check(Buffer.from('x')), { code: 'ECONNREFUSED' })
  const policy = pompelmi.createPolicy({ scan: TCP })
  const res = { code: 0, body: null, status(c) { this.code = c; return this }, json(b) { this.body = b } }
  let nexted = false
  await policy.middleware()({ files: [{ originalname: 'a.txt', buffer: Buffer.from('a') }, { originalname: 'b.txt', buffer: EICAR }] }, res, () => (nexted = true))
  assert.deepEqual([res.code, res.body, nexted], [403, { error: 'virus_detected', file: 'b.txt' }, false], 'the second file is checked too (1.x checked only the first)')
  const guard = policy.nestGuard()
  const ctx = (files) => ({ switchToHttp: () => ({ getRequest: () => ({ files }) }) })
  assert.equal(await guard.canActivate(ctx([{ buffer: Buffer.from('fine') }])), true)
  assert.equal(await guard.canActivate(ctx([{ buffer: Buffer.from('fine') }, { buffer: EICAR }])), false)
})

test('createPolicy middleware and nestGuard read disk-storage uploads; a file with no content is an error, never allowed', async (t) => {
  const dir = tempDir(t)
  const onDisk = { originalname: 'e.txt', path: writeFile(dir, 'e.txt', EICAR) }
  const cleanOnDisk = { originalname: 'a.txt', path: writeFile(dir, 'a.txt', 'fine') }
  const policy = pompelmi.createPolicy({ scan: TCP })
  const guard = policy.nestGuard()
  const ctx = (file) => ({ switchToHttp: () => ({ getRequest: () => ({ file }) }) })
  assert.equal(await guard.canActivate(ctx(cleanOnDisk)), true)
  assert.equal(await guard.canActivate(ctx(onDisk)), false, 'the file on disk is scanned, not an empty buffer')
  const res = { code: 0, body: null, status(c) { this.code = c; return this }, json(b) { this.body = b } }
  await policy.middleware()({ file: onDisk }, res, () => assert.fail('a malicious file went on'))
  assert.deepEqual([res.code, res.body], [403, { error: 'virus_detected', file: 'e.txt' }])
  await assert.rejects(guard.canActivate(ctx({ originalname: 'x.bin' })), /x\.bin has neither a buffer nor a path/)
  const handed = await new Promise((resolve) => policy.middleware()({ file: { originalname: 'x.bin' } }, res, resolve))
  assert.match(handed.message, /cannot be checked/)
})

test('createScanner: events with virus names; a missing error listener does not crash', async (t) => {
  const dir = tempDir(t)
  const clean = writeFile(dir, 'a.txt', 'fine')
  const bad = writeFile(dir, 'b.txt', EICAR)
  const scanner = pompelmi.createScanner(TCP)
  const events = []
  scanner.on('clean', (f) => events.push(['clean', f]))
  scanner.on('malicious', (f, viruses) => events.push(['malicious', f, viruses]))
  const done = new Promise((resolve) => scanner.on('complete', resolve))
  scanner.scanDirectory(dir)
  await done
  assert.deepEqual(events, [['clean', clean], ['malicious', bad, ['Eicar-Test-Signature.UNOFFICIAL']]])
  // No 'error' listener: a failing scan must not take the process down.
  const child = spawnSync(process.execPath, ['-e', `const p = require(${JSON.stringify(path.join(__dirname, '..'))}); const s = p.createScanner({ port: 1 }); s.scan('/etc/hostname'); s.scanDirectory('/nonexistent'); setTimeout(() => console.log('alive'), 500)`], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'alive')
  const errors = []
  const withListener = pompelmi.createScanner({ port: await closedPort() })
  withListener.on('error', (err, file) => errors.push([err.code, file]))
  withListener.scan(clean)
  for (let i = 0; i < 50 && errors.length === 0; i++) await pause(10)
  assert.deepEqual(errors, [['ECONNREFUSED', clean]])
})

test('notify: JSON body, HMAC signature, onlyOnMalicious, errors, timeout (against a local HTTP server)', async (t) => {
  const received = []
  let status = 200
  let delay = 0
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) })
      setTimeout(() => res.writeHead(status).end(), delay)
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const url = `http://127.0.0.1:${server.address().port}/hook`
  await pompelmi.notify(url, { file: 'a.txt', verdict: Verdict.Clean })
  assert.equal(received.length, 0, 'clean results are not sent by default')
  await pompelmi.notify(url, { file: 'e.txt', verdict: Verdict.Malicious, viruses: ['Eicar'] }, { secret: 's3cret' })
  const { headers, body } = received[0]
  assert.deepEqual([body.file, body.verdict, body.viruses, typeof body.timestamp, typeof body.hostname], ['e.txt', 'Malicious', ['Eicar'], 'string', 'string'])
  const expected = crypto.createHmac('sha256', 's3cret').update(JSON.stringify(body)).digest('hex')
  assert.equal(headers['x-pompelmi-signature'], `sha256=${expected}`)
  await pompelmi.notify(url, { verdict: Verdict.Clean }, { onlyOnMalicious: false })
  assert.equal(received[1].body.verdict, 'Clean')
  assert.equal(received[1].headers['x-pompelmi-signature'], undefined)
  await assert.rejects(pompelmi.notify('', {}), /webhookUrl must be a non-empty string/)
  await assert.rejects(pompelmi.notify(url, null), /scanResult must be an object/)
  await assert.rejects(pompelmi.notify('not a url', {}), /Invalid webhookUrl: not a url/)
  status = 500
  await assert.rejects(pompelmi.notify(url, { verdict: Verdict.Malicious }), /Webhook responded with HTTP 500/)
  status = 200
  delay = 500
  await assert.rejects(pompelmi.notify(url, { verdict: Verdict.Malicious }, { timeout: 100 }), { code: 'ETIMEDOUT' })
})

test('scanS3: a stub S3 client, no network; without the SDK and no client, the 1.x message', async () => {
  class Stub {
    async send(command) {
      assert.deepEqual(command.input, { Bucket: 'uploads', Key: 'eicar.com' })
      return { Body: Readable.toWeb(Readable.from([EICAR])) }
    }
  }
  assert.equal(await pompelmi.scanS3({ bucket: 'uploads', key: 'eicar.com', client: new Stub() }, TCP), Verdict.Malicious)
  await assert.rejects(pompelmi.scanS3({ bucket: 'b', key: 'k' }, TCP), { message: 'Install AWS SDK: npm install @aws-sdk/client-s3' })
})

test('watch with quarantine: malicious files moved with a sidecar (real virus name, sha256), never overwriting', async (t) => {
  const dir = tempDir(t)
  const quarantine = path.join(tempDir(t), 'q', 'nested')
  const seen = { clean: [], malicious: [] }
  const watcher = pompelmi.watch(dir, { ...TCP, quarantine }, {
    onClean: (f) => seen.clean.push(f),
    onMalicious: (f, viruses, moved) => seen.malicious.push({ f, viruses, moved }),
  })
  t.after(() => watcher.close())
  writeFile(dir, 'fine.txt', 'fine')
  writeFile(dir, 'evil.com', EICAR)
  for (let i = 0; i < 100 && seen.malicious.length + seen.clean.length < 2; i++) await pause(50)
  assert.deepEqual(seen.clean, [path.join(dir, 'fine.txt')])
  assert.equal(seen.malicious.length, 1)
  const { moved, viruses } = seen.malicious[0]
  assert.deepEqual(viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  assert.equal(moved, path.join(quarantine, 'evil.com.quarantined'))
  assert.equal(fs.existsSync(path.join(dir, 'evil.com')), false)
  const sidecar = JSON.parse(fs.readFileSync(`${moved}.json`, 'utf8'))
  assert.equal(sidecar.virus, 'Eicar-Test-Signature.UNOFFICIAL')
  assert.equal(sidecar.sha256, crypto.createHash('sha256').update(EICAR).digest('hex'))
  // A second file of the same name does not overwrite the first.
  writeFile(dir, 'evil.com', Buffer.concat([EICAR, Buffer.from(' again')]))
  for (let i = 0; i < 100 && seen.malicious.length < 2; i++) await pause(50)
  assert.equal(seen.malicious[1].moved, path.join(quarantine, 'evil.com.1.quarantined'))
  assert.equal(fs.readFileSync(moved, 'utf8'), EICAR.toString(), 'the first quarantined file is intact')
})

test('generateDashboard and generateShareCard: counts, virus names, escaped paths, dark mode, print CSS', (t) => {
  const rows = [
    { file: '/up/<script>alert(1)</script>.txt', verdict: 'clean' },
    { file: '/up/eicar.com', verdict: 'infected', viruses: ['Eicar-Test-Signature'] },
    { file: '/up/broken', verdict: 'error' },
  ]
  const out = path.join(tempDir(t), 'report.html')
  const html = pompelmi.generateDashboard(rows, { outputPath: out, elapsed: 1234, clamdVersion: 'ClamAV 1.4.6', port: 3310 })
  assert.ok(html.startsWith('<!DOCTYPE html>'))
  assert.equal(fs.readFileSync(out, 'utf8'), html)
  for (const needle of ['banner infected', 'Eicar-Test-Signature', '&lt;script&gt;', 'prefers-color-scheme', '@media print', 'pompelmi.app', '<b>3</b>scanned', '<b>1</b>infected']) assert.ok(html.includes(needle), needle)
  assert.ok(!html.includes('<script>alert'), 'paths are escaped')
  assert.ok(pompelmi.generateDashboard({ clean: ['/a'], malicious: [], errors: [] }).includes('banner clean'))
  const svg = pompelmi.generateShareCard(rows)
  assert.ok(svg.startsWith('<svg') && svg.trim().endsWith('</svg>'))
  assert.match(svg, /3 files scanned — 1 infected/)
  // Each count is an element of its own, over its label, as in 1.x.
  assert.match(svg, /<text id="infected"[^>]*>1<\/text>\s*<text[^>]*>INFECTED<\/text>/)
  assert.match(svg, /<text id="total"[^>]*>3<\/text>\s*<text[^>]*>TOTAL<\/text>/)
  assert.match(svg, /<text id="clean"[^>]*>1<\/text>\s*<text[^>]*>CLEAN<\/text>/)
  assert.match(svg, new RegExp(String(new Date().getFullYear())))
  assert.match(pompelmi.generateShareCard({ clean: ['/a', '/b'], malicious: [], errors: [] }), /2 files scanned — All clean/)
})

test('generateScorecard: same checks, weights, grades, labels and recommendations as 1.x', async () => {
  const full = await pompelmi.generateScorecard({ scanEnabled: true, mimeTypeAllowlist: ['image/png'], fileSizeLimit: 1e6, diskWriteBeforeScan: false, scanErrorBehavior: 'reject', clamdUnavailableBehavior: 'reject', tlsEnabled: true })
  assert.deepEqual([full.grade, full.score, full.recommendations], ['A', 100, []])
  const empty = await pompelmi.generateScorecard({})
  assert.deepEqual([empty.grade, empty.score, empty.recommendations.length], ['F', 0, 7])
  const b = await pompelmi.generateScorecard({ scanEnabled: true, mimeTypeAllowlist: ['a/b'], fileSizeLimit: 1, diskWriteBeforeScan: false, scanErrorBehavior: 'allow', clamdUnavailableBehavior: 'reject' })
  assert.deepEqual([b.grade, b.score, b.recommendations.length], ['B', 85, 2])
  assert.deepEqual(b.findings[0], { check: 'Virus scanning enabled', status: 'pass', weight: 30, key: 'scanEnabled' })
  assert.equal(b.findings.reduce((s, f) => s + f.weight, 0), 100)
  // 1.x's labels and recommendation texts, exactly, in 1.x's order.
  assert.deepEqual(empty.findings.map((f) => [f.key, f.check]), [
    ['scanEnabled', 'Virus scanning enabled'],
    ['mimeTypeAllowlist', 'MIME type allowlist'],
    ['fileSizeLimit', 'File size limit'],
    ['diskWriteBeforeScan', 'No disk write before scan'],
    ['scanErrorBehavior', 'Scan error behavior is reject'],
    ['clamdUnavailableBehavior', 'clamd unavailable behavior is reject'],
    ['tlsEnabled', 'TLS enabled on upload endpoint'],
  ])
  assert.deepEqual(b.recommendations, [
    'Set scanErrorBehavior to "reject" — failing open on scan errors is a security risk.',
    'Enable TLS (HTTPS) on your upload endpoint to protect files in transit.',
  ])
  assert.deepEqual(empty.recommendations.slice(0, 4), [
    'Enable virus scanning by integrating pompelmi into your upload handler.',
    'Define an explicit MIME type allowlist to reject unexpected file types.',
    'Set a maximum file size limit to prevent resource exhaustion.',
    'Scan files in-memory before writing to disk to avoid storing malware even temporarily.',
  ])
  assert.equal(empty.recommendations[5], 'Set clamdUnavailableBehavior to "reject" — if clamd is down, deny uploads rather than allowing them through.')
})

test('createMultiEngine: consensus over ClamAV endpoints and an HTTP-style engine; ScanError never clean; empty list is an error', async () => {
  assert.throws(() => pompelmi.createMultiEngine({ engines: [] }), /at least one engine/)
  const port = await closedPort()
  const clamav = { type: 'clamav', port: clamd.port }
  const unix = { type: 'clamav', socket: clamd.socket, name: 'clamav-unix' }
  const httpEngine = { name: 'http', scanBuffer: async (buf) => ({ verdict: buf.includes('suspicious') ? Verdict.Malicious : Verdict.Clean, viruses: buf.includes('suspicious') ? ['Http.Heuristic'] : [] }) }
  const any = pompelmi.createMultiEngine({ engines: [clamav, unix, httpEngine], consensus: 'any' })
  const r = await any.scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.Malicious)
  assert.deepEqual(r.engines.map((e) => [e.name, e.verdict]), [['clamav', Verdict.Malicious], ['clamav-unix', Verdict.Malicious], ['http', Verdict.Clean]])
  assert.deepEqual(r.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  const majority = pompelmi.createMultiEngine({ engines: [clamav, httpEngine, httpEngine], consensus: 'majority' })
  assert.equal((await majority.scanBuffer(Buffer.from('suspicious'))).verdict, Verdict.Malicious)
  const all = pompelmi.createMultiEngine({ engines: [clamav, httpEngine], consensus: 'all' })
  // 1.x's `all`: Malicious only when every engine says so; a Clean engine disagreeing makes it Clean.
  assert.equal((await all.scanBuffer(Buffer.from('suspicious'))).verdict, Verdict.Clean, 'not every engine says Malicious')
  // A failing engine is a ScanError, and any + [ScanError, Clean] is not Clean (1.x said Clean).
  const failing = pompelmi.createMultiEngine({ engines: [{ type: 'clamav', port }, httpEngine], consensus: 'any' })
  const f = await failing.scanBuffer(Buffer.from('fine'))
  assert.equal(f.verdict, Verdict.ScanError)
  assert.match(f.engines[0].error, /ECONNREFUSED/)
  const file = writeFile(tempDir({ after: () => {} }), 'e.txt', EICAR)
  assert.equal((await any.scan(file)).verdict, Verdict.Malicious)
  await assert.rejects(any.scanBuffer('x'), { message: 'buffer must be a Buffer' })
  await assert.rejects(any.scan(1), { message: 'filePath must be a string' })
})
