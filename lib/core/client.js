'use strict'
// The client: one Client per set of connection options, with a backend for each mode (clamd
// through the native client, or local clamscan), the abort signal, close(), and the shaping of
// native outcomes into reports.

const binding = require('./binding.js')
const { Verdict, VERDICT_BY_NAME } = require('./verdict.js')
const { DEFAULTS, nonNegative, resolveTarget, callOptions, endpointName } = require('./options.js')
const { abortError, toError, clientClosed, streamTimeout } = require('./errors.js')
const { assertFile, assertBuffer, assertReadable, chunkBytes } = require('./inputs.js')
const { createTempFile } = require('./tempfile.js')
const { recordScanned } = require('./scanned.js')

/**
 * Reads a stream's chunks one at a time, each read cut short by `stop(outcome)` or by `idle` ms
 * without a chunk. Each read is its own promise: racing every read against one long-lived
 * promise would leave a reaction per chunk on it, keeping every chunk alive until it settles.
 * `next()` resolves `{ chunk }`, `{ done: true }` or a stop's outcome (`{ error }`, `{ stopped }`).
 */
function chunkReader(stream, { idle = 0, onIdle } = {}) {
  const chunks = stream.iterator({ destroyOnReturn: false })
  let wake = null
  let stopped = null
  return {
    stop(outcome) {
      if (stopped) return
      stopped = outcome
      if (wake) wake(outcome)
    },
    next() {
      if (stopped) return Promise.resolve(stopped)
      let timer = null
      return new Promise((resolve) => {
        wake = resolve
        if (idle > 0) timer = setTimeout(() => resolve({ error: onIdle() }), idle)
        chunks.next().then(
          ({ value, done }) => resolve(done ? { done: true } : { chunk: value }),
          (error) => resolve({ error }),
        )
      }).finally(() => {
        clearTimeout(timer)
        wake = null
      })
    },
  }
}

/**
 * Feeds a Readable to a native INSTREAM upload, one chunk in flight at a time: the stream is only
 * read as fast as clamd takes the data. When the scan ends first (clamd answered early, the idle
 * timeout ran out on a stream that stopped producing, an abort) the wait for the stream ends too,
 * and the stream is left alone (not destroyed); when the stream fails, the scan rejects with the
 * stream's own error.
 */
async function pumpStream(call, stream, settled) {
  const reader = chunkReader(stream)
  const stop = () => reader.stop({ stopped: true })
  settled.then(stop, stop)
  try {
    for (;;) {
      const next = await reader.next()
      if (next.error) throw next.error
      if (next.stopped) break
      if (next.done) {
        call.end()
        break
      }
      const bytes = chunkBytes(next.chunk, stream)
      if (bytes.length === 0) continue
      if (!(await call.write(bytes))) break
    }
  } catch (err) {
    await call.fail(String((err && err.message) || err))
    await settled.catch(() => {})
    throw err
  }
  return settled
}

/**
 * Copies a Readable into a local-mode temp file, one chunk at a time (each written before the
 * next is read), as the same bytes clamd mode would send. Resolves false, leaving the stream
 * unread from there, once `overLimit(bytesSoFar)` says the payload is too large. A stream that
 * gives nothing for `idle` ms rejects ETIMEDOUT, as in clamd mode.
 */
async function writeStream(stream, temp, overLimit, signal, idle) {
  // An abort stops the copy at once, even while the stream has nothing to give (the temp file
  // goes with it); the stream itself is left to its owner, as in clamd mode.
  const reader = chunkReader(stream, { idle, onIdle: () => streamTimeout(idle) })
  const onAbort = () => reader.stop({ error: abortError(signal) })
  if (signal) signal.addEventListener('abort', onAbort, { once: true })
  let bytes = 0
  try {
    for (;;) {
      const next = await reader.next()
      if (next.error) throw next.error
      if (next.done) return true
      const data = chunkBytes(next.chunk, stream)
      bytes += data.length
      if (overLimit(bytes)) return false
      await temp.write(data)
    }
  } finally {
    if (signal) signal.removeEventListener('abort', onAbort)
  }
}

const CLOSED = Symbol('closed')

/** clamd mode: the native client's pooled sessions. */
class ClamdBackend {
  #native

  constructor(target) {
    const { endpoints, timeout, connectTimeout, queueTimeout, retries, retryDelay, maxConnections, fdpass, maxFileSize } = target
    this.#native = new binding.NativeClient({ endpoints, timeout, connectTimeout, queueTimeout, retries, retryDelay, maxConnections, fdpass, maxFileSize })
  }

  file(call, filePath) {
    return call(this.#native.scanFile(filePath, call.native))
  }

  buffer(call, buffer) {
    return call(this.#native.scanBuffer(buffer, call.native))
  }

  stream(call, stream) {
    const native = this.#native.scanStream(call.native)
    return pumpStream(native, stream, call(native))
  }

  async command(name) {
    const outcome = await this.#native.command(name)
    if (outcome.error) throw toError(outcome.error, endpointName(outcome.endpoint))
    return outcome.reply
  }

  close() {
    return this.#native.close()
  }
}

/** Local mode: clamscan on a descriptor (the file itself, or an anonymous temp file). */
class ClamscanBackend {
  #target

  constructor(target) {
    this.#target = target
  }

  file(call, filePath) {
    return call(binding.localScan({ ...this.#job(call), path: filePath, ...call.walked }))
  }

  buffer(call, buffer) {
    if (this.#overLimit(buffer.length)) return tooLarge()
    return this.#data(call, (temp) => temp.write(buffer))
  }

  stream(call, stream) {
    const idle = this.#job(call).timeout
    return this.#data(call, (temp) => writeStream(stream, temp, (bytes) => this.#overLimit(bytes), call.signal, idle))
  }

  async command(name) {
    throw Object.assign(new Error(`${name} needs a clamd endpoint (host, port, socket or endpoints)`), { code: 'ERR_NO_CLAMD' })
  }

  close() {
    return Promise.resolve()
  }

  #overLimit(size) {
    return this.#target.maxFileSize > 0 && size > this.#target.maxFileSize
  }

  /** clamscan's settings for one call. */
  #job(call) {
    const { database, maxFileSize, timeout } = this.#target
    return { database: database ?? undefined, maxFileSize, timeout: call.timeout ?? timeout }
  }

  /**
   * Writes the payload to an anonymous temp file (no name on disk, so nothing is left behind
   * even if node dies) and runs clamscan on its descriptor; `write` resolves false when the
   * payload is over `maxFileSize`.
   */
  async #data(call, write) {
    const temp = await createTempFile()
    try {
      if ((await write(temp)) === false) return tooLarge()
      return await call(binding.localScan({ ...this.#job(call), fd: temp.fd }))
    } finally {
      await temp.remove()
    }
  }
}

/**
 * Scans through pooled clamd sessions (or local clamscan when no endpoint is configured). The
 * top-level functions use one shared Client per distinct connection options.
 */
class Client {
  #backend
  #pending = new Set()
  #closedError
  #closing = null

  constructor(options, { closedError = () => clientClosed() } = {}) {
    const target = resolveTarget(options)
    this.#closedError = closedError
    this.#backend = target.local ? new ClamscanBackend(target) : new ClamdBackend(target)
  }

  scan(filePath, options) {
    return this.inspect(filePath, options).then(reportVerdict)
  }

  scanBuffer(buffer, options) {
    return this.inspectBuffer(buffer, options).then(reportVerdict)
  }

  scanStream(stream, options) {
    return this.inspectStream(stream, options).then(reportVerdict)
  }

  inspect(filePath, options) {
    return this.#run(options, async (call) => {
      await assertFile(filePath)
      return this.#backend.file(call, filePath)
    })
  }

  inspectBuffer(buffer, options) {
    return this.#run(options, async (call) => {
      assertBuffer(buffer)
      return this.#backend.buffer(call, buffer)
    })
  }

  inspectStream(stream, options) {
    return this.#run(options, async (call) => {
      assertReadable(stream)
      return this.#backend.stream(call, stream)
    })
  }

  /** `true` once clamd answers PING (exactly `PONG`). */
  async ping() {
    await this.#command('PING')
    return true
  }

  /** clamd's VERSION text, e.g. `ClamAV 1.4.6/27400/Tue Oct  1 08:34:31 2024`. */
  version() {
    return this.#command('VERSION')
  }

  /** clamd's STATS text (pools, threads, queue, memory), ending with `END`. */
  stats() {
    return this.#command('STATS')
  }

  /** Waits until clamd answers PING: `timeout` is the total wait, `interval` the pause between tries. */
  async ready(options) {
    const opts = options == null ? {} : options
    const total = nonNegative(opts, 'timeout', DEFAULTS.readyTimeout)
    const interval = nonNegative(opts, 'interval', DEFAULTS.readyInterval)
    const deadline = Date.now() + total
    let lastError = null
    for (;;) {
      const left = deadline - Date.now()
      let timer
      const expired = new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, left), CLOSED)))
      try {
        const result = await Promise.race([this.ping(), expired])
        if (result === true) return true
      } catch (err) {
        if (err.code === 'ERR_CLIENT_CLOSED' || this.#closing) throw err
        lastError = err
      } finally {
        clearTimeout(timer)
      }
      if (Date.now() + interval > deadline) {
        throw lastError || Object.assign(new Error(`clamd connection timed out after ${total}ms`), { code: 'ETIMEDOUT' })
      }
      await new Promise((resolve) => setTimeout(resolve, interval))
    }
  }

  /** Closes every connection; calls in flight reject. Resolves once all connections are closed. */
  close() {
    if (!this.#closing) {
      for (const reject of this.#pending) reject(this.#closedError())
      this.#pending.clear()
      this.#closing = this.#backend.close()
    }
    return this.#closing
  }

  async #command(name) {
    if (this.#closing) throw this.#closedError()
    return this.#backend.command(name)
  }

  /**
   * Runs one scan: validation inside the promise (so it rejects, never throws), the abort
   * signal, and rejection of calls in flight on close().
   */
  #run(options, body) {
    return new Promise((resolve, reject) => {
      if (this.#closing) return reject(this.#closedError())
      let opts
      try {
        opts = callOptions(options)
      } catch (err) {
        return reject(err)
      }
      const { signal } = opts
      if (signal && signal.aborted) return reject(abortError(signal))
      let settled = false
      const calls = new Set()
      const finish = (fn, value) => {
        if (settled) return
        settled = true
        this.#pending.delete(onClose)
        if (signal) signal.removeEventListener('abort', onAbort)
        fn(value)
      }
      const onClose = (err) => {
        for (const c of calls) c.abort()
        finish(reject, err)
      }
      const onAbort = () => {
        for (const c of calls) c.abort()
        finish(reject, abortError(signal))
      }
      this.#pending.add(onClose)
      if (signal) signal.addEventListener('abort', onAbort, { once: true })
      // `call(nativeCall)` awaits a native ScanCall and turns its outcome into a report.
      const call = async (native) => {
        calls.add(native)
        if (settled) native.abort()
        const outcome = await native.outcome()
        calls.delete(native)
        if (outcome.error) throw toError(outcome.error, endpointName(outcome.endpoint))
        const report = toReport(outcome)
        if (outcome.fileId) recordScanned(report, outcome.fileId, opts.walked)
        return report
      }
      call.native = opts.native
      call.signal = signal
      call.timeout = opts.timeout
      call.walked = opts.walked
      body(call).then(
        (value) => finish(resolve, value),
        (err) => finish(reject, err),
      )
    })
  }
}

function toReport(outcome) {
  const report = {
    verdict: VERDICT_BY_NAME[outcome.verdict] || Verdict.ScanError,
    viruses: outcome.viruses,
    reply: outcome.reply,
    reason: outcome.verdict === 'error' ? outcome.reason || 'clamd-error' : null,
    limit: outcome.limit ?? null,
    endpoint: endpointName(outcome.endpoint),
    bytes: outcome.bytes,
    durationMs: outcome.durationMs,
  }
  return report
}

/** The report for a payload over `maxFileSize` in local mode: clamscan never saw it. */
function tooLarge() {
  return toReport({ verdict: 'error', viruses: [], reply: '', reason: 'too-large', bytes: 0, durationMs: 0 })
}

function reportVerdict(report) {
  return report.verdict
}

function createClient(options) {
  return new Client(options)
}

module.exports = { Client, createClient }
