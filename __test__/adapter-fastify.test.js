'use strict'
// pompelmi/fastify with real Fastify 5 and @fastify/multipart over real HTTP, against a real
// clamd: buffered parts (attachFieldsToBody) through the plugin's preHandler hook, streamed parts
// through onFile and the scanning tee, request.saveRequestFiles(), fastify.pompelmi, and every
// upload case.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { pipeline } = require('node:stream/promises')
const Fastify = require('fastify')
const multipart = require('@fastify/multipart')

const pompelmiPlugin = require('pompelmi/fastify')
const { Verdict } = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir } = require('./helpers/samples.js')
const { uploadCases, silentClamd, postFiles, handlerBody, expectedBody } = require('./helpers/uploads.js')

const clamd = startClamd('main')
const down = async () => ({ port: await closedPort(), retries: 0 })

/** A Fastify app; `routes(app, handled)` adds its routes after the plugins. */
async function app(t, { multipartOptions = { attachFieldsToBody: true }, options, routes }) {
  const handled = { runs: 0 }
  const fastify = Fastify()
  await fastify.register(multipart, multipartOptions)
  await fastify.register(pompelmiPlugin, options)
  routes(fastify, handled)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close())
  return { base: `http://127.0.0.1:${fastify.server.address().port}`, handled, fastify }
}

const countingRoute = (fastify, handled) =>
  fastify.post('/upload', async (request) => {
    handled.runs++
    return handlerBody(request.pompelmi)
  })

test('buffered parts (attachFieldsToBody): every upload case, answered before the route runs', async (t) => {
  for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
    const { base, handled } = await app(t, { options: c.options, routes: countingRoute })
    const [status, body] = await postFiles(`${base}/upload`, c.files)
    assert.equal(status, c.status, `${c.name}: ${JSON.stringify(body)}`)
    if (c.status === 200) assert.deepEqual([handled.runs, body], [1, expectedBody(c)], c.name)
    else assert.deepEqual([handled.runs, body], [0, c.body], c.name)
  }
})

test('streamed parts: onFile scans each part through the tee as it arrives, and can store it', async (t) => {
  const dir = tempDir(t)
  const store = async (part, tee) => {
    const partial = path.join(dir, `.${part.filename}.partial`)
    try {
      await pipeline(tee, fs.createWriteStream(partial))
      fs.renameSync(partial, path.join(dir, part.filename))
    } catch (err) {
      fs.rmSync(partial, { force: true })
      throw err
    }
  }
  for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f))
    const onFile = pompelmiPlugin.onFile({ ...c.options, store })
    const { base, handled } = await app(t, { multipartOptions: { attachFieldsToBody: true, onFile }, options: c.options, routes: countingRoute })
    const [status, body] = await postFiles(`${base}/upload`, c.files)
    assert.equal(status, c.status, `${c.name}: ${JSON.stringify(body)}`)
    if (c.status === 200) {
      assert.deepEqual([handled.runs, body], [1, expectedBody(c)], c.name)
      assert.deepEqual(fs.readdirSync(dir).sort(), c.files.map(([, name]) => name).sort(), `${c.name}: stored`)
    } else {
      assert.deepEqual([handled.runs, body], [0, c.body], c.name)
      // What clamd did not pass was never stored.
      const stored = fs.readdirSync(dir)
      for (const [, name, content] of c.files) if (content === EICAR || c.status === 422) assert.ok(!stored.includes(name), `${c.name}: ${name} not stored`)
    }
  }
})

test('request.saveRequestFiles() resolves only after every saved file is scanned Clean', async (t) => {
  const routes = (fastify, handled) =>
    fastify.post('/save', async (request) => {
      const { files } = await request.saveRequestFiles()
      handled.runs++
      return { saved: files.map((f) => f.filename), verdict: request.pompelmi.verdict.description }
    })
  const { base, handled } = await app(t, { multipartOptions: {}, options: { socket: clamd.socket }, routes })
  assert.deepEqual(await postFiles(`${base}/save`, [['file', 'a.txt', 'clean'], ['other', 'b.txt', 'also clean']]), [200, { saved: ['a.txt', 'b.txt'], verdict: 'Clean' }])
  const [status, body] = await postFiles(`${base}/save`, [['file', 'a.txt', 'clean'], ['file', 'e.com', EICAR]])
  assert.deepEqual([status, body.statusCode, body.code, handled.runs], [403, 403, 'ERR_MALICIOUS_UPLOAD', 1])
  const downApp = await app(t, { multipartOptions: {}, options: await down(), routes })
  const [failed, why] = await postFiles(`${downApp.base}/save`, [['file', 'a.txt', 'clean']])
  assert.deepEqual([failed, why.code], [422, 'ERR_SCAN_FAILED'])
})

test('fastify.pompelmi: scan, scanBuffer, scanStream with the plugin options; preHandler({ field, onMalicious })', async (t) => {
  const routes = (fastify, handled) => {
    fastify.post(
      '/custom',
      { preHandler: fastify.pompelmi.preHandler({ field: 'doc', onMalicious: (request, reply, report) => reply.code(451).send({ custom: true, verdict: report.verdict.description }) }) },
      async (request) => {
        handled.runs++
        return handlerBody(request.pompelmi)
      },
    )
  }
  const { base, handled, fastify } = await app(t, { options: { socket: clamd.socket }, routes })
  assert.equal(await fastify.pompelmi.scanBuffer(EICAR), Verdict.Malicious)
  assert.equal(await fastify.pompelmi.scanStream([Buffer.from('fine')]), Verdict.Clean)
  assert.equal(await fastify.pompelmi.scan(path.join(__dirname, '..', 'testdata', 'clean.txt')), Verdict.Clean)
  assert.deepEqual(await postFiles(`${base}/custom`, [['doc', 'a.txt', 'x'], ['other', 'e.com', EICAR]]), [451, { custom: true, verdict: 'Malicious' }])
  assert.deepEqual(await postFiles(`${base}/custom`, [['doc', 'a.txt', 'x']]), [200, { verdict: 'Clean', files: 1 }])
  assert.equal(handled.runs, 1)
})

test("onScanError: 'next' hands the 422 error (statusCode) to Fastify's error handler; bad options fail registration", async (t) => {
  const { base } = await app(t, { options: { ...(await down()), onScanError: 'next' }, routes: countingRoute })
  const [status, body] = await postFiles(`${base}/upload`, [['file', 'a.txt', 'x']])
  assert.deepEqual([status, body.statusCode, body.code], [422, 422, 'ERR_SCAN_FAILED'])
  const bad = Fastify()
  await bad.register(multipart)
  await assert.rejects(async () => {
    await bad.register(pompelmiPlugin, { port: -1 })
    await bad.ready()
  }, { code: 'ERR_SOCKET_BAD_PORT' })
  await bad.close()
})
