'use strict'
// pompelmi/koa with real Koa and @koa/multer over real HTTP, against a real clamd: every upload
// case (clean, EICAR, several files, another field, empty, over maxFileSize, clamd down), memory
// and disk storage, and pompelmi/multer's scanning storage engine.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const Koa = require('koa')
const multer = require('@koa/multer')

const pompelmi = require('pompelmi/koa')
const { scanningStorage } = require('pompelmi/multer')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { tempDir } = require('./helpers/samples.js')
const { uploadCases, silentClamd, postFiles, handlerBody, expectedBody } = require('./helpers/uploads.js')

const clamd = startClamd('main')

/** A Koa app: multer (`storage`), pompelmi, then a handler that counts its runs. */
async function app(t, options, storage) {
  const handled = { runs: 0 }
  const koa = new Koa()
  koa.use(multer(storage ? { storage } : undefined).any())
  koa.use(pompelmi(options))
  koa.use((ctx) => {
    handled.runs++
    ctx.body = handlerBody(ctx.state.pompelmi)
  })
  const server = koa.listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  return { url: `http://127.0.0.1:${server.address().port}/upload`, handled }
}

const down = async () => ({ port: await closedPort(), retries: 0 })

for (const [storageName, makeStorage] of Object.entries({ memory: () => undefined, disk: (t) => multer.diskStorage({ destination: tempDir(t) }) })) {
  test(`every upload case, ${storageName} storage`, async (t) => {
    for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
      const { url, handled } = await app(t, c.options, makeStorage(t))
      const [status, body] = await postFiles(url, c.files)
      assert.equal(status, c.status, `${c.name}: ${JSON.stringify(body)}`)
      if (c.status === 200) assert.deepEqual([handled.runs, body], [1, expectedBody(c)], c.name)
      else assert.deepEqual([handled.runs, body], [0, c.body], c.name)
    }
  })
}

test('with the scanning storage engine: reports are reused, EICAR never stays on disk', async (t) => {
  const dir = tempDir(t)
  const { url, handled } = await app(t, { socket: clamd.socket }, scanningStorage({ destination: dir, socket: clamd.socket }))
  const [ok, body] = await postFiles(url, [['file', 'a.txt', 'clean']])
  assert.deepEqual([ok, body, handled.runs, fs.readdirSync(dir).length], [200, { verdict: 'Clean', files: 1 }, 1, 1])
  const [bad] = await postFiles(url, [['file', 'e.com', require('./helpers/samples.js').EICAR]])
  // The engine fails the upload itself (403 from its error), before the middleware runs.
  assert.equal(bad, 403)
  assert.equal(fs.readdirSync(dir).length, 1)
})

test("onScanError: 'next' throws the 422 error to Koa's error handling; bad options throw at set-up", async (t) => {
  const koa = new Koa()
  koa.use(async (ctx, next) => {
    try {
      await next()
    } catch (err) {
      ctx.status = err.status
      ctx.body = { code: err.code, handled: 'by the app' }
    }
  })
  koa.use(multer().any())
  koa.use(pompelmi({ ...(await down()), onScanError: 'next' }))
  koa.use((ctx) => (ctx.body = 'never'))
  const server = koa.listen(0)
  t.after(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const [status, body] = await postFiles(`http://127.0.0.1:${server.address().port}/`, [['file', 'a.txt', 'x']])
  assert.deepEqual([status, body], [422, { code: 'ERR_SCAN_FAILED', handled: 'by the app' }])
  assert.throws(() => pompelmi({ port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
  assert.throws(() => pompelmi({ onScanError: 'ignore' }), { code: 'ERR_INVALID_ARG_VALUE' })
})
