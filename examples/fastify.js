'use strict'
// Fastify 5 + @fastify/multipart + pompelmi/fastify: buffered uploads are scanned before the route
// runs; 403 for a malicious file, 422 when one cannot be scanned.
// Run: CLAMAV_SOCKET=/tmp/pompelmi-clamd/main/clamd.sock node examples/fastify.js
const Fastify = require('fastify')
// POMPELMI_MODULE: the tests run the examples against the repository instead of an installed package.
const pompelmi = require(process.env.POMPELMI_MODULE ? `${process.env.POMPELMI_MODULE}/lib/adapters/fastify.js` : 'pompelmi/fastify')

async function createApp(clamd) {
  const app = Fastify()
  await app.register(require('@fastify/multipart'), { attachFieldsToBody: true, limits: { fileSize: 50 * 1024 * 1024 } })
  await app.register(pompelmi, clamd)
  app.post('/upload', async (request) => {
    // Only clean uploads get here; request.pompelmi holds the reports.
    return { verdict: request.pompelmi.verdict.description, files: request.pompelmi.files.map((f) => f.originalname) }
  })
  return app
}

if (require.main === module) {
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  createApp(clamd).then((app) => app.listen({ port: Number(process.env.PORT) || 3000 }))
}

module.exports = { createApp }
