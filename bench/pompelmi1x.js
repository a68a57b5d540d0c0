'use strict'
// A pure-JS clamd client written the way pompelmi 1.x is (our own code, for the benchmark): a
// new connection per scan, zINSTREAM, 64 KiB chunks written without waiting for the socket,
// the reply parsed when clamd closes. Files are read with fs.createReadStream (64 KiB chunks).

const fs = require('node:fs')
const net = require('node:net')

function connect(opts) {
  return opts.socket ? net.createConnection({ path: opts.socket }) : net.createConnection({ host: opts.host || '127.0.0.1', port: opts.port })
}

function header(len) {
  const h = Buffer.alloc(4)
  h.writeUInt32BE(len)
  return h
}

function exchange(opts, send) {
  return new Promise((resolve, reject) => {
    const socket = connect(opts)
    socket.setTimeout(opts.timeout || 15000)
    let reply = ''
    let settled = false
    const settle = (fn, v) => {
      if (!settled) {
        settled = true
        socket.destroy()
        fn(v)
      }
    }
    socket.on('connect', () => send(socket, (err) => settle(reject, err)))
    socket.on('data', (d) => (reply += d))
    socket.on('end', () => {
      const text = reply.replace(/\0/g, '').trim()
      settle(resolve, text === 'stream: OK' ? 'Clean' : text.endsWith(' FOUND') ? 'Malicious' : 'ScanError')
    })
    socket.on('timeout', () => settle(reject, new Error(`clamd connection timed out after ${opts.timeout}ms`)))
    socket.on('error', (err) => settle(reject, err))
  })
}

function scanBuffer(buffer, opts) {
  return exchange(opts, (socket) => {
    socket.write('zINSTREAM\0')
    for (let off = 0; off < buffer.length; off += 65536) {
      const chunk = buffer.subarray(off, off + 65536)
      socket.write(header(chunk.length))
      socket.write(chunk)
    }
    socket.write(Buffer.alloc(4))
    socket.end()
  })
}

function scanStream(stream, opts) {
  return exchange(opts, (socket, fail) => {
    socket.write('zINSTREAM\0')
    stream.on('data', (chunk) => {
      socket.write(header(chunk.length))
      socket.write(chunk)
    })
    stream.on('end', () => {
      socket.write(Buffer.alloc(4))
      socket.end()
    })
    stream.on('error', fail)
  })
}

function scan(filePath, opts) {
  return scanStream(fs.createReadStream(filePath, { highWaterMark: 65536 }), opts)
}

module.exports = { scan, scanBuffer, scanStream }
