'use strict'
// notify: webhooks against a local HTTP server. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const http = require('node:http')

const pompelmi = require('..')
const { Verdict } = pompelmi


test('notify: JSON body, HMAC signature, onlyOnMalicious, errors, timeout (against a local HTTP server)', async (t) => {
  const received = []
  let status = 200
  let delay = 0
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) })
      setTimeout(() => res.writeHead(status).end(), delay)
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const url = `http://127.0.0.1:${server.address().port}/hook`
  await pompelmi.notify(url, { file: 'a.txt', verdict: Verdict.Clean })
  assert.equal(received.length, 0, 'clean results are not sent by default')
  await pompelmi.notify(url, { file: 'e.txt', verdict: Verdict.Malicious, viruses: ['Eicar'] }, { secret: 's3cret' })
  const { headers, body } = received[0]
  assert.deepEqual([body.file, body.verdict, body.viruses, typeof body.timestamp, typeof body.hostname], ['e.txt', 'Malicious', ['Eicar'], 'string', 'string'])
  const expected = crypto.createHmac('sha256', 's3cret').update(JSON.stringify(body)).digest('hex')
  assert.equal(headers['x-pompelmi-signature'], `sha256=${expected}`)
  await pompelmi.notify(url, { verdict: Verdict.Clean }, { onlyOnMalicious: false })
  assert.equal(received[1].body.verdict, 'Clean')
  assert.equal(received[1].headers['x-pompelmi-signature'], undefined)
  await assert.rejects(pompelmi.notify('', {}), /webhookUrl must be a non-empty string/)
  await assert.rejects(pompelmi.notify(url, null), /scanResult must be an object/)
  await assert.rejects(pompelmi.notify('not a url', {}), /Invalid webhookUrl: not a url/)
  status = 500
  await assert.rejects(pompelmi.notify(url, { verdict: Verdict.Malicious }), /Webhook responded with HTTP 500/)
  status = 200
  delay = 500
  await assert.rejects(pompelmi.notify(url, { verdict: Verdict.Malicious }, { timeout: 100 }), { code: 'ETIMEDOUT' })
})

test('notify: timeout bounds the whole request, also against a webhook that drips its answer a byte at a time', async (t) => {
  const timers = new Set()
  const server = http.createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain' })
    const drip = setInterval(() => res.write('.'), 300)
    timers.add(drip)
    res.on('close', () => clearInterval(drip))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    for (const d of timers) clearInterval(d)
    server.closeAllConnections()
    return new Promise((r) => server.close(r))
  })
  const started = Date.now()
  await assert.rejects(pompelmi.notify(`http://127.0.0.1:${server.address().port}/`, { verdict: Verdict.Malicious }, { timeout: 1000 }), { code: 'ETIMEDOUT' })
  assert.ok(Date.now() - started < 3000, `settled after ${Date.now() - started} ms`)
})
