'use strict'
// Scanning an object from S3 (or any S3-compatible store) as a stream: the body goes straight
// to clamd, no temp file. `s3` is an S3Client from @aws-sdk/client-s3 (or anything with the same
// send() contract); `GetObjectCommand` its command class.
const { Readable } = require('node:stream')
const { inspectStream } = require(process.env.POMPELMI_MODULE || 'pompelmi')

async function scanObject({ s3, GetObjectCommand, bucket, key, clamd }) {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  // SDK v3 gives a Node Readable in Node; a web ReadableStream elsewhere.
  const body = Body instanceof Readable ? Body : Readable.fromWeb(Body)
  const report = await inspectStream(body, { ...clamd, timeout: 60_000 })
  return { key, verdict: report.verdict.description, viruses: report.viruses, bytes: report.bytes }
}

module.exports = { scanObject }
