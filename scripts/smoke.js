#!/usr/bin/env node
'use strict'
// A smoke test of a built binary on any platform, with nothing installed but Node: the addon
// loads, and scans through it against a minimal in-process clamd (INSTREAM over TCP) give the
// right verdicts, errors are Node-shaped; with clamscan on PATH, local mode too. The release
// workflow runs it for every binary on a runner that can execute it.
const net = require('node:net')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const pompelmi = require(process.argv[2] || path.join(__dirname, '..'))

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')

/** Reads one INSTREAM request per connection and answers like clamd (EICAR found or OK). */
function miniClamd() {
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk])
      const session = data.subarray(0, 11).toString() === 'zIDSESSION\0'
      let off = session ? 11 : 0
      while (data.length >= off + 10 && data.subarray(off, off + 10).toString() === 'zINSTREAM\0') {
        let pos = off + 10
        const parts = []
        for (;;) {
          if (data.length < pos + 4) return
          const len = data.readUInt32BE(pos)
          if (len === 0) break
          if (data.length < pos + 4 + len) return
          parts.push(data.subarray(pos + 4, pos + 4 + len))
          pos += 4 + len
        }
        const payload = Buffer.concat(parts)
        const reply = payload.includes(EICAR) ? 'stream: Eicar-Test-Signature FOUND' : 'stream: OK'
        socket.write(`${session ? '1: ' : ''}${reply}\0`)
        data = data.subarray(pos + 4)
        if (!session) return socket.end()
        off = 0
        if (data.subarray(0, 5).toString() === 'zEND\0') return socket.end()
      }
    })
    socket.on('error', () => {})
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

;(async () => {
  const server = await miniClamd()
  const opts = { host: '127.0.0.1', port: server.address().port, maxConnections: 1 }
  assert.equal(await pompelmi.scanBuffer(EICAR, opts), pompelmi.Verdict.Malicious)
  assert.equal(await pompelmi.scanBuffer(Buffer.from('clean'), opts), pompelmi.Verdict.Clean)
  const report = await pompelmi.inspectBuffer(EICAR, opts)
  assert.deepEqual(report.viruses, ['Eicar-Test-Signature'])
  await assert.rejects(pompelmi.scanBuffer(EICAR, { host: '127.0.0.1', port: 1 }), { code: 'ECONNREFUSED', syscall: 'connect' })
  server.close()
  let local = 'skipped (no clamscan on PATH)'
  try {
    execFileSync('clamscan', ['--version'], { stdio: 'ignore' })
    const database = path.join(__dirname, '..', 'testdata', 'signatures')
    assert.equal(await pompelmi.scanBuffer(EICAR, { database }), pompelmi.Verdict.Malicious)
    local = 'ok'
  } catch (err) {
    if (err.code !== 'ENOENT' && !/ENOENT/.test(String(err.message))) throw err
  }
  console.log(`smoke: ${process.platform}-${process.arch}: clamd client ok, local mode ${local}`)
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
