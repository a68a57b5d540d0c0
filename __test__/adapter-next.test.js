'use strict'
// pompelmi/next: withScan's route handler called with real Requests built from real multipart
// bodies, against a real clamd: every upload case; the handler's own Response; a body that is
// not a form; and examples/next/'s route, run as the app would run it.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { withScan, withPompelmi, withPompelmiHandler } = require('pompelmi/next')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR } = require('./helpers/samples.js')
const { linkedProject } = require('./helpers/project.js')
const { uploadCases, silentClamd, form, handlerBody, expectedBody } = require('./helpers/uploads.js')

const clamd = startClamd('main')
const ROOT = path.join(__dirname, '..')
const down = async () => ({ port: await closedPort(), retries: 0 })

/** A Request as Next hands it to a route handler: a real multipart body, encoded by undici. */
const upload = (files) => new Request('http://localhost/api/upload', { method: 'POST', body: form(files) })

async function call(route, request, context = { params: Promise.resolve({}) }) {
  const res = await route(request, context)
  return [res.status, await res.json()]
}

test('every upload case: 403/422 answered by withScan, the handler never runs; otherwise its own Response', async () => {
  for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
    const handled = { runs: 0 }
    const route = withScan(async (request, context, { formData, pompelmi }) => {
      handled.runs++
      assert.ok(formData instanceof FormData)
      assert.deepEqual(await context.params, {})
      return Response.json(handlerBody(pompelmi.files.length ? pompelmi : null), { headers: { 'x-handler': 'yes' } })
    }, c.options)
    const res = await route(upload(c.files), { params: Promise.resolve({}) })
    const body = await res.json()
    assert.equal(res.status, c.status, `${c.name}: ${JSON.stringify(body)}`)
    if (c.status === 200) {
      assert.deepEqual([handled.runs, body, res.headers.get('x-handler')], [1, expectedBody(c), 'yes'], c.name)
    } else assert.deepEqual([handled.runs, body], [0, c.body], c.name)
  }
})

test('a body that is not a form is 422; GET goes to the handler with formData null; the 1.x adapter names', async () => {
  const route = withScan(async (_request, _context, { formData, pompelmi }) => Response.json({ formData, verdict: pompelmi.verdict.description }), { socket: clamd.socket })
  assert.deepEqual(await call(route, new Request('http://localhost/x', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: EICAR })), [
    422,
    { error: 'File could not be scanned', reason: 'ERR_INVALID_FORM' },
  ])
  assert.deepEqual(await call(route, new Request('http://localhost/x', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: 'garbage' })), [
    422,
    { error: 'File could not be scanned', reason: 'ERR_INVALID_FORM' },
  ])
  assert.deepEqual(await call(route, new Request('http://localhost/x')), [200, { formData: null, verdict: 'Clean' }])
  assert.equal(withPompelmi, withScan)
  assert.equal(withPompelmiHandler, withScan)
  assert.throws(() => withScan('not a function'), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => withScan(() => {}, { port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
})

test('examples/next: serverExternalPackages and the Node.js runtime; its route scans as it says', async (t) => {
  const example = path.join(ROOT, 'examples', 'next')
  assert.match(fs.readFileSync(path.join(example, 'next.config.mjs'), 'utf8'), /serverExternalPackages: \['pompelmi'\]/)
  // The route file, in a project where 'pompelmi' is installed (linked), imported as Next would.
  const dir = linkedProject(t, { type: 'module' })
  fs.copyFileSync(path.join(example, 'app', 'api', 'upload', 'route.js'), path.join(dir, 'route.js'))
  process.env.CLAMAV_SOCKET = clamd.socket
  const route = await import(path.join(dir, 'route.js'))
  assert.equal(route.runtime, 'nodejs')
  assert.deepEqual(await call(route.POST, upload([['file', 'a.txt', 'clean'], ['file', 'b.txt', 'fine']])), [200, { stored: ['a.txt', 'b.txt'], verdict: 'Clean' }])
  const [status, body] = await call(route.POST, upload([['file', 'e.com', EICAR]]))
  assert.deepEqual([status, body.error], [403, 'Malicious file detected'])
})
