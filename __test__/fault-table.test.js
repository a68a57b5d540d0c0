'use strict'
// The fault table: every fault a fake clamd can inject, against every entry point. Each row
// asserts the outcome users get (a verdict or a specific rejection), within a bounded time; the
// file ends by checking that nothing leaked (no socket, no temp file, no unhandled rejection).
// The README's "Reliability" table is this file in words.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startFakeClamd, closedPort } = require('./helpers/fake-clamd.js')
const { pompelmiTempEntries } = require('./helpers/samples.js')

const TIMEOUT = 250
const PAYLOAD = Buffer.alloc(2 * 1024 * 1024, 0x61) // big enough to still be sending on an early reply
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-test-'))
const FILE = path.join(dir, 'payload.bin')
fs.writeFileSync(FILE, PAYLOAD)

const unhandled = []
process.on('unhandledRejection', (err) => unhandled.push(err))
const openFds = () => fs.readdirSync('/proc/self/fd').length
const tempBefore = pompelmiTempEntries()
let fdsBefore

const sharedClients = []
const entryPoints = {
  scan: (o) => pompelmi.scan(FILE, o),
  scanBuffer: (o) => pompelmi.scanBuffer(PAYLOAD, o),
  scanStream: (o) => pompelmi.scanStream(Readable.from([PAYLOAD.subarray(0, 1 << 20), PAYLOAD.subarray(1 << 20)]), o),
  inspect: (o) => pompelmi.inspect(FILE, o),
  inspectBuffer: (o) => pompelmi.inspectBuffer(PAYLOAD, o),
  inspectStream: (o) => pompelmi.inspectStream(Readable.from([PAYLOAD]), o),
  'a client with sessions': (o) => {
    const client = pompelmi.createClient(o)
    sharedClients.push(client)
    return Promise.all([client.scanBuffer(PAYLOAD), client.scanBuffer(PAYLOAD.subarray(0, 100))]).then(([a]) => a)
  },
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms))

/** Each fault: what the fake clamd does per connection, and the outcome users must get. */
const faults = {
  'connection refused': { port: 'closed', expect: { code: 'ECONNREFUSED' } },
  'accept, then close at once': {
    serve: (conn) => conn.socket.end(),
    expect: { codes: ['ECONNRESET', 'EPIPE'] },
  },
  'accept, never answer': { serve: () => {}, expect: { timeout: true } },
  'answer after 150 ms': {
    serve: async (conn) => {
      await conn.instream()
      await pause(150)
      conn.reply('stream: Slow.Sig FOUND')
    },
    expect: { verdict: Verdict.Malicious },
  },
  'drip the reply a byte at a time': {
    serve: async (conn) => {
      await conn.instream()
      for (const ch of `${conn.prefix}stream: Drip.Sig FOUND\0`) {
        conn.write(ch, { nul: false })
        await pause(2)
      }
      conn.socket.end()
    },
    expect: { verdict: Verdict.Malicious },
  },
  'reset mid-upload': {
    serve: async (conn) => {
      await conn.until(() => conn.bytes > 100_000)
      conn.reset()
    },
    expect: { codes: ['ECONNRESET', 'EPIPE'] },
  },
  'INSTREAM size limit exceeded, then close, while the client still sends': {
    serve: async (conn) => {
      await conn.command()
      conn.reply('INSTREAM size limit exceeded. ERROR')
    },
    expect: { verdict: Verdict.ScanError, reason: 'size-limit' },
  },
  'garbage instead of a reply': {
    serve: async (conn) => {
      await conn.instream()
      conn.write('\x01\x02\x03 garbage')
      conn.socket.end()
    },
    expect: { code: 'ERR_CLAMD_PROTOCOL' },
  },
  'a reply over the 64 KiB cap': {
    serve: async (conn) => {
      await conn.instream()
      conn.write(`${conn.prefix}${'stream: OK '.repeat(7000)}`)
      conn.socket.end()
    },
    expect: { code: 'ERR_CLAMD_PROTOCOL' },
  },
  'a reply without NUL, socket left open': {
    serve: async (conn) => {
      await conn.instream()
      conn.write(`${conn.prefix}stream: OK`, { nul: false })
    },
    expect: { timeout: true },
  },
  'a session reply with an unknown id': {
    serve: async (conn) => {
      await conn.instream()
      conn.write('77: stream: OK')
    },
    expect: { code: 'ERR_CLAMD_PROTOCOL' },
  },
  'stall after half the upload': {
    serve: async (conn) => {
      await conn.until(() => conn.bytes > PAYLOAD.length / 2)
      conn.socket.pause() // stop reading: the client's writes block
    },
    expect: { timeout: true },
  },
}

test.before(() => {
  fdsBefore = openFds()
})

for (const [faultName, fault] of Object.entries(faults)) {
  for (const [entryName, call] of Object.entries(entryPoints)) {
    test(`${faultName} → ${entryName}`, async () => {
      let server
      let port
      if (fault.port === 'closed') port = await closedPort()
      else {
        server = await startFakeClamd(fault.serve)
        port = server.port
      }
      const started = Date.now()
      try {
        const outcome = await call({ port, timeout: TIMEOUT }).then(
          (value) => ({ value }),
          (error) => ({ error }),
        )
        const elapsed = Date.now() - started
        assert.ok(elapsed < 3000, `settled in ${elapsed} ms`)
        const verdict = outcome.value && (typeof outcome.value === 'symbol' ? outcome.value : outcome.value.verdict)
        assert.notEqual(verdict, Verdict.Clean, 'a fault never turns into Clean')
        const { expect } = fault
        if (expect.verdict) {
          assert.ok(!outcome.error, `expected a verdict, got ${outcome.error && outcome.error.message}`)
          assert.equal(verdict, expect.verdict)
          if (expect.reason && typeof outcome.value === 'object') assert.equal(outcome.value.reason, expect.reason)
        } else {
          assert.ok(outcome.error instanceof Error, `expected a rejection, got ${String(verdict)}`)
          if (expect.timeout) {
            assert.equal(outcome.error.message, `clamd connection timed out after ${TIMEOUT}ms`)
            assert.equal(outcome.error.code, 'ETIMEDOUT')
          }
          if (expect.code) assert.equal(outcome.error.code, expect.code, outcome.error.message)
          if (expect.codes) assert.ok(expect.codes.includes(outcome.error.code), `${outcome.error.code}: ${outcome.error.message}`)
          if (outcome.error.syscall) assert.equal(typeof outcome.error.errno, 'number', 'Node-style errno')
        }
      } finally {
        if (server) await server.close()
      }
    })
  }
}

test('nothing leaks: sockets, descriptors, temp files, unhandled rejections', async () => {
  await Promise.all(sharedClients.map((c) => c.close()))
  // Idle sessions of the top-level shared clients end after 5 s; broken ones are already gone.
  for (let i = 0; i < 80 && openFds() > fdsBefore + 2; i++) await pause(100)
  assert.ok(openFds() <= fdsBefore + 2, `open descriptors: ${openFds()} (before: ${fdsBefore})`)
  assert.deepEqual(pompelmiTempEntries(), tempBefore)
  assert.deepEqual(unhandled, [])
  fs.rmSync(dir, { recursive: true, force: true })
})
