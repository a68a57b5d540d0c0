'use strict'
// Loopback ports for the private clamd instances, and ports with nothing listening for the tests
// of refused connections. Both come from below the kernel's ephemeral range, which it never hands
// out by itself (not for `listen(0)`, not for outgoing connections): a port taken from
// `listen(0)` and closed again can be handed to the next test's server at once, so a "closed"
// port would answer and a killed clamd's port would be taken before its restart.
//
//   node scripts/ports.js clamd          # prints a free port for a clamd instance
//   node scripts/ports.js bindable PORT  # exits 0 when PORT is free to listen on
//
// The two kinds use disjoint halves of the 8000 ports below the ephemeral range, so a closed
// port is never given to a clamd instance.
const fs = require('node:fs')
const net = require('node:net')

function ephemeralStart() {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
  } catch {
    return 49152 // the IANA range, used by macOS and Windows
  }
}

const RANGES = { clamd: [-8000, -4000], closed: [-4000, 0] }

/** True when nothing accepts connections on 127.0.0.1:port (connect is refused). */
function refused(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err) => resolve(err.code === 'ECONNREFUSED'))
  })
}

/** True when a server can listen on 127.0.0.1:port. */
function bindable(port) {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port of `kind` ('clamd': free to listen on; 'closed': connections to it are refused). */
async function pickPort(kind) {
  const start = ephemeralStart()
  const [from, to] = RANGES[kind].map((offset) => start + offset)
  const usable = kind === 'clamd' ? bindable : refused
  if (from < 1024) throw new Error(`ports.js: the ephemeral range starts at ${start}, leaving no room below it`)
  for (let tries = 0; tries < 200; tries++) {
    const port = from + Math.floor(Math.random() * (to - from))
    if (await usable(port)) return port
  }
  throw new Error(`ports.js: no ${kind} port found in ${from}-${to - 1}`)
}

module.exports = { pickPort, bindable }

if (require.main === module) {
  const [command, port] = process.argv.slice(2)
  if (command === 'bindable') {
    bindable(Number(port)).then((ok) => process.exit(ok ? 0 : 1))
  } else {
    pickPort('clamd').then(
      (picked) => console.log(picked),
      (err) => {
        console.error(err.message)
        process.exit(1)
      },
    )
  }
}
