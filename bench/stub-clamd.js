'use strict'
// A stub clamd for the client-overhead scenario: answers every INSTREAM at once ("stream: OK"),
// inside IDSESSION or not, so that only the clients' own costs are measured.
const net = require('node:net')
const fs = require('node:fs')

const socketPath = process.argv[2]
fs.rmSync(socketPath, { force: true })
net
  .createServer((s) => {
    let buf = Buffer.alloc(0)
    let session = false
    let id = 0
    s.on('error', () => {})
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d
      for (;;) {
        if (buf.length === 0) return
        if (buf.subarray(0, 11).toString() === 'zIDSESSION\0') {
          session = true
          buf = buf.subarray(11)
          continue
        }
        if (buf.subarray(0, 5).toString() === 'zEND\0') return s.end()
        if (buf.subarray(0, 10).toString() !== 'zINSTREAM\0') return buf.length < 10 ? undefined : s.destroy()
        let off = 10
        let complete = false
        while (buf.length >= off + 4) {
          const len = buf.readUInt32BE(off)
          off += 4
          if (len === 0) {
            complete = true
            break
          }
          off += len
        }
        if (!complete || buf.length < off) return
        buf = buf.subarray(off)
        id++
        if (session) s.write(`${id}: stream: OK\0`)
        else return s.end('stream: OK\0')
      }
    })
  })
  .listen(socketPath, () => process.send && process.send('ready'))
