'use strict'
// A streaming upload: the request body is piped to clamd as it arrives, never buffered whole and
// never written to disk. `curl --data-binary @file http://localhost:3000/upload`
const http = require('node:http')
const { scanStream, Verdict } = require(process.env.POMPELMI_MODULE || 'pompelmi')

function createServer(clamd) {
  return http.createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/upload') {
      res.writeHead(404).end()
      return
    }
    try {
      const verdict = await scanStream(req, { ...clamd, timeout: 30_000 })
      const status = verdict === Verdict.Clean ? 200 : verdict === Verdict.Malicious ? 403 : 422
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ verdict: verdict.description }))
    } catch (err) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message, code: err.code }))
    }
  })
}

if (require.main === module) {
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  createServer(clamd).listen(Number(process.env.PORT) || 3000)
}

module.exports = { createServer }
