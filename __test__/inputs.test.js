'use strict'
// Every upload shape a web app hands over: byte views and ArrayBuffers, web ReadableStreams,
// (async) iterables, Blobs and Files, FormData. Each against a real clamd over UNIX and TCP and
// the real clamscan (local mode), on createClient, the top level and createPool; clean, EICAR,
// EICAR split across chunks, empty, over maxFileSize, aborted, and hostile shapes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd, client, SIGNATURES } = require('./helpers/clamd.js')
const { EICAR, tempDir } = require('./helpers/samples.js')

const clamd = startClamd('main')
const MODES = { UNIX: { socket: clamd.socket }, TCP: { port: clamd.port }, local: { database: SIGNATURES } }
const SIGNATURE = 'Eicar-Test-Signature.UNOFFICIAL'

/** EICAR with clean bytes on both sides, so that it starts inside a view's buffer. */
const padded = Buffer.concat([Buffer.from('clean prefix '), EICAR, Buffer.from(' clean suffix')])

/** Byte views over a larger buffer (offset and length matter), ArrayBuffers, a SharedArrayBuffer. */
function byteShapes(bytes) {
  const backing = new ArrayBuffer(bytes.length + 16)
  new Uint8Array(backing, 8, bytes.length).set(bytes)
  const shared = new SharedArrayBuffer(bytes.length)
  new Uint8Array(shared).set(bytes)
  return {
    Uint8Array: new Uint8Array(backing, 8, bytes.length),
    DataView: new DataView(backing, 8, bytes.length),
    Uint8ClampedArray: new Uint8ClampedArray(backing, 8, bytes.length),
    ArrayBuffer: backing.slice(8, 8 + bytes.length),
    SharedArrayBuffer: shared,
  }
}

/** One-byte chunks: EICAR is never whole in any chunk. */
const bytewise = (bytes) => [...bytes].map((b) => Uint8Array.of(b))

/** Every stream shape over the same chunks. */
function streamShapes(chunks) {
  return {
    'web ReadableStream': () =>
      new ReadableStream({
        start(controller) {
          for (const c of chunks) controller.enqueue(c)
          controller.close()
        },
      }),
    'fetch Response.body': () => new Response(new Blob(chunks)).body,
    'async generator': () =>
      (async function* () {
        for (const c of chunks) yield c
      })(),
    // Text chunks (the samples are ASCII) are sent as their UTF-8 bytes.
    'string chunks': () => chunks.map((c) => Buffer.from(c).toString()),
    array: () => chunks,
  }
}

for (const [mode, options] of Object.entries(MODES)) {
  test(`${mode}: scanBuffer/inspectBuffer take every byte view and ArrayBuffer, same memory, same verdict`, async (t) => {
    const c = client(t, options)
    for (const [shape, input] of Object.entries(byteShapes(padded))) {
      assert.equal(await c.scanBuffer(input), Verdict.Malicious, shape)
      assert.equal(await pompelmi.scanBuffer(input, options), Verdict.Malicious, `top level ${shape}`)
      const report = await c.inspectBuffer(input)
      assert.deepEqual([report.verdict, report.viruses], [Verdict.Malicious, [SIGNATURE]], shape)
    }
    for (const [shape, input] of Object.entries(byteShapes(Buffer.from('nothing to see here')))) {
      assert.equal(await c.scanBuffer(input), Verdict.Clean, shape)
    }
    for (const [shape, input] of Object.entries(byteShapes(Buffer.alloc(0)))) {
      await assert.rejects(c.scanBuffer(input), { message: 'buffer is empty', code: 'ERR_INVALID_ARG_VALUE' }, shape)
    }
  })

  test(`${mode}: scanStream/inspectStream take web streams, (async) iterables and arrays: EICAR whole and split byte by byte`, async (t) => {
    const c = client(t, options)
    for (const [name, chunks] of Object.entries({ whole: [padded], bytewise: bytewise(padded) })) {
      for (const [shape, make] of Object.entries(streamShapes(chunks))) {
        assert.equal(await c.scanStream(make()), Verdict.Malicious, `${shape}, ${name}`)
        assert.equal(await pompelmi.scanStream(make(), options), Verdict.Malicious, `top level ${shape}, ${name}`)
        const report = await c.inspectStream(make())
        assert.deepEqual([report.verdict, report.viruses], [Verdict.Malicious, [SIGNATURE]], `${shape}, ${name}`)
        if (mode !== 'local') assert.equal(report.bytes, padded.length, `${shape}, ${name}: every byte sent`)
      }
    }
    for (const [shape, make] of Object.entries(streamShapes([Buffer.from('clean '), Buffer.from('bytes')]))) {
      assert.equal(await c.scanStream(make()), Verdict.Clean, shape)
    }
    // Empty sources are a valid zero-byte scan.
    for (const [shape, make] of Object.entries(streamShapes([]))) {
      const report = await c.inspectStream(make())
      assert.deepEqual([report.verdict, report.bytes], [Verdict.Clean, 0], shape)
    }
  })

  test(`${mode}: scanBlob/inspectBlob: a Blob or File in slices, empty is Clean, one over maxFileSize is never sent`, async (t) => {
    const c = client(t, options)
    assert.equal(await c.scanBlob(new Blob([padded])), Verdict.Malicious)
    assert.equal(await pompelmi.scanBlob(new File([padded], 'upload.bin'), options), Verdict.Malicious)
    // EICAR across the 256 KiB slice boundary.
    const across = Buffer.concat([Buffer.alloc(256 * 1024 - 30, 0x20), EICAR])
    const report = await c.inspectBlob(new Blob([across]))
    assert.deepEqual([report.verdict, report.viruses], [Verdict.Malicious, [SIGNATURE]])
    assert.equal(await c.scanBlob(new Blob(['a clean file'])), Verdict.Clean)
    const empty = await c.inspectBlob(new Blob([]))
    assert.deepEqual([empty.verdict, empty.bytes], [Verdict.Clean, 0])
    const small = client(t, { ...options, maxFileSize: 64 })
    const big = await small.inspectBlob(new Blob([padded, padded]))
    assert.deepEqual([big.verdict, big.reason, big.bytes, big.endpoint], [Verdict.ScanError, 'too-large', 0, null])
    assert.equal(await pompelmi.scanBlob(new Blob([padded, padded]), { ...options, maxFileSize: 64 }), Verdict.ScanError)
  })

  test(`${mode}: over maxFileSize a stream stops: ScanError too-large, the web stream is cancelled, the iterator returned`, async (t) => {
    const c = client(t, { ...options, maxFileSize: 1024 })
    let cancelled = null
    let pulled = 0
    const web = new ReadableStream({
      pull(controller) {
        pulled++
        controller.enqueue(new Uint8Array(512).fill(0x61))
      },
      cancel(reason) {
        cancelled = { reason }
      },
    })
    const report = await c.inspectStream(web)
    assert.deepEqual([report.verdict, report.reason], [Verdict.ScanError, 'too-large'])
    await new Promise((r) => setImmediate(r))
    assert.ok(cancelled, 'the web stream was cancelled')
    assert.ok(pulled < 10, `an endless source is not drained (${pulled} pulls)`)
    let returned = false
    async function* endless() {
      try {
        for (;;) yield Buffer.alloc(512, 0x62)
      } finally {
        returned = true
      }
    }
    assert.equal(await c.scanStream(endless()), Verdict.ScanError)
    await new Promise((r) => setImmediate(r))
    assert.ok(returned, "the iterator's return() was called")
  })

  test(`${mode}: an abort stops a web stream and an iterator: AbortError, source cancelled`, async (t) => {
    const c = client(t, options)
    const controller = new AbortController()
    let cancelled = false
    let chunks = 0
    const web = new ReadableStream({
      async pull(ctl) {
        if (++chunks === 3) controller.abort()
        await new Promise((r) => setTimeout(r, 5))
        ctl.enqueue(new Uint8Array(64).fill(0x61))
      },
      cancel() {
        cancelled = true
      },
    })
    await assert.rejects(c.scanStream(web, { signal: controller.signal }), { name: 'AbortError', code: 'ABORT_ERR' })
    await new Promise((r) => setTimeout(r, 20))
    assert.ok(cancelled, 'the web stream was cancelled')
    let returned = false
    const stop = new AbortController()
    async function* slow() {
      try {
        for (let i = 0; ; i++) {
          if (i === 3) stop.abort()
          await new Promise((r) => setTimeout(r, 5))
          yield Buffer.from('x')
        }
      } finally {
        returned = true
      }
    }
    await assert.rejects(pompelmi.scanStream(slow(), { ...options, signal: stop.signal }), { code: 'ABORT_ERR' })
    await new Promise((r) => setTimeout(r, 20))
    assert.ok(returned, "the iterator's return() was called")
  })

  test(`${mode}: scanFormData/inspectFormData: every File, the worst verdict, text fields ignored`, async (t) => {
    const c = client(t, options)
    const form = new FormData()
    form.append('title', 'a text field is not scanned')
    form.append('docs', new File(['a clean document'], 'doc.txt', { type: 'text/plain' }))
    form.append('docs', new File([padded], 'eicar.com', { type: 'application/octet-stream' }))
    form.append('avatar', new Blob([Buffer.from('png-ish')], { type: 'image/png' }), 'me.png')
    for (const result of [await c.scanFormData(form), await c.inspectFormData(form), await pompelmi.scanFormData(form, options), await pompelmi.inspectFormData(form, options)]) {
      assert.equal(result.verdict, Verdict.Malicious)
      assert.deepEqual(
        result.files.map((f) => [f.field, f.name, f.type, f.size, f.report.verdict]),
        [
          ['docs', 'doc.txt', 'text/plain', 16, Verdict.Clean],
          ['docs', 'eicar.com', 'application/octet-stream', padded.length, Verdict.Malicious],
          ['avatar', 'me.png', 'image/png', 7, Verdict.Clean],
        ],
      )
    }
    const none = new FormData()
    none.append('name', 'no files here')
    assert.deepEqual(await c.scanFormData(none), { verdict: Verdict.Clean, files: [] })
    const clean = new FormData()
    clean.append('a', new File(['one'], 'a.txt'))
    clean.append('b', new File([], 'empty.txt'))
    assert.equal((await c.scanFormData(clean)).verdict, Verdict.Clean)
    // A file over the size guard: ScanError beats Clean, the form still resolves.
    const guarded = await pompelmi.scanFormData(clean, { ...options, maxFileSize: 2 })
    assert.equal(guarded.verdict, Verdict.ScanError)
    assert.deepEqual(
      guarded.files.map((f) => f.report.reason),
      ['too-large', null],
    )
  })
}

test('createPool: scan* and inspect* take every new shape too', async (t) => {
  const pool = pompelmi.createPool({ socket: clamd.socket, size: 2 })
  t.after(() => pool.destroy())
  assert.equal(await pool.scanBuffer(new Uint8Array(padded)), Verdict.Malicious)
  assert.equal((await pool.inspectBuffer(padded.buffer.slice(padded.byteOffset, padded.byteOffset + padded.length))).verdict, Verdict.Malicious)
  assert.equal(await pool.scanStream(bytewise(padded)), Verdict.Malicious)
  assert.equal((await pool.inspectStream(new Blob([padded]).stream())).verdict, Verdict.Malicious)
  assert.equal(await pool.scanBlob(new Blob([padded])), Verdict.Malicious)
  assert.equal((await pool.inspectBlob(new Blob(['fine']))).verdict, Verdict.Clean)
  const form = new FormData()
  form.append('f', new File([padded], 'x.com'))
  assert.equal((await pool.scanFormData(form)).verdict, Verdict.Malicious)
  assert.equal((await pool.inspectFormData(form)).files[0].report.viruses[0], SIGNATURE)
  assert.equal(await pool.scan(path.join(__dirname, '..', 'testdata', 'clean.txt')), Verdict.Clean)
  assert.equal((await pool.inspect(path.join(__dirname, '..', 'testdata', 'clean.txt'))).verdict, Verdict.Clean)
})

test('hostile and wrong shapes: a clear rejection with a code, never Clean', async (t) => {
  const c = client(t, MODES.UNIX)
  const opts = MODES.UNIX
  for (const bad of ['a string', 42, null, undefined, {}, [1, 2], new Blob(['x'])]) {
    await assert.rejects(c.scanBuffer(bad), { message: 'buffer must be a Buffer', code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(pompelmi.scanBuffer(bad, opts), { message: 'buffer must be a Buffer', code: 'ERR_INVALID_ARG_TYPE' })
  }
  // Strings and byte payloads are not streams.
  for (const bad of ['a string', Buffer.from('x'), new Uint8Array(3), 42, null, {}, new Blob(['x'])]) {
    await assert.rejects(c.scanStream(bad), { message: 'stream must be a Readable', code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(pompelmi.inspectStream(bad, opts), { message: 'stream must be a Readable', code: 'ERR_INVALID_ARG_TYPE' })
  }
  for (const bad of ['x', Buffer.from('x'), {}, null, new Readable({ read() {} })]) {
    await assert.rejects(c.scanBlob(bad), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE' && err.message === 'blob must be a Blob')
    await assert.rejects(pompelmi.inspectBlob(bad, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'blob must be a Blob' })
  }
  for (const bad of [{}, new URLSearchParams('a=1'), [['a', new Blob(['x'])]], null]) {
    await assert.rejects(c.scanFormData(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'formData must be a FormData' })
    await assert.rejects(pompelmi.scanFormData(bad, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'formData must be a FormData' })
  }
  // Bad options reject the form, they do not become per-file reports.
  const form = new FormData()
  form.append('f', new File(['x'], 'x'))
  await assert.rejects(pompelmi.scanFormData(form, { port: 'not a port' }), { code: 'ERR_SOCKET_BAD_PORT' })
  await assert.rejects(c.scanFormData(form, { signal: 'nope' }), { code: 'ERR_INVALID_ARG_TYPE' })
  // An iterable yielding something that is not bytes: rejected, not scanned as a partial upload.
  await assert.rejects(c.scanStream([Buffer.from('ok'), 42]), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(c.scanStream((async function* () { yield { not: 'bytes' } })()), { code: 'ERR_INVALID_ARG_TYPE' })
  // A web stream already locked to a reader, or already read from, cannot give every byte.
  const locked = new Blob([EICAR]).stream()
  locked.getReader()
  await assert.rejects(c.scanStream(locked), { code: 'ERR_STREAM_ALREADY_FINISHED' })
  const read = new Blob([EICAR, EICAR]).stream()
  const reader = read.getReader()
  await reader.read()
  reader.releaseLock()
  await assert.rejects(c.scanStream(read), { code: 'ERR_STREAM_ALREADY_FINISHED' })
  // A source that fails midway rejects with its own error.
  const failing = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new Uint8Array(10))
      ctl.error(Object.assign(new Error('upstream broke'), { code: 'EUPSTREAM' }))
    },
  })
  await assert.rejects(c.scanStream(failing), { message: 'upstream broke' })
  await assert.rejects(
    c.scanStream(
      (async function* () {
        yield Buffer.from('x')
        throw Object.assign(new Error('generator broke'), { code: 'EGEN' })
      })(),
    ),
    { code: 'EGEN' },
  )
})

test('clamd down: every new shape rejects with the connection error; a form reports ScanError with the code', async (t) => {
  const down = { port: 1, retries: 0 }
  const c = client(t, down)
  await assert.rejects(c.scanBuffer(new Uint8Array(4)), { code: 'ECONNREFUSED' })
  await assert.rejects(c.scanStream(new Blob(['x']).stream()), { code: 'ECONNREFUSED' })
  await assert.rejects(c.scanBlob(new Blob(['x'])), { code: 'ECONNREFUSED' })
  const form = new FormData()
  form.append('f', new File(['x'], 'x.txt'))
  const result = await pompelmi.scanFormData(form, down)
  assert.equal(result.verdict, Verdict.ScanError)
  assert.deepEqual([result.files[0].report.verdict, result.files[0].report.reason], [Verdict.ScanError, 'ECONNREFUSED'])
})

test('a 100 MiB file-backed Blob is read in slices: memory stays bounded', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'big.bin')
  const fd = fs.openSync(file, 'w')
  const mib = Buffer.alloc(1024 * 1024, 0x41)
  // 100 MiB in all, EICAR at the very end: within clamd's default MaxFileSize (100M).
  for (let i = 0; i < 99; i++) fs.writeSync(fd, mib)
  fs.writeSync(fd, mib.subarray(EICAR.length))
  fs.writeSync(fd, EICAR)
  fs.closeSync(fd)
  const blob = await fs.openAsBlob(file)
  if (global.gc) global.gc()
  const before = process.memoryUsage().rss
  let peak = before
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
  const report = await pompelmi.inspectBlob(blob, { socket: clamd.socket, maxFileSize: 0 })
  clearInterval(timer)
  assert.deepEqual([report.verdict, report.bytes], [Verdict.Malicious, 100 * 1024 * 1024])
  assert.ok(peak - before < 64 * 1024 * 1024, `RSS grew ${((peak - before) / 1048576).toFixed(1)} MiB`)
})
