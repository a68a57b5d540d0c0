'use strict'
// examples/s3-upload.js: scan while uploading to S3 with the scanning tee and lib-storage's
// Upload, against a real S3-compatible server (moto) and a real clamd. Clean objects exist
// afterwards, multipart and single part; EICAR at the end leaves no object and no unfinished
// multipart upload.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')
const { Readable } = require('node:stream')
const { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } = require('@aws-sdk/client-s3')

process.env.POMPELMI_MODULE = path.join(__dirname, '..')
const { Verdict } = require('..')
const { uploadScanned } = require('../examples/s3-upload.js')
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR } = require('./helpers/samples.js')
const { startS3 } = require('./helpers/s3.js')

const clamd = startClamd('main')
const MiB = 1024 * 1024
const started = startS3()

/** `size` bytes in 64 KiB chunks, `tail` last. */
function body(size, tail = Buffer.alloc(0)) {
  const data = Buffer.concat([crypto.randomBytes(size - tail.length), tail])
  const chunks = []
  for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024))
  return { data, stream: () => Readable.from(chunks) }
}

async function bucket(name) {
  const { s3 } = await started
  await s3.send(new CreateBucketCommand({ Bucket: name }))
  return s3
}

async function nothingLeft(s3, Bucket) {
  const objects = await s3.send(new ListObjectsV2Command({ Bucket }))
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }))
  return [objects.KeyCount || 0, (uploads.Uploads || []).length]
}

const read = async (s3, Bucket, Key) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body.transformToByteArray())

test('clean: a 12 MiB object (multipart) and a 1 MiB object (single part) exist afterwards, byte-identical', async () => {
  const s3 = await bucket('clean')
  for (const [key, size] of [['big.bin', 12 * MiB], ['small.bin', 1 * MiB]]) {
    const { data, stream } = body(size)
    const { report } = await uploadScanned({ s3, bucket: 'clean', key, body: stream(), clamd: { socket: clamd.socket } })
    assert.equal(report.verdict, Verdict.Clean)
    assert.equal(report.bytes, size)
    assert.ok((await read(s3, 'clean', key)).equals(data), key)
  }
  assert.deepEqual(await nothingLeft(s3, 'clean'), [2, 0])
})

test('EICAR at the end: rejects ERR_MALICIOUS_UPLOAD; no object, no unfinished multipart upload', async () => {
  const s3 = await bucket('infected')
  for (const [key, size] of [['big.bin', 12 * MiB], ['small.bin', 1 * MiB]]) {
    const { stream } = body(size, EICAR)
    await assert.rejects(uploadScanned({ s3, bucket: 'infected', key, body: stream(), clamd: { port: clamd.port } }), (err) => {
      assert.equal(err.code, 'ERR_MALICIOUS_UPLOAD', err.stack)
      assert.deepEqual(err.report.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
      return true
    })
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'infected', Key: key })), { name: 'NotFound' })
  }
  assert.deepEqual(await nothingLeft(s3, 'infected'), [0, 0])
})

test('clamd down: rejects ERR_SCAN_FAILED; nothing is left in the bucket', async () => {
  const s3 = await bucket('down')
  const { stream } = body(12 * MiB)
  await assert.rejects(uploadScanned({ s3, bucket: 'down', key: 'x.bin', body: stream(), clamd: { port: await closedPort(), retries: 0 } }), { code: 'ERR_SCAN_FAILED' })
  assert.deepEqual(await nothingLeft(s3, 'down'), [0, 0])
})

test('scanS3 reads an object back from the same server: Clean and Malicious', async () => {
  const s3 = await bucket('readback')
  const { PutObjectCommand } = require('@aws-sdk/client-s3')
  await s3.send(new PutObjectCommand({ Bucket: 'readback', Key: 'ok.txt', Body: 'fine' }))
  await s3.send(new PutObjectCommand({ Bucket: 'readback', Key: 'eicar.com', Body: EICAR }))
  const { scanS3 } = require('..')
  assert.equal(await scanS3({ bucket: 'readback', key: 'ok.txt', client: s3 }, { socket: clamd.socket }), Verdict.Clean)
  assert.equal(await scanS3({ bucket: 'readback', key: 'eicar.com', client: s3 }, { port: clamd.port }), Verdict.Malicious)
})
