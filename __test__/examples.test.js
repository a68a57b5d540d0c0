'use strict'
// The Compose example app, run against the private clamd in the two topologies of the user guide
// (a TCP sidecar and a shared UNIX socket), as local processes since Docker does not run here.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { startClamd } = require('./helpers/clamd.js')
const { EICAR } = require('./helpers/samples.js')

const ROOT = path.join(__dirname, '..')
const clamd = startClamd('main')

function runApp(env) {
  return execFileSync(process.execPath, [path.join(ROOT, 'examples', 'app.js')], {
    encoding: 'utf8',
    env: { ...process.env, POMPELMI_MODULE: ROOT, ...env },
    timeout: 20_000,
  })
}

test('both Compose set-ups mount examples/clamd.conf: AlertExceedsMax yes, limits in step with maxFileSize', () => {
  const conf = fs.readFileSync(path.join(ROOT, 'examples', 'clamd.conf'), 'utf8')
  const directives = Object.fromEntries(
    conf
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/\s+/, 2)),
  )
  assert.equal(directives.AlertExceedsMax, 'yes')
  assert.equal(directives.MaxFileSize, '100M') // pompelmi's default maxFileSize
  assert.equal(directives.StreamMaxLength, '100M')
  for (const topology of ['compose-tcp', 'compose-socket']) {
    const compose = fs.readFileSync(path.join(ROOT, 'examples', topology, 'docker-compose.yml'), 'utf8')
    assert.match(compose, /- \.\.\/clamd\.conf:\/etc\/clamav\/clamd\.conf:ro/, topology)
  }
  // clamd itself accepts the file (its paths aside): clamconf parses it without complaint.
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pompelmi-test-'))
  try {
    fs.writeFileSync(path.join(dir, 'clamd.conf'), conf)
    fs.writeFileSync(path.join(dir, 'freshclam.conf'), 'DatabaseMirror database.clamav.net\n')
    const out = execFileSync('clamconf', ['-c', dir], { encoding: 'utf8' })
    assert.match(out, /AlertExceedsMax = "yes"/)
    assert.match(out, /MaxFileSize = "104857600"/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('examples/app.js: TCP sidecar topology (CLAMAV_HOST/CLAMAV_PORT)', () => {
  assert.match(runApp({ CLAMAV_HOST: '127.0.0.1', CLAMAV_PORT: String(clamd.port) }), /clean buffer: Clean, EICAR: Malicious/)
})

test('examples/app.js: shared socket topology (CLAMAV_SOCKET)', () => {
  assert.match(runApp({ CLAMAV_SOCKET: clamd.socket }), /clean buffer: Clean, EICAR: Malicious/)
})

test('examples/express-multer.js: clean upload stored, EICAR refused with 403', async (t) => {
  process.env.POMPELMI_MODULE = ROOT
  const { createApp } = require('../examples/express-multer.js')
  const server = createApp({ port: clamd.port }).listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const url = `http://127.0.0.1:${server.address().port}/upload`
  const send = (name, content) => {
    const body = new FormData()
    body.append('file', new Blob([content]), name)
    return fetch(url, { method: 'POST', body })
  }
  const ok = await send('report.pdf', 'a clean report')
  assert.deepEqual([ok.status, await ok.json()], [200, { stored: 'report.pdf', verdict: 'Clean' }])
  const bad = await send('eicar.com', EICAR)
  assert.equal(bad.status, 403)
})

test('examples/streaming-upload.js: a request body piped to clamd, a large one without buffering it', async (t) => {
  process.env.POMPELMI_MODULE = ROOT
  const { createServer } = require('../examples/streaming-upload.js')
  const server = createServer({ socket: clamd.socket }).listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const url = `http://127.0.0.1:${server.address().port}/upload`
  const post = async (body) => {
    const res = await fetch(url, { method: 'POST', body, duplex: 'half' })
    return [res.status, (await res.json()).verdict]
  }
  assert.deepEqual(await post(Buffer.from('hello')), [200, 'Clean'])
  assert.deepEqual(await post(EICAR), [403, 'Malicious'])
  // 64 MiB streamed through: the server's memory does not grow by the upload's size.
  const chunk = Buffer.alloc(1024 * 1024, 0x61)
  let sent = 0
  const big = new ReadableStream({
    pull(controller) {
      if (sent++ === 64) controller.close()
      else controller.enqueue(chunk)
    },
  })
  const before = process.memoryUsage().rss
  assert.deepEqual(await post(big), [200, 'Clean'])
  assert.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'the upload was not buffered')
})

test('examples/s3-stream.js: an S3-style GetObject body scanned as a stream (stub client, no network)', async () => {
  process.env.POMPELMI_MODULE = ROOT
  const { scanObject } = require('../examples/s3-stream.js')
  const { Readable } = require('node:stream')
  class GetObjectCommand {
    constructor(input) {
      this.input = input
    }
  }
  const objects = { 'clean.txt': Buffer.from('fine'), 'bad.com': EICAR }
  const s3 = { send: async (cmd) => ({ Body: Readable.from([objects[cmd.input.Key]]) }) }
  const webS3 = { send: async (cmd) => ({ Body: Readable.toWeb(Readable.from([objects[cmd.input.Key]])) }) }
  assert.deepEqual(await scanObject({ s3, GetObjectCommand, bucket: 'b', key: 'clean.txt', clamd: { port: clamd.port } }), { key: 'clean.txt', verdict: 'Clean', viruses: [], bytes: 4 })
  const bad = await scanObject({ s3: webS3, GetObjectCommand, bucket: 'b', key: 'bad.com', clamd: { socket: clamd.socket } })
  assert.deepEqual([bad.verdict, bad.viruses], ['Malicious', ['Eicar-Test-Signature.UNOFFICIAL']])
})

test('examples/multer-storage.js: clean files stored, EICAR 403 and gone from disk', async (t) => {
  process.env.POMPELMI_MODULE = ROOT
  const { createApp } = require('../examples/multer-storage.js')
  const uploads = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pompelmi-test-'))
  t.after(() => fs.rmSync(uploads, { recursive: true, force: true }))
  const server = createApp({ uploads, clamd: { socket: clamd.socket } }).listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const send = async (name, content) => {
    const body = new FormData()
    body.append('files', new Blob([content]), name)
    const res = await fetch(`http://127.0.0.1:${server.address().port}/upload`, { method: 'POST', body })
    return [res.status, await res.json()]
  }
  const [ok, stored] = await send('notes.txt', 'clean notes')
  assert.deepEqual([ok, stored[0].name, stored[0].verdict], [200, 'notes.txt', 'Clean'])
  assert.equal(fs.readFileSync(stored[0].path, 'utf8'), 'clean notes')
  const [bad, why] = await send('eicar.com', EICAR)
  assert.deepEqual([bad, why.code], [403, 'ERR_MALICIOUS_UPLOAD'])
  assert.deepEqual(fs.readdirSync(uploads), [path.basename(stored[0].path)])
})

/** Posts a clean file and EICAR to `url`: [status, body] each. */
async function cleanAndEicar(url) {
  const { postFiles } = require('./helpers/uploads.js')
  return [await postFiles(url, [['file', 'notes.txt', 'clean notes']]), await postFiles(url, [['file', 'eicar.com', EICAR]])]
}

test('examples/fastify.js and examples/koa.js: clean passes with its report, EICAR is 403', async (t) => {
  process.env.POMPELMI_MODULE = ROOT
  const fastify = await require('../examples/fastify.js').createApp({ socket: clamd.socket })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close())
  const koa = require('../examples/koa.js').createApp({ port: clamd.port }).listen(0)
  t.after(() => koa.close())
  await new Promise((r) => koa.once('listening', r))
  for (const port of [fastify.server.address().port, koa.address().port]) {
    const [[ok, report], [bad, why]] = await cleanAndEicar(`http://127.0.0.1:${port}/upload`)
    assert.deepEqual([ok, report], [200, { verdict: 'Clean', files: ['notes.txt'] }])
    assert.deepEqual([bad, why.error], [403, 'Malicious file detected'])
  }
})

test('examples/hono.mjs on Node: clean passes, EICAR is 403', async (t) => {
  const { linkedProject } = require('./helpers/project.js')
  const dir = linkedProject(t, { type: 'module', packages: ['hono', '@hono/node-server'] })
  fs.copyFileSync(path.join(ROOT, 'examples', 'hono.mjs'), path.join(dir, 'hono.mjs'))
  const { createApp } = await import(path.join(dir, 'hono.mjs'))
  const { serve } = require('@hono/node-server')
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: createApp({ socket: clamd.socket }).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  t.after(() => server.close())
  const [[ok, report], [bad]] = await cleanAndEicar(`http://127.0.0.1:${server.address().port}/upload`)
  assert.deepEqual([ok, report], [200, { verdict: 'Clean', fields: ['title', 'file'] }])
  assert.equal(bad, 403)
})

test('examples/nest: compiled with tsc (decorators), served by Nest: clean passes, EICAR is 403 on both routes', async (t) => {
  const { linkedProject } = require('./helpers/project.js')
  const dir = linkedProject(t, { type: 'module', packages: ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs', '@types/node'] })
  const example = path.join(ROOT, 'examples', 'nest')
  for (const f of ['upload.controller.ts', 'main.ts', 'tsconfig.json']) fs.copyFileSync(path.join(example, f), path.join(dir, f))
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' })
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
  process.env.CLAMAV_SOCKET = clamd.socket
  const { createApp } = await import(path.join(dir, 'dist', 'main.js'))
  const app = await createApp()
  await app.listen(0, '127.0.0.1')
  t.after(() => app.close())
  const base = await app.getUrl()
  const [[ok, report], [bad]] = await cleanAndEicar(`${base}/upload`)
  assert.deepEqual([ok, report], [201, { verdict: 'Clean', files: ['notes.txt'] }])
  assert.equal(bad, 403)
  const [[stored, body], [refused]] = await cleanAndEicar(`${base}/avatar`)
  assert.deepEqual([stored, body], [201, { stored: 'notes.txt', size: 11 }])
  assert.equal(refused, 403)
})
