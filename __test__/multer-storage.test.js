'use strict'
// pompelmi/multer: the scanning storage engine in a real Express app with real multer, over real
// HTTP, against a real clamd (UNIX, TCP, local clamscan). Clean files end at their final path;
// EICAR never stays on disk, nor do the request's other files; clamd down answers 422 with
// nothing stored.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const express = require('express')
const multer = require('multer')

const { Verdict } = require('..')
const { scanningStorage } = require('pompelmi/multer')
const { startClamd, SIGNATURES } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir } = require('./helpers/samples.js')

const clamd = startClamd('main')
const MODES = { UNIX: { socket: clamd.socket }, TCP: { port: clamd.port }, local: { database: SIGNATURES } }

/** An Express app storing `files` uploads through the engine; errors answered as JSON with their status. */
async function app(t, storageOptions) {
  const upload = multer({ storage: scanningStorage(storageOptions) })
  const server = express()
    .post('/upload', upload.array('files'), (req, res) => {
      res.json({ files: req.files.map((f) => ({ name: f.originalname, path: f.path, size: f.size, verdict: f.pompelmi.verdict.description })) })
    })
    .post('/one', upload.single('file'), (req, res) => res.json({ verdict: req.file.pompelmi.verdict.description, path: req.file.path }))
    .use((err, _req, res, _next) => res.status(err.status || 500).json({ code: err.code, field: err.field, viruses: err.report && err.report.viruses }))
    .listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  return `http://127.0.0.1:${server.address().port}`
}

function form(files, field = 'files') {
  const body = new FormData()
  for (const [name, content] of files) body.append(field, new Blob([content]), name)
  return body
}

const post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', body })
  return [res.status, await res.json()]
}

for (const [mode, options] of Object.entries(MODES)) {
  test(`${mode}: clean files are stored at their final path with their report; EICAR is 403 and nothing stays`, async (t) => {
    const dir = tempDir(t)
    const url = await app(t, { destination: dir, ...options })
    const [status, body] = await post(`${url}/upload`, form([['a.txt', 'first clean file'], ['b.txt', Buffer.alloc(300 * 1024, 0x62)]]))
    assert.equal(status, 200)
    assert.deepEqual(
      body.files.map((f) => [f.name, f.size, f.verdict]),
      [['a.txt', 16, 'Clean'], ['b.txt', 300 * 1024, 'Clean']],
    )
    for (const f of body.files) assert.equal(path.dirname(f.path), dir)
    assert.equal(fs.readFileSync(body.files[0].path, 'utf8'), 'first clean file')
    assert.equal(fs.readdirSync(dir).length, 2, 'two files, no partial ones')

    // A clean file first, then EICAR in the same request: 403, and neither is left on disk.
    const empty = tempDir(t)
    const url2 = await app(t, { destination: empty, ...options })
    const [bad, why] = await post(`${url2}/upload`, form([['ok.txt', 'clean'], ['eicar.com', Buffer.concat([Buffer.alloc(100 * 1024, 0x20), EICAR])]]))
    assert.deepEqual([bad, why.code, why.field, why.viruses], [403, 'ERR_MALICIOUS_UPLOAD', 'files', ['Eicar-Test-Signature.UNOFFICIAL']])
    assert.deepEqual(fs.readdirSync(empty), [])
  })
}

test('single(): req.file.pompelmi; filename and destination functions as in diskStorage', async (t) => {
  const dir = tempDir(t)
  const url = await app(t, {
    socket: clamd.socket,
    destination: (_req, _file, cb) => cb(null, dir),
    filename: (_req, file, cb) => cb(null, `stored-${file.originalname}`),
  })
  const [status, body] = await post(`${url}/one`, form([['x.txt', 'hello']], 'file'))
  assert.deepEqual([status, body.verdict, body.path], [200, 'Clean', path.join(dir, 'stored-x.txt')])
  // A string destination that does not exist yet is created.
  const nested = path.join(tempDir(t), 'a', 'b')
  const url2 = await app(t, { socket: clamd.socket, destination: nested })
  assert.equal((await post(`${url2}/one`, form([['y.txt', 'hi']], 'file')))[0], 200)
  assert.equal(fs.readdirSync(nested).length, 1)
})

test('clamd down: 422 ERR_SCAN_FAILED and nothing stored; over maxFileSize: 422 too', async (t) => {
  const dir = tempDir(t)
  const url = await app(t, { destination: dir, port: await closedPort(), retries: 0 })
  const [status, body] = await post(`${url}/upload`, form([['a.txt', 'clean but unscanned']]))
  assert.deepEqual([status, body.code], [422, 'ERR_SCAN_FAILED'])
  assert.deepEqual(fs.readdirSync(dir), [])
  const url2 = await app(t, { destination: dir, socket: clamd.socket, maxFileSize: 1024 })
  const [big, why] = await post(`${url2}/upload`, form([['big.bin', Buffer.alloc(64 * 1024)]]))
  assert.deepEqual([big, why.code], [422, 'ERR_SCAN_FAILED'])
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('Express default error handler: the status is 403 or 422 from the error', async (t) => {
  const dir = tempDir(t)
  const upload = multer({ storage: scanningStorage({ destination: dir, socket: clamd.socket }) })
  const server = express()
    .post('/upload', upload.single('file'), (_req, res) => res.send('stored'))
    .listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const res = await fetch(`http://127.0.0.1:${server.address().port}/upload`, { method: 'POST', body: form([['e.com', EICAR]], 'file') })
  assert.equal(res.status, 403)
  await res.text()
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('bad options throw when the storage is made', () => {
  assert.throws(() => scanningStorage({ destination: 42 }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => scanningStorage({ filename: 'x' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => scanningStorage({ port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
  assert.equal(typeof scanningStorage({ socket: clamd.socket })._handleFile, 'function')
  assert.ok(Verdict.Clean)
})
