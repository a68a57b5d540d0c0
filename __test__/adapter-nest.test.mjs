// pompelmi/nest with a real NestJS 12 application on @nestjs/platform-express over real HTTP,
// against a real clamd: ClamavInterceptor after AnyFilesInterceptor through every upload case, and
// ClamavValidator in a plain ParseFilePipe (403 and 422 thrown by the validator itself).
// Decorators are applied with Reflect.decorate: plain JavaScript has no decorator syntax.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import 'reflect-metadata'
import { Controller, Module, ParseFilePipe, Post, Req, UploadedFile, UseInterceptors } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { AnyFilesInterceptor, FileInterceptor } from '@nestjs/platform-express'
import { ClamavInterceptor, ClamavValidator } from 'pompelmi/nest'

const require = createRequire(import.meta.url)
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR } = require('./helpers/samples.js')
const { uploadCases, silentClamd, postFiles, handlerBody, expectedBody } = require('./helpers/uploads.js')

const clamd = startClamd('main')
const down = async () => ({ port: await closedPort(), retries: 0 })

/** A Nest app with /upload (interceptor, every file) and /validated (ParseFilePipe, one file). */
async function nestApp(t, options) {
  const handled = { runs: 0 }
  class UploadController {
    upload(req) {
      handled.runs++
      return handlerBody(req.pompelmi)
    }
    validated(file) {
      handled.runs++
      return { name: file.originalname, size: file.size }
    }
  }
  const proto = UploadController.prototype
  Reflect.decorate([Post('upload'), UseInterceptors(AnyFilesInterceptor(), new ClamavInterceptor(options))], proto, 'upload', Object.getOwnPropertyDescriptor(proto, 'upload'))
  Req()(proto, 'upload', 0)
  Reflect.decorate([Post('validated'), UseInterceptors(FileInterceptor('file'))], proto, 'validated', Object.getOwnPropertyDescriptor(proto, 'validated'))
  UploadedFile(new ParseFilePipe({ validators: [new ClamavValidator(options)] }))(proto, 'validated', 0)
  Controller()(UploadController)
  class AppModule {}
  Module({ controllers: [UploadController] })(AppModule)
  const app = await NestFactory.create(AppModule, { logger: false })
  await app.listen(0, '127.0.0.1')
  t.after(() => app.close())
  return { base: await app.getUrl(), handled }
}

test('ClamavInterceptor: every upload case', async (t) => {
  for (const c of uploadCases({ socket: clamd.socket }, await down(), await silentClamd())) {
    const { base, handled } = await nestApp(t, c.options)
    const [status, body] = await postFiles(`${base}/upload`, c.files)
    // Nest answers a handled POST 201.
    assert.equal(status, c.status === 200 ? 201 : c.status, `${c.name}: ${JSON.stringify(body)}`)
    if (c.status === 200) assert.deepEqual([handled.runs, body], [1, expectedBody(c)], c.name)
    else assert.deepEqual([handled.runs, body], [0, c.body], c.name)
  }
})

test('ClamavValidator in a plain ParseFilePipe: 201 Clean, 403 EICAR, 422 clamd down, each thrown by the validator', async (t) => {
  const { base, handled } = await nestApp(t, { socket: clamd.socket })
  assert.deepEqual(await postFiles(`${base}/validated`, [['file', 'a.txt', 'clean']]), [201, { name: 'a.txt', size: 5 }])
  const [status, body] = await postFiles(`${base}/validated`, [['file', 'e.com', EICAR]])
  assert.deepEqual([status, body.error, body.files[0].viruses], [403, 'Malicious file detected', ['Eicar-Test-Signature.UNOFFICIAL']])
  const broken = await nestApp(t, await down())
  const [failed, why] = await postFiles(`${broken.base}/validated`, [['file', 'a.txt', 'clean']])
  assert.deepEqual([failed, why.reason], [422, 'ECONNREFUSED'])
  assert.equal(handled.runs + broken.handled.runs, 1)
  assert.throws(() => new ClamavValidator({ port: -1 }), { code: 'ERR_SOCKET_BAD_PORT' })
})
