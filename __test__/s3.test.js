'use strict'
// scanS3 with a stub S3 client (no network). pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { EICAR } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }

test('scanS3: a stub S3 client, no network; without the SDK and no client, the 1.x message', async () => {
  class Stub {
    async send(command) {
      assert.deepEqual(command.input, { Bucket: 'uploads', Key: 'eicar.com' })
      return { Body: Readable.toWeb(Readable.from([EICAR])) }
    }
  }
  assert.equal(await pompelmi.scanS3({ bucket: 'uploads', key: 'eicar.com', client: new Stub() }, TCP), Verdict.Malicious)
  // Without the SDK (installed here for the S3 upload tests: hidden from a child process).
  const hideSdk = `const M = require('node:module'); const resolve = M._resolveFilename
    M._resolveFilename = function (id, ...rest) {
      if (id.startsWith('@aws-sdk/')) throw Object.assign(new Error('Cannot find module ' + id), { code: 'MODULE_NOT_FOUND' })
      return resolve.call(this, id, ...rest)
    }`
  const script = `${hideSdk}
    require(${JSON.stringify(require.resolve('..'))}).scanS3({ bucket: 'b', key: 'k' }, ${JSON.stringify(TCP)})
      .catch((err) => console.log(JSON.stringify({ message: err.message, code: err.code })))`
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.deepEqual(JSON.parse(r.stdout), { message: 'Install AWS SDK: npm install @aws-sdk/client-s3', code: 'MODULE_NOT_FOUND' })
})
