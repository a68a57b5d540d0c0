'use strict'
// scanS3: fetch an object with @aws-sdk/client-s3 (loaded only when used) and scan its body as a
// stream. `client` (an S3Client, or anything with the same send()) may be passed in.

const { Readable } = require('node:stream')

const { coded } = require('./core/errors.js')
const { scanStream } = require('./core/shared.js')

module.exports = async function scanS3(params, options) {
  const { bucket, key, region, credentials, client } = params || {}
  let sdk = null
  try {
    sdk = require('@aws-sdk/client-s3')
  } catch {
    if (!client) throw coded('Install AWS SDK: npm install @aws-sdk/client-s3', 'MODULE_NOT_FOUND')
  }
  const s3 = client || new sdk.S3Client({ ...(region && { region }), ...(credentials && { credentials }) })
  const input = { Bucket: bucket, Key: key }
  const command = sdk ? new sdk.GetObjectCommand(input) : { input }
  const { Body } = await s3.send(command)
  const body = Body instanceof Readable ? Body : Readable.fromWeb(Body)
  return scanStream(body, options)
}
