'use strict'
// Faults a real clamd will not produce on cue, from a fake clamd (a node:net server): first single
// faults with their exact outcomes, then the fault table, every fault against every entry point.
const test = require('node:test')
const assert = require('node:assert/strict')
const { describe, before, after } = test

describe('single faults', () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { Readable } = require('node:stream')

  const { scan, scanBuffer, scanStream, Verdict } = require('..')
  const { startFakeClamd, fakeClamd: fake, closedPort } = require('./helpers/fake-clamd.js')
  const { CLEAN_FILE } = require('./helpers/samples.js')

  const unhandled = []
  process.on('unhandledRejection', (err) => unhandled.push(err))
  after(() => assert.deepEqual(unhandled, [], 'no unhandled rejections'))


  const entryPoints = {
    scan: (opts) => scan(CLEAN_FILE, opts),
    scanBuffer: (opts) => scanBuffer(Buffer.from('payload'), opts),
    scanStream: (opts) => scanStream(Readable.from([Buffer.from('payload')]), opts),
  }

  test('the wire sequence: zIDSESSION\\0, then zINSTREAM\\0, 4-byte big-endian length, data, four zero bytes', async (t) => {
    let received
    const server = await fake(t, async (conn) => {
      await conn.instream()
      received = conn.data
      conn.reply('stream: OK')
    })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-test-'))
    t.after(() => fs.rmSync(dir, { recursive: true }))
    const file = path.join(dir, 'hello.txt')
    fs.writeFileSync(file, 'hello world')
    assert.equal(await scan(file, { port: server.port }), Verdict.Clean)
    assert.deepEqual(
      received,
      Buffer.concat([Buffer.from('zIDSESSION\0zINSTREAM\0'), Buffer.from([0, 0, 0, 11]), Buffer.from('hello world'), Buffer.alloc(4)]),
    )
  })

  test('a buffer is sent in chunks of at most 64 KiB', async (t) => {
    const sizes = []
    const server = await fake(t, async (conn) => {
      await conn.instream()
      const data = conn.data
      let off = data.indexOf('zINSTREAM\0') + 10
      for (;;) {
        const len = data.readUInt32BE(off)
        if (len === 0) break
        sizes.push(len)
        off += 4 + len
      }
      conn.reply('stream: OK')
    })
    assert.equal(await scanBuffer(Buffer.alloc(65536 * 2 + 100), { port: server.port }), Verdict.Clean)
    assert.deepEqual(sizes, [65536, 65536, 100])
  })

  for (const [name, call] of Object.entries(entryPoints)) {
    test(`${name}: replies with and without a trailing NUL; a cut-off clean reply is never Clean`, async () => {
      const replies = [
        ['stream: OK', { nul: true }, Verdict.Clean],
        ['stream: Win.Test.EICAR_HDB-1 FOUND', { nul: true }, Verdict.Malicious],
        ['stream: Win.Test.EICAR_HDB-1 FOUND', { nul: false }, Verdict.Malicious],
        ['ERROR: Could not connect', { nul: true }, Verdict.ScanError],
        ['stream: Can\'t allocate memory ERROR', { nul: true }, Verdict.ScanError],
        ['UNKNOWN COMMAND', { nul: false }, Verdict.ScanError],
        // `stream: OK` then close, without NUL: it may be the start of `stream: OK.Bad FOUND`.
        // The session counts as broken, is replayed once, then the call rejects.
        ['stream: OK', { nul: false }, 'ERR_CLAMD_PROTOCOL', 2],
      ]
      for (const [text, opts, expected, connections = 1] of replies) {
        const server = await startFakeClamd(async (conn) => {
          await conn.instream()
          conn.reply(text, opts)
        })
        const outcome = await call({ port: server.port }).catch((err) => err.code)
        await server.close()
        assert.equal(outcome, expected, `${text} ${JSON.stringify(opts)}`)
        assert.equal(server.connections, connections, `${text}: connections`)
      }
    })

    test(`${name}: silence rejects with the idle-timeout message`, async (t) => {
      const server = await fake(t, () => {})
      const started = Date.now()
      await assert.rejects(call({ port: server.port, timeout: 200 }), { message: 'clamd connection timed out after 200ms' })
      assert.ok(Date.now() - started < 2000)
    })

    test(`${name}: a reply without NUL on an open socket times out instead of hanging`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.instream()
        conn.write('stream: OK', { nul: false })
      })
      await assert.rejects(call({ port: server.port, timeout: 300 }), /timed out after 300ms/)
    })

    test(`${name}: a slow reply within the idle timeout still resolves`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.instream()
        await new Promise((r) => setTimeout(r, 300))
        conn.reply('stream: OK')
      })
      assert.equal(await call({ port: server.port, timeout: 2000 }), Verdict.Clean)
    })

    test(`${name}: a dripping reply (one byte at a time) resolves`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.instream()
        for (const ch of `${conn.prefix}stream: Eicar FOUND\0`) {
          conn.write(ch, { nul: false })
          await new Promise((r) => setTimeout(r, 5))
        }
        conn.socket.end()
      })
      assert.equal(await call({ port: server.port, timeout: 500 }), Verdict.Malicious)
    })

    test(`${name}: a close without a reply rejects with ECONNRESET, never Clean`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.command()
        conn.socket.end()
      })
      await assert.rejects(call({ port: server.port }), { code: 'ECONNRESET', message: 'clamd closed the connection without a reply' })
    })

    test(`${name}: a reset mid-upload rejects with a Node-style code`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.command()
        conn.reset()
      })
      await assert.rejects(call({ port: server.port }), (err) => {
        assert.ok(['ECONNRESET', 'EPIPE'].includes(err.code), err.code)
        assert.equal(typeof err.errno, 'number')
        assert.ok(['read', 'write'].includes(err.syscall))
        return true
      })
    })

    test(`${name}: garbage replies are ScanError; unattributable or oversized ones reject after one replay; never Clean`, async () => {
      const replies = [
        ['1: \x01\x02garbage stream: OK?', Verdict.ScanError],
        ['1: stream: OKAY', Verdict.ScanError],
        ['1: ', Verdict.ScanError],
        ['1: fd[3]: OK', Verdict.ScanError], // the clean reply of another kind of request
        ['stream: OK', 'ERR_CLAMD_PROTOCOL', 2], // no request id inside a session: whose reply is it?
        ['7: stream: OK', 'ERR_CLAMD_PROTOCOL', 2], // an id that was never sent
        [`1: ${'x'.repeat(70 * 1024)}`, 'ERR_CLAMD_PROTOCOL', 2], // over the 64 KiB cap
      ]
      for (const [text, expected, connections = 1] of replies) {
        const server = await startFakeClamd(async (conn) => {
          await conn.instream()
          conn.write(text)
          conn.socket.end()
        })
        const outcome = await call({ port: server.port }).catch((err) => err.code)
        await server.close()
        assert.equal(outcome, expected, text.slice(0, 20))
        assert.equal(server.connections, connections, `${text.slice(0, 20)}: connections`)
      }
    })

    test(`${name}: a refused connection rejects like Node (ECONNREFUSED, errno, syscall, address, port)`, async () => {
      const port = await closedPort()
      await assert.rejects(call({ port }), (err) => {
        assert.ok(err instanceof Error)
        assert.equal(err.message, `connect ECONNREFUSED 127.0.0.1:${port}`)
        assert.equal(err.code, 'ECONNREFUSED')
        assert.equal(err.errno, os.constants.errno.ECONNREFUSED * -1)
        assert.equal(err.syscall, 'connect')
        assert.equal(err.address, '127.0.0.1')
        assert.equal(err.port, port)
        return true
      })
    })

    test(`${name}: a missing socket path rejects with ENOENT`, async () => {
      await assert.rejects(call({ socket: '/nonexistent/clamd.sock' }), {
        code: 'ENOENT',
        syscall: 'connect',
        address: '/nonexistent/clamd.sock',
        message: 'connect ENOENT /nonexistent/clamd.sock',
      })
    })

    test(`${name}: retries: 2 succeeds on the third connection`, async (t) => {
      const server = await fake(t, async (conn, index) => {
        if (index < 2) return conn.reset()
        await conn.instream()
        conn.reply('stream: OK')
      })
      assert.equal(await call({ port: server.port, retries: 2, retryDelay: 0 }), Verdict.Clean)
      assert.equal(server.connections, 3)
    })

    test(`${name}: a timeout is retried, and the last error rejects`, async (t) => {
      const server = await fake(t, () => {})
      const started = Date.now()
      await assert.rejects(call({ port: server.port, timeout: 100, retries: 2, retryDelay: 50 }), /timed out after 100ms/)
      assert.equal(server.connections, 3)
      assert.ok(Date.now() - started >= 400)
    })

    test(`${name}: a ScanError reply is never retried`, async (t) => {
      const server = await fake(t, async (conn) => {
        await conn.instream()
        conn.reply('INSTREAM size limit exceeded. ERROR')
      })
      assert.equal(await call({ port: server.port, retries: 3, retryDelay: 0 }), Verdict.ScanError)
      assert.equal(server.connections, 1)
    })
  }

  test('retries: 1 against a refused port rejects with ECONNREFUSED after two attempts', async () => {
    const port = await closedPort()
    const started = Date.now()
    await assert.rejects(scanBuffer(Buffer.from('x'), { port, retries: 1, retryDelay: 100 }), { code: 'ECONNREFUSED' })
    assert.ok(Date.now() - started >= 100)
  })

  test('a stream sent beyond its 256 KiB replay window is not retried', async (t) => {
    const server = await fake(t, async (conn) => {
      await conn.until(() => conn.bytes > 300_000)
      conn.reset()
    })
    const source = Readable.from([1, 2, 3, 4, 5, 6].map((n) => Buffer.alloc(100_000, n)))
    await assert.rejects(scanStream(source, { port: server.port, retries: 3, retryDelay: 0 }), (err) => ['ECONNRESET', 'EPIPE'].includes(err.code))
    assert.equal(server.connections, 1)
  })

  test('a stream reset early is replayed from its kept first bytes', async (t) => {
    let first = true
    const server = await fake(t, async (conn) => {
      if (first) {
        first = false
        await conn.until(() => conn.bytes > 12)
        return conn.reset()
      }
      const payload = await conn.instream()
      conn.reply(payload.toString() === 'abcdef' ? 'stream: OK' : 'stream: wrong payload ERROR')
    })
    const source = Readable.from([Buffer.from('abc'), Buffer.from('def')])
    assert.equal(await scanStream(source, { port: server.port, retries: 1, retryDelay: 0 }), Verdict.Clean)
    assert.equal(server.connections, 2)
  })

  test('validation errors are not retried (a missing file rejects at once)', async () => {
    const started = Date.now()
    await assert.rejects(scan('/nonexistent/file', { port: 1, retries: 5, retryDelay: 1000 }), { message: 'File not found: /nonexistent/file' })
    assert.ok(Date.now() - started < 500)
  })

  test('an early reply stops the upload: clamd answering first wins over the rest of the stream', async (t) => {
    let pulled = 0
    const server = await fake(t, async (conn) => {
      await conn.command()
      conn.reply('INSTREAM size limit exceeded. ERROR')
    })
    const source = new Readable({
      read() {
        pulled++
        this.push(pulled > 2000 ? null : Buffer.alloc(65536, 7))
      },
    })
    assert.equal(await scanStream(source, { port: server.port }), Verdict.ScanError)
    assert.ok(pulled < 2000, `stopped reading the stream (${pulled} chunks pulled)`)
    assert.equal(source.destroyed, false, 'the caller keeps its stream')
  })

  test('backpressure: a stalled clamd stops the stream from being read', async (t) => {
    let pulled = 0
    let release
    const server = await fake(t, async (conn) => {
      conn.socket.pause() // read nothing: the client must stop pulling from the stream
      await new Promise((r) => (release = r))
      conn.socket.resume()
      await conn.instream()
      conn.reply('stream: OK')
    })
    const source = new Readable({
      read() {
        pulled++
        this.push(pulled > 1600 ? null : Buffer.alloc(65536, 3)) // 100 MiB in all
      },
    })
    const verdict = scanStream(source, { port: server.port, timeout: 5000 })
    await new Promise((r) => setTimeout(r, 500))
    const pulledWhileStalled = pulled
    release()
    assert.equal(await verdict, Verdict.Clean)
    // Socket buffers hold a few MiB; without backpressure all 1600 chunks would have been read.
    assert.ok(pulledWhileStalled * 64 < 16 * 1024, `pulled ${pulledWhileStalled} chunks while clamd was stalled`)
    assert.equal(pulled, 1601)
  })

  test('a source stream error rejects with that error', async (t) => {
    const server = await fake(t, async (conn) => {
      await conn.instream()
      conn.reply('stream: OK')
    })
    const source = new Readable({
      read() {
        this.destroy(new Error('stream read error'))
      },
    })
    await assert.rejects(scanStream(source, { port: server.port }), { message: 'stream read error' })
  })

  test('an object-mode stream of non-bytes rejects with a clear TypeError', async (t) => {
    const server = await fake(t, async (conn) => {
      await conn.instream()
      conn.reply('stream: OK')
    })
    await assert.rejects(scanStream(Readable.from([{ a: 1 }]), { port: server.port }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /stream must yield Buffer, Uint8Array or string chunks/,
    })
  })

  test('a stream that fails mid-way never completes its upload (no truncated scan)', async (t) => {
    let completed = 0
    const server = await fake(t, async (conn) => {
      conn.socket.pause()
      await new Promise((r) => setTimeout(r, 200)) // let the client's chunk queue fill up
      conn.socket.resume()
      const payload = await conn.instream()
      if (payload) completed++
      conn.reply('stream: OK')
    })
    let n = 0
    const source = new Readable({
      read() {
        if (++n === 40) return this.destroy(new Error('upstream failed'))
        this.push(Buffer.alloc(65536, n))
      },
    })
    await assert.rejects(scanStream(source, { port: server.port }), { message: 'upstream failed' })
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(completed, 0, 'clamd never saw a complete (truncated) INSTREAM')
  })
})

describe('the fault table', () => {
  // The fault table: every fault a fake clamd can inject, against every entry point. Each row
  // asserts the outcome users get (a verdict or a specific rejection), within a bounded time; the
  // file ends by checking that nothing leaked (no socket, no temp file, no unhandled rejection).
  // The README's "Reliability" table is this file in words.
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

  before(() => {
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
})
