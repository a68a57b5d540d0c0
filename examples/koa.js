'use strict'
// Koa + @koa/multer + pompelmi/koa: every file of the request is scanned after multer; 403 for a
// malicious file, 422 when one cannot be scanned.
// Run: CLAMAV_SOCKET=/tmp/pompelmi-clamd/main/clamd.sock node examples/koa.js
const Koa = require('koa')
const multer = require('@koa/multer')
// POMPELMI_MODULE: the tests run the examples against the repository instead of an installed package.
const pompelmi = require(process.env.POMPELMI_MODULE ? `${process.env.POMPELMI_MODULE}/lib/adapters/koa.js` : 'pompelmi/koa')

function createApp(clamd) {
  const app = new Koa()
  app.use(multer({ limits: { fileSize: 50 * 1024 * 1024 } }).any())
  app.use(pompelmi(clamd))
  app.use((ctx) => {
    // Only clean uploads get here; ctx.state.pompelmi holds the reports.
    ctx.body = { verdict: ctx.state.pompelmi.verdict.description, files: ctx.state.pompelmi.files.map((f) => f.originalname) }
  })
  return app
}

if (require.main === module) {
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  createApp(clamd).listen(Number(process.env.PORT) || 3000)
}

module.exports = { createApp }
