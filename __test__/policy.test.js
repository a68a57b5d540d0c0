'use strict'
// createPolicy: checks, scanner availability, middleware and nestGuard. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }

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
