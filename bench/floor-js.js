'use strict'
// The floor for a Node client: the least a pipelined clamd client written in JavaScript does per
// scan, with the protocol of bench/floor (Rust): `sessions` IDSESSION connections over node:net,
// each with `inFlight` INSTREAM requests outstanding, one write per request, replies read as they
// come. No pooling, failover, timeouts or checks beyond "every reply is OK".
//
// It runs inside the bench's process, warm like this package, so that its CPU per scan is what
// the JS thread itself costs per reply (a wake-up, a callback, a write): what any Node client pays
// and a Rust binary does not.
const net = require('node:net')

const OK = Buffer.from(': stream: OK')

/** One INSTREAM request in one buffer: command, one chunk, the terminator. */
function request(payload) {
  const out = Buffer.allocUnsafe(10 + 4 + payload.length + 4)
  out.write('zINSTREAM\0', 0, 'latin1')
  out.writeUInt32BE(payload.length, 10)
  payload.copy(out, 14)
  out.writeUInt32BE(0, 14 + payload.length)
  return out
}

/**
 * Scans every payload over `target` ({ path } or { host, port }); resolves the number scanned.
 * Rejects on any reply other than OK.
 */
async function floorScans(target, payloads, sessions = 4, inFlight = 4) {
  let next = 0
  let done = 0
  const session = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(target.path ? { path: target.path } : { host: target.host, port: target.port, noDelay: true })
      let outstanding = 0
      let pending = Buffer.alloc(0)
      const send = () => {
        if (next >= payloads.length) return false
        socket.write(request(payloads[next++]))
        outstanding++
        return true
      }
      socket.once('connect', () => {
        socket.write('zIDSESSION\0')
        for (let i = 0; i < inFlight && send(); i++);
        if (outstanding === 0) socket.end('zEND\0')
      })
      socket.on('data', (chunk) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
        let end
        while ((end = pending.indexOf(0)) !== -1) {
          const reply = pending.subarray(0, end)
          pending = pending.subarray(end + 1)
          if (!reply.subarray(reply.length - OK.length).equals(OK)) {
            socket.destroy()
            return reject(new Error(`node floor: unexpected reply ${reply}`))
          }
          outstanding--
          done++
          send()
        }
        if (outstanding === 0) socket.end('zEND\0')
      })
      socket.once('error', reject)
      socket.once('close', resolve)
    })
  await Promise.all(Array.from({ length: sessions }, session))
  if (done !== payloads.length) throw new Error(`node floor: ${done} of ${payloads.length} scanned`)
  return done
}

module.exports = { floorScans }
