'use strict'
// Express + multer (memory storage) + pompelmi's middleware: uploads are scanned before the
// route sees them. Run: CLAMAV_PORT=$(cat /tmp/pompelmi-clamd/main/port) node examples/express-multer.js
const express = require('express')
const multer = require('multer')
const { middleware } = require(process.env.POMPELMI_MODULE || 'pompelmi')

function createApp(clamd) {
  const app = express()
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 50 * 1024 * 1024 } })
  app.post('/upload', upload.single('file'), middleware(clamd), (req, res) => {
    // Only clean files get here; req.pompelmi holds the reports.
    res.json({ stored: req.file.originalname, verdict: req.pompelmi.verdict.description })
  })
  return app
}

if (require.main === module) {
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  const server = createApp(clamd).listen(Number(process.env.PORT) || 3000, () => console.log(`listening on ${server.address().port}`))
}

module.exports = { createApp }
