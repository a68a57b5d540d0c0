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
  await assert.rejects(pompelmi.scanS3({ bucket: 'b', key: 'k' }, TCP), { message: 'Install AWS SDK: npm install @aws-sdk/client-s3' })
})
