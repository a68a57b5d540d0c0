'use strict'
// Scan while uploading to S3 (or any S3-compatible store) with the scanning tee and
// @aws-sdk/lib-storage's Upload. Parts go up while clamd scans; the tee holds back the last chunk
// and the end until clamd says Clean, so the upload completes (CompleteMultipartUpload, or the
// single PutObject of a small file) only after a Clean verdict. On anything else the tee fails,
// Upload aborts the multipart upload (AbortMultipartUpload), and no object is left behind.
const { pipeline } = require('node:stream/promises')
const { Upload } = require('@aws-sdk/lib-storage')
const { passthrough } = require(process.env.POMPELMI_MODULE || 'pompelmi')

async function uploadScanned({ s3, bucket, key, body, clamd, partSize = 5 * 1024 * 1024 }) {
  const tee = passthrough(clamd)
  // leavePartsOnError: false (the default) is what removes the parts of a failed upload.
  const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: tee }, partSize, leavePartsOnError: false })
  const results = await Promise.allSettled([pipeline(body, tee), upload.done()])
  const failed = results.find((r) => r.status === 'rejected')
  // The tee's error says why (ERR_MALICIOUS_UPLOAD, ERR_SCAN_FAILED); otherwise S3's or the body's.
  if (failed) throw tee.errored || failed.reason
  return { report: await tee.report, location: results[1].value.Location }
}

module.exports = { uploadScanned }
