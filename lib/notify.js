'use strict'
// notify: POST a scan result to a webhook as JSON, signed with HMAC-SHA256 when a secret is set
// (`X-Pompelmi-Signature: sha256=<hex>`), with a timeout (1.x had none) that bounds the whole
// request, answer included: a webhook that drips its answer cannot hold the call.

const crypto = require('node:crypto')
const http = require('node:http')
const https = require('node:https')
const os = require('node:os')

const { coded } = require('./core/errors.js')
const { own, nonNegative } = require('./core/options.js')
const { invalidOption } = require('./core/errors.js')

module.exports = async function notify(webhookUrl, scanResult, options) {
  const opts = own(options)
  const timeout = nonNegative(opts, 'timeout', 10000)
  const { onlyOnMalicious = true, secret } = opts
  if (typeof onlyOnMalicious !== 'boolean') throw invalidOption('onlyOnMalicious', 'a boolean', onlyOnMalicious)
  if (secret !== undefined && secret !== null && typeof secret !== 'string' && !Buffer.isBuffer(secret)) throw invalidOption('secret', 'a string', secret)
  if (!webhookUrl || typeof webhookUrl !== 'string') throw coded('webhookUrl must be a non-empty string', 'ERR_INVALID_ARG_TYPE')
  if (!scanResult || typeof scanResult !== 'object') throw coded('scanResult must be an object', 'ERR_INVALID_ARG_TYPE')
  let url
  try {
    url = new URL(webhookUrl)
  } catch {
    throw coded(`Invalid webhookUrl: ${webhookUrl}`, 'ERR_INVALID_URL')
  }
  const { verdict } = scanResult
  const name = typeof verdict === 'symbol' ? verdict.description : verdict ? String(verdict) : 'Unknown'
  if (onlyOnMalicious && name !== 'Malicious') return
  const body = JSON.stringify({
    file: scanResult.file ?? null,
    verdict: name,
    viruses: scanResult.viruses || [],
    timestamp: new Date().toISOString(),
    hostname: os.hostname(),
  })
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'User-Agent': 'pompelmi-webhook/1.0' }
  if (secret) headers['X-Pompelmi-Signature'] = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`
  await new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers }, (res) => {
      res.resume()
      res.on('error', reject)
      res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300 ? resolve() : reject(Object.assign(coded(`Webhook responded with HTTP ${res.statusCode}`, 'ERR_WEBHOOK_STATUS'), { status: res.statusCode }))))
    })
    // One deadline for the whole exchange (connect, upload, the answer to its last byte).
    const timer = timeout > 0 ? setTimeout(() => req.destroy(Object.assign(new Error(`Webhook timed out after ${timeout}ms`), { code: 'ETIMEDOUT' })), timeout) : null
    req.on('close', () => clearTimeout(timer))
    req.on('error', reject)
    req.end(body)
  })
}
