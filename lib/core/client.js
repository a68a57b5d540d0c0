'use strict'
// The client: one Client per set of connection options, with a backend for each mode (clamd
// through the native client, or local clamscan), the abort signal, close(), and the shaping of
// native outcomes into reports.

const binding = require('./binding.js')
const { Verdict, VERDICT_BY_NAME } = require('./verdict.js')
const { DEFAULTS, nonNegative, resolveTarget, callOptions, endpointName } = require('./options.js')
const { abortError, toError, clientClosed, streamTimeout } = require('./errors.js')
const { FILE, BUFFER, STREAM, BLOB, assertFile, checkInput, openStream, chunkBytes } = require('./inputs.js')
const diagnostics = require('./diagnostics.js')

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
/** The native verdict-only result's codes. */
const VERDICT_BY_CODE = [Verdict.Clean, Verdict.Malicious, Verdict.ScanError]
/** A client's entry for calls whose options are resolved and input checked (the top level's). */
const START = Symbol('pompelmi.start')

/**
 * A call's abort, made only for a call with a signal: the native switch that file and buffer
 * scans carry, and what a backend stops with it (a stream's upload, a local scan).
 */
class CallAbort {
  handle = new binding.AbortHandle()
  #then = null

  /** Runs `fn` too when the call is aborted. */
  also(fn) {
    this.#then = fn
  }

  abort() {
    this.handle.abort()
    if (this.#then) this.#then()
  }
}

/**
 * Scans waiting for their native result, by id, across every client: the native side hands
 * results back in batches to `completed` (a module function, so that no client is held by the
 * native callback and an unused client can still be collected), a batch of one as `(id, result)`.
 */
const waiting = new Map()
let lastId = 0

function completed(ids, results) {
  if (typeof ids === 'number') return resolveWaiting(ids, results)
  for (let i = 0; i < ids.length; i++) resolveWaiting(ids[i], results[i])
}

function resolveWaiting(id, result) {
  const resolve = waiting.get(id)
  waiting.delete(id)
  if (resolve) resolve(result)
}

/** Starts `start(id)` and resolves what the native side hands back under that id. */
function nativeResult(start) {
  do lastId = (lastId + 1) >>> 0
  while (waiting.has(lastId))
  const id = lastId
  start(id)
  return new Promise((resolve) => waiting.set(id, resolve))
}

/**
 * clamd mode: the native client's pooled sessions. A file or buffer scan is one native call
 * (resolving a verdict code, or the outcome); a stream is fed chunk by chunk. Calls in flight
 * when the client closes end natively (`closed`).
 */
class ClamdBackend {
  #native

  constructor(target) {
    try {
      // The resolved target is the native options object (napi reads the fields it declares).
      // Endpoint events (connect, down, up, failover, retry, discovery) go to the diagnostics
      // channels.
      this.#native = new binding.NativeClient(target, completed, diagnostics.publishEvent)
    } catch (cause) {
      // What only the native side can check (a PEM that does not parse): an option error too.
      throw Object.assign(new TypeError(cause.message, { cause }), { code: 'ERR_INVALID_ARG_VALUE' })
    }
  }

  file(filePath, call, abort, verdictOnly) {
    return nativeResult((id) => this.#native.scanFile(id, filePath, call.native, abort && abort.handle, verdictOnly))
  }

  buffer(buffer, call, abort, verdictOnly) {
    return nativeResult((id) => this.#native.scanBuffer(id, buffer, call.native, abort && abort.handle, verdictOnly))
  }

  stream(stream, call, abort) {
    const native = this.#native.scanStream(call.native)
    if (abort) abort.also(() => native.abort())
    return pumpStream(native, stream, native.outcome())
  }

  async command(name) {
    const outcome = await this.#native.command(name)
    if (outcome.error) throw toError(outcome.error, endpointName(outcome.endpoint))
    return outcome.reply
  }

  /** Per endpoint name: the clamd version and signature date last fetched, and when asked. */
  #versions = new Map()

  metrics() {
    const stats = this.#native.scanStats()
    const endpoints = this.#native.endpointStates().map((s) => {
      const name = endpointName(s.endpoint)
      return {
        endpoint: name,
        state: s.draining ? 'draining' : s.down ? 'down' : 'up',
        sessions: s.sessions,
        inFlight: s.inFlight,
        queued: s.queued,
        version: null,
        databaseVersion: null,
        databaseDate: null,
        ...this.#version(name, s),
      }
    })
    // Endpoints that left (discovery) are forgotten.
    if (this.#versions.size > endpoints.length) for (const name of this.#versions.keys()) if (!endpoints.some((e) => e.endpoint === name)) this.#versions.delete(name)
    return require('./metrics.js').scanMetrics(stats, endpoints) // loaded on first use
  }

  /** What VERSION last said on an endpoint; asked again, without waiting, at most once a minute. */
  #version(name, state) {
    let known = this.#versions.get(name)
    if (!known) this.#versions.set(name, (known = { fetched: 0, parsed: undefined }))
    if (!state.down && !state.draining && Date.now() - known.fetched >= 60_000) {
      known.fetched = Date.now()
      this.#native.commandTo(name, 'VERSION').then((outcome) => {
        if (!outcome.error) known.parsed = require('./metrics.js').parseVersion(outcome.reply)
      })
    }
    return known.parsed
  }

  close() {
    return this.#native.close()
  }
}

/**
 * Local mode: clamscan on a descriptor (the file itself, or an anonymous temp file). Each call
 * has an AbortController of its own, aborted by the call's signal or by close().
 */
class ClamscanBackend {
  #target
  #calls = new Set()

  constructor(target) {
    this.#target = target
  }

  file(filePath, call, abort) {
    return this.#local(abort, (stop) => this.#scan({ ...this.#job(call), path: filePath, ...call.walked }, stop))
  }

  buffer(buffer, call, abort) {
    return this.#local(abort, (stop) => {
      if (this.#overLimit(buffer.length)) return tooLarge()
      return this.#data(call, stop, (temp) => temp.write(buffer))
    })
  }

  stream(stream, call, abort) {
    const idle = this.#job(call).timeout
    return this.#local(abort, (stop) => this.#data(call, stop, (temp) => writeStream(stream, temp, (bytes) => this.#overLimit(bytes), stop.signal, idle)))
  }

  async command(name) {
    throw Object.assign(new Error(`${name} needs a clamd endpoint (host, port, socket or endpoints)`), { code: 'ERR_NO_CLAMD' })
  }

  close() {
    for (const stop of this.#calls) stop.abort()
    return Promise.resolve()
  }

  /** Local mode has no clamd to watch: no endpoints, and its scans are not counted. */
  metrics() {
    return null
  }

  /** Runs one local call under its own stop switch (the call's abort, or close()). */
  async #local(abort, run) {
    const stop = new AbortController()
    if (abort) abort.also(() => stop.abort())
    this.#calls.add(stop)
    try {
      return await run(stop)
    } catch (err) {
      // The copy of a stream stopped: the call's own abort or close() decides the error.
      if (stop.signal.aborted) return { error: { kind: 'aborted', message: '', code: 'ABORT_ERR' } }
      throw err
    } finally {
      this.#calls.delete(stop)
    }
  }

  /** clamscan on `target`; `stop` kills it. */
  #scan(target, stop) {
    const handle = new binding.AbortHandle()
    if (stop.signal.aborted) handle.abort()
    else stop.signal.addEventListener('abort', () => handle.abort(), { once: true })
    return binding.localScan(target, handle)
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
  async #data(call, stop, write) {
    const temp = await require('./tempfile.js').createTempFile() // local mode only: loaded on use
    try {
      if ((await write(temp)) === false) return tooLarge()
      return await this.#scan({ ...this.#job(call), fd: temp.fd }, stop)
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
  #maxFileSize
  #closedError
  #closing = null
  /** Settles a call without a signal (made once: the hot path allocates no closure for it). */
  #settlePlain = (result) => this.#settle(result, undefined, false)
  #settlePlainReport = (result) => this.#settle(result, undefined, true)

  constructor(options, { closedError = () => clientClosed() } = {}) {
    const target = resolveTarget(options)
    this.#closedError = closedError
    this.#maxFileSize = target.maxFileSize
    this.#backend = target.local ? new ClamscanBackend(target) : new ClamdBackend(target)
  }

  scan(filePath, options) {
    return this.#public(FILE, filePath, options, false)
  }

  scanBuffer(buffer, options) {
    return this.#public(BUFFER, buffer, options, false)
  }

  scanStream(stream, options) {
    return this.#public(STREAM, stream, options, false)
  }

  inspect(filePath, options) {
    return this.#public(FILE, filePath, options, true)
  }

  inspectBuffer(buffer, options) {
    return this.#public(BUFFER, buffer, options, true)
  }

  inspectStream(stream, options) {
    return this.#public(STREAM, stream, options, true)
  }

  scanBlob(blob, options) {
    return this.#public(BLOB, blob, options, false)
  }

  inspectBlob(blob, options) {
    return this.#public(BLOB, blob, options, true)
  }

  /** Every File of a FormData: `{ verdict, files: [{ field, name, type, size, report }] }`. */
  scanFormData(formData, options) {
    try {
      this.#precheck(options)
    } catch (err) {
      return Promise.reject(err)
    }
    return require('./forms.js').scanForm(formData, (blob) => this.inspectBlob(blob, options))
  }

  /** The same as scanFormData: every file's report is in `files`. */
  inspectFormData(formData, options) {
    return this.scanFormData(formData, options)
  }

  /**
   * A scanning tee: a Duplex whose bytes flow on while clamd scans them, holding back the last
   * chunk and the end until clamd says Clean (lib/core/tee.js). Bad options throw here.
   */
  passthrough(options) {
    this.#precheck(options)
    return require('./tee.js').createTee((feed) => this.inspectStream(feed, options))
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

  /**
   * What this client has done and what its endpoints look like now (synchronous; clamd mode):
   * `{ endpoints: [{ endpoint, state, sessions, inFlight, queued, version, databaseVersion,
   * databaseDate }], scans: { clean, malicious, scanError, failed, byReason }, bytes, latency:
   * { boundsMs, counts, count, sumMs } }`. Versions come from VERSION, fetched in the background
   * at most once a minute (null until the first answer). Null in local mode.
   */
  metrics() {
    return this.#backend.metrics()
  }

  /** Closes every connection; calls in flight reject. Resolves once all connections are closed. */
  close() {
    if (!this.#closing) this.#closing = this.#backend.close()
    return this.#closing
  }

  async #command(name) {
    if (this.#closing) throw this.#closedError()
    return this.#backend.command(name)
  }

  /** What every call checks first: the client is open, the options are valid, not aborted yet. */
  #precheck(options) {
    if (this.#closing) throw this.#closedError()
    const call = callOptions(options)
    if (call.signal && call.signal.aborted) throw abortError(call.signal)
    return call
  }

  /** A call through the client's own methods: its options and its input are checked here. */
  #public(kind, input, options, report) {
    let call
    try {
      call = this.#precheck(options)
      input = checkInput(kind, input)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#start(kind, input, call, report)
  }

  /** The top level's entry: options resolved by the caller, input checked there or (`check`) here. */
  [START](kind, input, call, report, check) {
    if (this.#closing) return Promise.reject(this.#closedError())
    try {
      if (call.signal && call.signal.aborted) throw abortError(call.signal)
      if (check) input = checkInput(kind, input)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#start(kind, input, call, report)
  }

  /** One scan, traced on `pompelmi:scan` when someone subscribes to it. */
  #start(kind, input, call, report) {
    const trace = diagnostics.scanTrace()
    if (trace !== null) {
      const context = diagnostics.scanContext(kind === FILE ? 'file' : kind === BUFFER ? 'buffer' : 'stream')
      return trace.tracePromise(() => this.#run(kind, input, call, report, context), context)
    }
    return this.#run(kind, input, call, report, null)
  }

  /**
   * Runs one scan: the backend's call, with the abort signal wired to a native abort handle
   * (only when the call has a signal), settled into a Verdict or a report. `context`: the trace's,
   * filled in from the native outcome (which a traced call always asks for).
   */
  #run(kind, input, call, report, context) {
    const { signal } = call
    if (!signal && context === null) {
      const settle = report ? this.#settlePlainReport : this.#settlePlain
      return this.#dispatch(kind, input, call, null, !report).then(settle)
    }
    let abort = null
    let onAbort = null
    if (signal) {
      abort = new CallAbort()
      onAbort = () => abort.abort()
      signal.addEventListener('abort', onAbort, { once: true })
    }
    return this.#dispatch(kind, input, call, abort, !report && context === null).then(
      (result) => {
        if (signal) signal.removeEventListener('abort', onAbort)
        if (context !== null) traced(context, result)
        return this.#settle(result, call, report)
      },
      (err) => {
        if (!signal) throw err
        signal.removeEventListener('abort', onAbort)
        throw this.#closing ? this.#closedError() : signal.aborted ? abortError(signal) : err
      },
    )
  }

  #dispatch(kind, input, call, abort, verdictOnly) {
    if (kind === FILE) return assertFile(input).then(() => this.#backend.file(input, call, abort, verdictOnly && !call.walked))
    if (kind === BUFFER) return this.#backend.buffer(input, call, abort, verdictOnly)
    // A Blob's size is known: one over the size guard is not sent at all.
    if (kind === BLOB && this.#maxFileSize > 0 && input.size > this.#maxFileSize) return Promise.resolve(tooLarge())
    const { stream, release } = openStream(input)
    const scanned = this.#backend.stream(stream, call, abort)
    scanned.then(release, release)
    return scanned
  }

  /** A native result -> a Verdict (`report` false) or a report; failures -> shaped errors. */
  #settle(result, call, report) {
    // A call still in flight when close() was called rejects, whatever it came back with.
    if (this.#closing) throw this.#closedError()
    if (typeof result === 'number') return VERDICT_BY_CODE[result]
    if (result.error) {
      if (result.error.kind === 'aborted' && call && call.signal) throw abortError(call.signal)
      throw toError(result.error, endpointName(result.endpoint))
    }
    const full = toReport(result)
    // scanned.js (quarantine, --delete) loads with the first file report, not with the package.
    if (result.fileId) require('./scanned.js').recordScanned(full, result.fileId, call && call.walked)
    return report ? full : full.verdict
  }
}

/** A trace's context from the native outcome (a verdict code carries nothing more). */
function traced(context, outcome) {
  if (typeof outcome !== 'object' || outcome === null || outcome.error) return
  context.endpoint = endpointName(outcome.endpoint)
  context.bytes = outcome.bytes
  context.verdict = VERDICT_BY_NAME[outcome.verdict] || Verdict.ScanError
  context.reason = outcome.verdict === 'error' ? outcome.reason || 'clamd-error' : null
  context.viruses = outcome.viruses
  context.durationMs = outcome.durationMs
  context.attempt = outcome.attempts ?? 1
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

/** The outcome for a payload over `maxFileSize` in local mode: clamscan never saw it. */
function tooLarge() {
  return { verdict: 'error', viruses: [], reply: '', reason: 'too-large', bytes: 0, durationMs: 0 }
}

function createClient(options) {
  return new Client(options)
}

module.exports = { Client, createClient, START, FILE, BUFFER, STREAM, BLOB }
