'use strict'
// pompelmi/hono with real Hono on @hono/node-server over real HTTP, against a real clamd: every
// upload case, the cached body read again by the handler, pompelmiMiddleware({ field, onInfected }),
// onScanError 'next'; and the same app under Bun and Deno (installed from npm by the test set-up).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Hono } = require('hono')
const { serve } = require('@hono/node-server')

const { pompelmiMiddleware } = require('pompelmi/hono')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR } = require('./helpers/samples.js')
const { linkedProject } = require('./helpers/project.js')
const { uploadCases, silentClamd, postFiles, handlerBody, expectedBody } = require('./helpers/uploads.js')

const clamd = startClamd('main')
const ROOT = path.join(__dirname, '..')
const down = async () => ({ port: await closedPort(), retries: 0 })

async function listen(t, hono) {
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  t.after(() => server.close())
  return `http://127.0.0.1:${server.address().port}`
}

function app(options, handled) {
  const hono = new Hono()
  hono.post('/upload', pompelmiMiddleware(options), async (c) => {
    handled.runs++
    // The body was parsed by the middleware; Hono hands the cached one back.
    const body = await c.req.parseBody({ all: true })
    return c.json({ ...handlerBody(c.get('pompelmi')), title: body.title })
  })
  return hono
}

test('every upload case; the handler reads the cached body again', async (t) => {
  for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
    const handled = { runs: 0 }
    const base = await listen(t, app(c.options, handled))
    const [status, body] = await postFiles(`${base}/upload`, c.files)
    assert.equal(status, c.status, `${c.name}: ${JSON.stringify(body)}`)
    if (c.status === 200) assert.deepEqual([handled.runs, body], [1, { ...expectedBody(c), title: 'a text field' }], c.name)
    else assert.deepEqual([handled.runs, body], [0, c.body], c.name)
  }
})

test('onInfected answers a Malicious request; onScanError next throws an HTTPException(422); non-form bodies pass', async (t) => {
  const hono = new Hono()
  hono.post('/custom', pompelmiMiddleware({ socket: clamd.socket, field: 'doc', onInfected: (c, report) => c.json({ custom: report.verdict.description }, 451) }), (c) => c.text('ok'))
  hono.post('/next', pompelmiMiddleware({ ...(await down()), onScanError: 'next' }), (c) => c.text('never'))
  hono.post('/json', pompelmiMiddleware({ socket: clamd.socket }), async (c) => c.json(await c.req.json()))
  hono.onError((err, c) => c.json({ status: err.status, code: err.cause && err.cause.code }, err.status || 500))
  const base = await listen(t, hono)
  assert.deepEqual(await postFiles(`${base}/custom`, [['doc', 'e.com', EICAR]]), [451, { custom: 'Malicious' }])
  assert.deepEqual(await postFiles(`${base}/next`, [['file', 'a.txt', 'x']]), [422, { status: 422, code: 'ERR_SCAN_FAILED' }])
  const res = await fetch(`${base}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  assert.deepEqual([res.status, await res.json()], [200, { a: 1 }])
  assert.throws(() => pompelmiMiddleware({ port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
})

/** The same app as a script for another runtime; prints its port, serves until killed. */
const RUNTIME_APP = (runtime) => `
import { Hono } from 'hono'
import { pompelmiMiddleware } from 'pompelmi/hono'
const app = new Hono()
app.post('/upload', pompelmiMiddleware({ socket: ${JSON.stringify(clamd.socket)} }), (c) => c.json({ verdict: c.get('pompelmi').verdict.description, runtime: ${JSON.stringify(runtime)} }))
${runtime === 'bun' ? 'const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch }); console.log(server.port)' : 'Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log(port) }, app.fetch)'}
`

const RUNTIMES = {
  bun: (file) => [path.join(ROOT, 'node_modules', '.bin', 'bun'), ['run', file]],
  deno: (file) => [path.join(ROOT, 'node_modules', '.bin', 'deno'), ['run', '-A', '--node-modules-dir=manual', file]],
}

for (const [runtime, command] of Object.entries(RUNTIMES)) {
  test(`Hono on ${runtime}: clean passes, EICAR is 403, the addon loads`, async (t) => {
    // A project of its own, with pompelmi and hono installed (linked), as an application has them.
    const dir = linkedProject(t, { type: 'module', packages: ['hono'] })
    const file = path.join(dir, 'app.js')
    require('node:fs').writeFileSync(file, RUNTIME_APP(runtime))
    const [bin, args] = command(file)
    const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    t.after(() => child.kill('SIGKILL'))
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const port = await new Promise((resolve, reject) => {
      child.stdout.once('data', (d) => resolve(Number(String(d).trim())))
      child.once('exit', (code) => reject(new Error(`${runtime} exited ${code}: ${stderr}`)))
    })
    const base = `http://127.0.0.1:${port}`
    assert.deepEqual(await postFiles(`${base}/upload`, [['file', 'a.txt', 'clean']]), [200, { verdict: 'Clean', runtime }])
    const [status, body] = await postFiles(`${base}/upload`, [['file', 'e.com', EICAR]])
    assert.deepEqual([status, body.error], [403, 'Malicious file detected'])
  })
}
