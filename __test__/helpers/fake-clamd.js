'use strict'
// A scriptable stand-in for clamd, for the faults a real clamd will not produce on cue. Each
// connection is handed to `behaviour(conn)`; `conn` parses what the client sends.
const net = require('node:net')
const fs = require('node:fs')

const { pickPort } = require('../../scripts/ports.js')

class FakeConnection {
  constructor(socket) {
    this.socket = socket
    this.bytes = 0 // everything received
    this.rawParts = [] // kept while small, for wire-level assertions
    this.session = false // the client opened with zIDSESSION
    this.commands = [] // { id, name } as soon as each command's name arrived
    this.requests = [] // { id, name, payload } once each request is complete
    this.pending = Buffer.alloc(0)
    this.frames = null // payload parts of the INSTREAM being received
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
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d
    this.parse()
    this.wake()
  }

  parse() {
    for (;;) {
      if (this.frames) {
        if (this.pending.length < 4) return
        const len = this.pending.readUInt32BE(0)
        if (len === 0) {
          const { id } = this.commands.at(-1)
          this.requests.push({ id, name: 'INSTREAM', payload: Buffer.concat(this.frames) })
          this.frames = null
          this.pending = this.pending.subarray(4)
          continue
        }
        if (this.pending.length < 4 + len) return
        this.frames.push(this.pending.subarray(4, 4 + len))
        this.pending = this.pending.subarray(4 + len)
        continue
      }
      if (this.fildesByte) {
        // The one byte that carries a FILDES descriptor (SCM_RIGHTS) is no command.
        if (this.pending.length === 0) return
        this.fildesByte = false
        this.pending = this.pending.subarray(1)
        continue
      }
      const nul = this.pending.indexOf(0)
      if (nul < 0) return
      const name = this.pending.subarray(1, nul).toString()
      this.pending = this.pending.subarray(nul + 1)
      if (name === 'IDSESSION' && this.commands.length === 0) {
        this.session = true
        continue
      }
      const id = this.commands.length + 1
      this.commands.push({ id, name })
      if (name === 'INSTREAM') this.frames = []
      else this.requests.push({ id, name, payload: null })
      if (name === 'FILDES') this.fildesByte = true
    }
  }

  /** Everything received, while it is under 1 MiB. */
  get data() {
    return Buffer.concat(this.rawParts)
  }

  /** The reply prefix clamd puts in a session (`1: `) for the first request. */
  get prefix() {
    return this.session ? '1: ' : ''
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

  /** The first command's name (`INSTREAM`, `PING`, …), as soon as it arrived; null if the client left. */
  async command() {
    await this.until(() => this.commands.length > 0)
    return this.commands.length ? this.commands[0].name : null
  }

  /** The n-th complete request `{ id, name, payload }`, or null if the client left first. */
  async request(n = 0) {
    await this.until(() => this.requests.length > n)
    return this.requests[n] || null
  }

  /** The first INSTREAM's payload once complete (null if the client left). */
  async instream() {
    const request = await this.request(0)
    return request ? request.payload : null
  }

  write(text, { nul = true } = {}) {
    if (!this.socket.destroyed) this.socket.write(nul ? `${text}\0` : text)
  }

  /** Answers request `id` (session framing when the client opened a session). */
  answer(id, text, opts) {
    this.write(this.session ? `${id}: ${text}` : text, opts)
  }

  /** Answers the first request and closes, as clamd does after a single command. */
  reply(text, opts) {
    this.answer(1, text, opts)
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

/** startFakeClamd for one test: closed when the test ends. */
async function fakeClamd(t, behaviour, opts) {
  const server = await startFakeClamd(behaviour, opts)
  t.after(() => server.close())
  return server
}

/**
 * Serves a whole session like clamd: every request is answered `id: <text>` with the text that
 * `decide(request)` returns (or resolves); `null` leaves a request unanswered.
 */
async function serveSession(conn, decide) {
  for (let n = 0; ; n++) {
    const request = await conn.request(n)
    if (!request || request.name === 'END') return
    Promise.resolve(decide(request)).then((text) => {
      if (text != null) conn.write(`${request.id}: ${text}`)
    })
  }
}

/** A loopback port with nothing listening on it, which no other test will take meanwhile. */
function closedPort() {
  return pickPort('closed')
}

module.exports = { startFakeClamd, fakeClamd, closedPort, serveSession }
