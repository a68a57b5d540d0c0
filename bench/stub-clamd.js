'use strict'
// A stub clamd for the bench: answers every INSTREAM with "stream: OK", inside IDSESSION or not.
//
//   node bench/stub-clamd.js [--service-ms N] [--slots K] SOCKET...
//
// Without options it answers at once, so that only the clients' own costs are measured. With
// `--service-ms` each request takes that long and each socket serves at most `--slots` requests at
// a time (the rest wait in order), like a CPU-bound clamd with K threads: the fleet scenario
// puts several such endpoints behind one client. Sends 'ready' to its parent once listening.
const net = require('node:net')
const fs = require('node:fs')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(name)
  if (i < 0) return fallback
  const [, value] = args.splice(i, 2)
  return Number(value)
}
const serviceMs = option('--service-ms', 0)
const slots = option('--slots', Infinity)

/** One endpoint: its own slots and queue. */
function endpoint(socketPath) {
  let busy = 0
  const queue = []
  const serve = (answer) => {
    if (serviceMs === 0) return answer()
    if (busy >= slots) return queue.push(answer)
    busy++
    setTimeout(() => {
      busy--
      answer()
      if (queue.length) serve(queue.shift())
    }, serviceMs)
  }
  fs.rmSync(socketPath, { force: true })
  const server = net.createServer((s) => {
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
        const n = ++id
        if (session) serve(() => s.writable && s.write(`${n}: stream: OK\0`))
        else return serve(() => s.end('stream: OK\0'))
      }
    })
  })
  return new Promise((resolve) => server.listen(socketPath, resolve))
}

Promise.all(args.map(endpoint)).then(() => process.send && process.send('ready'))
