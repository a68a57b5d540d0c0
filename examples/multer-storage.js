'use strict'
// Express + multer with pompelmi's scanning storage engine: each file is scanned while it is
// written to disk, and reaches its final path only once clamd has said Clean. A malicious upload
// fails the request with 403, one that cannot be scanned with 422, and nothing of it stays on disk.
// Run: CLAMAV_SOCKET=/tmp/pompelmi-clamd/main/clamd.sock UPLOADS=/tmp/uploads node examples/multer-storage.js
const express = require('express')
const multer = require('multer')
// POMPELMI_MODULE: the tests run this file against the repository instead of an installed package.
const { scanningStorage } = require(process.env.POMPELMI_MODULE ? `${process.env.POMPELMI_MODULE}/lib/adapters/multer.js` : 'pompelmi/multer')

function createApp({ uploads, clamd }) {
  const upload = multer({ storage: scanningStorage({ destination: uploads, ...clamd }) })
  return express()
    .post('/upload', upload.array('files'), (req, res) => {
      // Only clean files get here, already stored; each has its report on file.pompelmi.
      res.json(req.files.map((f) => ({ name: f.originalname, path: f.path, verdict: f.pompelmi.verdict.description })))
    })
    .use((err, _req, res, _next) => {
      // err.status: 403 (ERR_MALICIOUS_UPLOAD) or 422 (ERR_SCAN_FAILED); multer's own errors: 400.
      res.status(err.status || (err.name === 'MulterError' ? 400 : 500)).json({ error: err.message, code: err.code })
    })
}

if (require.main === module) {
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  const server = createApp({ uploads: process.env.UPLOADS || '/tmp/uploads', clamd }).listen(Number(process.env.PORT) || 3000, () => console.log(`listening on ${server.address().port}`))
}

module.exports = { createApp }
