'use strict'
// pompelmi/testing: mock scanners for applications' own tests. No clamd anywhere in this file:
// the mocks must never need one. Their Verdicts are the package's own symbols, their input checks
// the real functions' ones, and their middleware the real Express middleware (real Express and
// multer over real HTTP).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const express = require('express')
const multer = require('multer')

const pompelmi = require('..')
const { createMockScanner, mockClean, mockInfected, mockScanError, Verdict } = require('pompelmi/testing')
const { EICAR } = require('./helpers/samples.js')
const { postFiles } = require('./helpers/uploads.js')

const CLEAN_FILE = path.join(__dirname, '..', 'testdata', 'clean.txt')

test('mockClean, mockInfected, mockScanError: the package surface, its own Verdict symbols', async () => {
  assert.equal(Verdict, pompelmi.Verdict)
  const clean = mockClean()
  assert.equal(await clean.scanBuffer(Buffer.from('x')), pompelmi.Verdict.Clean)
  assert.equal(await clean.scan(CLEAN_FILE), Verdict.Clean)
  assert.equal(await clean.scanStream(new Blob(['x']).stream()), Verdict.Clean)
  assert.equal(await clean.scanBlob(new File(['x'], 'x.txt')), Verdict.Clean)
  const infected = mockInfected('Custom.Virus')
  const report = await infected.inspectBuffer(new Uint8Array([1, 2, 3]))
  assert.deepEqual([report.verdict, report.viruses, report.bytes, report.reason], [Verdict.Malicious, ['Custom.Virus'], 3, null])
  assert.deepEqual((await mockInfected().inspectStream([Buffer.from('a')])).viruses, ['Mock-Test-Signature'])
  const failing = mockScanError('too-large')
  const failed = await failing.inspect(CLEAN_FILE)
  assert.deepEqual([failed.verdict, failed.reason, failed.viruses], [Verdict.ScanError, 'too-large', []])
  assert.equal(await mockScanError().scanBuffer(Buffer.from('x')), Verdict.ScanError)
})

test('createMockScanner: byName (object or function) first, then byContent, then verdict; calls recorded', async () => {
  const scanner = createMockScanner({
    byName: { 'virus.exe': Verdict.Malicious },
    byContent: (bytes) => (bytes.includes(EICAR) ? Verdict.Malicious : bytes.length > 10 ? Verdict.ScanError : undefined),
  })
  assert.equal(await scanner.scanBlob(new File(['tiny'], 'virus.exe')), Verdict.Malicious)
  assert.equal(await scanner.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await scanner.scanBuffer(Buffer.from('more than ten bytes')), Verdict.ScanError)
  assert.equal(await scanner.scanBuffer(Buffer.from('short')), Verdict.Clean)
  const form = new FormData()
  form.append('a', new File(['ok'], 'a.txt'))
  form.append('b', new File(['ok'], 'virus.exe'))
  const result = await scanner.scanFormData(form)
  assert.deepEqual([result.verdict, result.files.map((f) => f.report.verdict)], [Verdict.Malicious, [Verdict.Clean, Verdict.Malicious]])
  assert.deepEqual(scanner.calls.slice(0, 2), [
    { fn: 'inspectBlob', name: 'virus.exe', bytes: 4 },
    { fn: 'inspectBuffer', name: undefined, bytes: EICAR.length },
  ])
  const byFunction = createMockScanner({ verdict: Verdict.ScanError, byName: (name) => (name.endsWith('.txt') ? Verdict.Clean : undefined) })
  assert.equal(await byFunction.scan(CLEAN_FILE), Verdict.Clean)
  assert.equal(await byFunction.scanBlob(new File(['x'], 'x.bin')), Verdict.ScanError)
})

test('mocks check inputs like the real functions and refuse bad options', async () => {
  const scanner = mockClean()
  await assert.rejects(scanner.scanBuffer('text'), { message: 'buffer must be a Buffer', code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(scanner.scanBuffer(Buffer.alloc(0)), { message: 'buffer is empty' })
  await assert.rejects(scanner.scanStream('text'), { message: 'stream must be a Readable' })
  await assert.rejects(scanner.scanBlob({}), { message: 'blob must be a Blob' })
  await assert.rejects(scanner.scanFormData({}), { message: 'formData must be a FormData' })
  await assert.rejects(scanner.scan('/no/such/file'), { message: 'File not found: /no/such/file', code: 'ENOENT' })
  assert.throws(() => createMockScanner({ verdict: 'Clean' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => createMockScanner({ byContent: 42 }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(createMockScanner({ byName: () => 'bad' }).scanBlob(new File(['x'], 'x')), { code: 'ERR_INVALID_ARG_VALUE' })
})

test("a mock's middleware in a real Express app: 403 by name, 422 for ScanError, clean passes", async (t) => {
  const scanner = createMockScanner({ byName: { 'eicar.com': Verdict.Malicious, 'broken.bin': Verdict.ScanError } })
  const server = express()
    .post('/upload', multer().any(), scanner.middleware(), (req, res) => res.json({ verdict: req.pompelmi.verdict.description }))
    .listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const url = `http://127.0.0.1:${server.address().port}/upload`
  assert.deepEqual(await postFiles(url, [['file', 'a.txt', 'x']]), [200, { verdict: 'Clean' }])
  const [status, body] = await postFiles(url, [['file', 'a.txt', 'x'], ['doc', 'eicar.com', 'harmless bytes']])
  assert.deepEqual([status, body], [403, { error: 'Malicious file detected', files: [{ field: 'doc', name: 'eicar.com', viruses: ['Mock-Test-Signature'] }] }])
  assert.deepEqual(await postFiles(url, [['file', 'broken.bin', 'x']]), [422, { error: 'File could not be scanned', field: 'file', name: 'broken.bin', reason: 'clamd-error' }])
})
