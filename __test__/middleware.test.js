'use strict'
// middleware() with real express and multer, real HTTP requests, and a real clamd.
const test = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const multer = require('multer')

const { middleware, Verdict } = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { startFakeClamd, serveSession, closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }

async function serve(t, app) {
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${server.address().port}`
}

function appWith(upload, scan) {
  const app = express()
  app.post('/upload', upload, scan, (req, res) => {
    res.json({
      ok: true,
      verdict: req.pompelmi.verdict.description,
      files: req.pompelmi.files.map((f) => ({ name: f.originalname, verdict: f.report.verdict.description, viruses: f.report.viruses })),
    })
  })
  app.use((err, req, res, _next) => res.status(500).json({ nextErr: err.message, code: err.code }))
  return app
}

function form(files) {
  const body = new FormData()
  for (const [field, name, content] of files) body.append(field, new Blob([content]), name)
  return body
}

async function post(url, files) {
  const res = await fetch(`${url}/upload`, { method: 'POST', body: form(files) })
  return { status: res.status, body: await res.json() }
}

test('memory storage: clean passes with reports, EICAR gets 403 with the virus name', async (t) => {
  const url = await serve(t, appWith(multer({ storage: multer.memoryStorage() }).single('file'), middleware({ port: clamd.port })))
  const clean = await post(url, [['file', 'hello.txt', 'hello']])
  assert.deepEqual(clean, { status: 200, body: { ok: true, verdict: 'Clean', files: [{ name: 'hello.txt', verdict: 'Clean', viruses: [] }] } })
  const bad = await post(url, [['file', 'eicar.com', EICAR]])
  assert.equal(bad.status, 403)
  assert.equal(bad.body.error, 'Malicious file detected')
  assert.deepEqual(bad.body.files, [{ field: 'file', name: 'eicar.com', viruses: ['Eicar-Test-Signature.UNOFFICIAL'] }])
})

test('disk storage (path) over the UNIX socket, and an empty upload', async (t) => {
  const upload = multer({ dest: tempDir(t) }).single('file')
  const url = await serve(t, appWith(upload, middleware({ socket: clamd.socket })))
  assert.equal((await post(url, [['file', 'eicar.txt', EICAR]])).status, 403)
  const ok = await post(url, [['file', 'fine.txt', 'fine']])
  assert.equal(ok.status, 200)
  assert.equal(ok.body.files[0].verdict, 'Clean')
  assert.equal((await post(url, [['file', 'empty.txt', '']])).status, 200)
})

test('req.files as an array and as a fields object: every file is checked', async (t) => {
  const mem = multer({ storage: multer.memoryStorage() })
  const arrayUrl = await serve(t, appWith(mem.array('docs'), middleware({ port: clamd.port })))
  const many = await post(arrayUrl, [['docs', 'a.txt', 'a'], ['docs', 'b.txt', 'b'], ['docs', 'c.txt', EICAR]])
  assert.equal(many.status, 403)
  assert.deepEqual(many.body.files.map((f) => f.name), ['c.txt'])
  const fieldsUrl = await serve(t, appWith(mem.fields([{ name: 'avatar' }, { name: 'cv' }]), middleware({ port: clamd.port, uploadField: 'none' })))
  assert.equal((await post(fieldsUrl, [['avatar', 'a.png', 'png'], ['cv', 'cv.pdf', EICAR]])).status, 403)
  const cleanFields = await post(fieldsUrl, [['avatar', 'a.png', 'png'], ['cv', 'cv.pdf', 'pdf']])
  assert.equal(cleanFields.status, 200)
  assert.equal(cleanFields.body.files.length, 2)
})

test('a request without files goes straight on', async (t) => {
  const app = express()
  app.post('/upload', multer().none(), middleware({ port: clamd.port }), (req, res) => res.json({ scanned: 'pompelmi' in req }))
  const url = await serve(t, app)
  const res = await fetch(`${url}/upload`, { method: 'POST', body: new FormData() })
  assert.deepEqual(await res.json(), { scanned: false })
})

test('fails closed: a ScanError or an unreachable clamd gives 422; onScanError "next" hands it to next(err)', async (t) => {
  const server = await startFakeClamd((conn) => serveSession(conn, () => 'INSTREAM size limit exceeded. ERROR'))
  t.after(() => server.close())
  const mem = multer({ storage: multer.memoryStorage() }).single('file')
  const url = await serve(t, appWith(mem, middleware({ port: server.port })))
  const limited = await post(url, [['file', 'big.bin', 'x']])
  assert.deepEqual(limited, { status: 422, body: { error: 'File could not be scanned', field: 'file', name: 'big.bin', reason: 'size-limit' } })
  const port = await closedPort()
  const downUrl = await serve(t, appWith(mem, middleware({ port })))
  const down = await post(downUrl, [['file', 'x.txt', 'x']])
  assert.deepEqual(down, { status: 422, body: { error: 'File could not be scanned', field: 'file', name: 'x.txt', reason: 'ECONNREFUSED' } })
  const nextUrl = await serve(t, appWith(mem, middleware({ port, onScanError: 'next' })))
  const handed = await post(nextUrl, [['file', 'x.txt', 'x']])
  assert.equal(handed.status, 500)
  assert.equal(handed.body.code, 'ERR_SCAN_FAILED')
  assert.match(handed.body.nextErr, /^ScanError for x\.txt: connect ECONNREFUSED/)
})

test('middleware() rejects an unknown onScanError value', () => {
  assert.throws(() => middleware({ onScanError: 'ignore' }), /onScanError/)
  assert.equal(typeof middleware(), 'function')
  assert.equal(Verdict.Clean.description, 'Clean')
})

test('an earlier handler already answered: a malicious upload goes to next(err) (403) and the request ends, never hangs', async (t) => {
  const app = express()
  const errors = []
  app.post(
    '/upload',
    multer({ storage: multer.memoryStorage() }).any(),
    (req, res, next) => {
      res.status(200).json({ early: true }) // e.g. an upload progress endpoint that answers first
      next()
    },
    middleware({ port: clamd.port }),
    () => errors.push('the route ran'),
  )
  app.use((err, _req, _res, _next) => errors.push([err.status, err.code]))
  const url = await serve(t, app)
  const res = await fetch(`${url}/upload`, { method: 'POST', body: form([['file', 'e.com', EICAR]]), signal: AbortSignal.timeout(10000) })
  assert.deepEqual(await res.json(), { early: true })
  for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(errors, [[403, 'ERR_MALICIOUS_UPLOAD']])
})

test('middleware with multer upload.fields(): an EICAR in a second field is found (1.x scanned only uploadField)', async (t) => {
  const app = express()
  const upload = multer({ storage: multer.memoryStorage() }).fields([{ name: 'file' }, { name: 'avatar' }])
  app.post('/u', upload, middleware(TCP), (req, res) => res.json({ ok: true }))
  const url = await serve(t, app)
  const body = new FormData()
  body.append('file', new Blob(['harmless']), 'a.txt')
  body.append('avatar', new Blob([EICAR]), 'b.png')
  const res = await fetch(`${url}/u`, { method: 'POST', body })
  assert.equal(res.status, 403)
  const json = await res.json()
  assert.deepEqual(json.files.map((f) => [f.field, f.viruses]), [['avatar', ['Eicar-Test-Signature.UNOFFICIAL']]])
})

test('middleware: malformed req.files entries answer 422 and never throw', async () => {
  const mw = middleware(TCP)
  for (const req of [{ files: [null] }, { files: { avatar: [{ fieldname: 'avatar' }] } }, { files: { avatar: 'x' } }, { file: 42 }]) {
    const res = { code: null, body: null, status(c) { this.code = c; return this }, json(b) { this.body = b; return this } }
    let nexted = false
    await mw(req, res, () => (nexted = true)) // resolves: a rejection would leave Express 4 hanging
    assert.equal(res.code, 422, JSON.stringify(req))
    assert.equal(nexted, false)
  }
})
