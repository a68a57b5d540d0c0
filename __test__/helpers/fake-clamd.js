'use strict'
// A scriptable stand-in for clamd, for the faults a real clamd will not produce on cue. Each
// connection is handed to `behaviour(conn)`; `conn` parses what the client sends.
const net = require('node:net')
const fs = require('node:fs')

class FakeConnection {
  constructor(socket) {
    this.socket = socket
    this.bytes = 0 // everything received
    this.rawParts = [] // kept while small, for wire-level assertions
    this.commandName = null
    this.head = Buffer.alloc(0)
    this.pending = Buffer.alloc(0) // unparsed INSTREAM framing
    this.payloadParts = []
    this.payload = null // set once the INSTREAM terminator arrived
    this.waiters = []
    this.ended = false
    socket.on('data', (d) => this.receive(d))
    const end = () => {
      this.ended = true
      this.wake()
    }
    socket.on('end', end)
    socket.on('error', end)
    socket.on('close', end)
  }

  receive(d) {
    this.bytes += d.length
    if (this.bytes <= 1024 * 1024) this.rawParts.push(d)
    if (this.commandName === null) {
      this.head = Buffer.concat([this.head, d])
      const nul = this.head.indexOf(0)
      if (nul >= 0) {
        this.commandName = this.head.subarray(1, nul).toString()
        this.pending = this.head.subarray(nul + 1)
      }
    } else if (this.payload === null) {
      this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d
    }
    this.parseFrames()
    this.wake()
  }

  parseFrames() {
    if (this.commandName !== 'INSTREAM' || this.payload !== null) return
    while (this.pending.length >= 4) {
      const len = this.pending.readUInt32BE(0)
      if (len === 0) {
        this.payload = Buffer.concat(this.payloadParts)
        return
      }
      if (this.pending.length < 4 + len) return
      this.payloadParts.push(this.pending.subarray(4, 4 + len))
      this.pending = this.pending.subarray(4 + len)
    }
  }

  /** Everything received, while it is under 1 MiB. */
  get data() {
    return Buffer.concat(this.rawParts)
  }

  wake() {
    for (const w of this.waiters.splice(0)) w()
  }

  async until(predicate) {
    while (!predicate()) {
      if (this.ended) return false
      await new Promise((r) => this.waiters.push(r))
    }
    return true
  }

  /** The first command (`INSTREAM`, `PING`, …) without framing, or null if the client left. */
  async command() {
    await this.until(() => this.commandName !== null)
    return this.commandName
  }

  /** Waits for a complete INSTREAM upload and returns its payload (null if the client left). */
  async instream() {
    await this.until(() => this.payload !== null)
    return this.payload
  }

  write(text, { nul = true } = {}) {
    if (!this.socket.destroyed) this.socket.write(nul ? `${text}\0` : text)
  }

  reply(text, opts) {
    this.write(text, opts)
    this.socket.end()
  }

  reset() {
    this.socket.resetAndDestroy()
  }
}

/**
 * Starts a fake clamd on a loopback port (or a UNIX socket path) and returns
 * `{ port, socket, connections, close() }`. `behaviour(conn, index)` runs per connection.
 */
async function startFakeClamd(behaviour, { socketPath } = {}) {
  const sockets = new Set()
  const state = { connections: 0 }
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const conn = new FakeConnection(socket)
    Promise.resolve(behaviour(conn, state.connections++)).catch(() => socket.destroy())
  })
  if (socketPath) fs.rmSync(socketPath, { force: true })
  await new Promise((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)))
  return {
    port: socketPath ? undefined : server.address().port,
    socket: socketPath,
    get connections() {
      return state.connections
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A loopback port with nothing listening on it. */
async function closedPort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

module.exports = { startFakeClamd, closedPort }
