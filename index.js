'use strict'
// The public API: pompelmi 1.x's names, options, Verdict symbols and messages, over the native
// clamd client in binding.js. This file validates arguments (so every failure is a rejected
// Promise), routes between clamd and local clamscan, pumps streams with backpressure, and turns
// native outcomes into verdicts or Node-style errors.

const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const util = require('node:util')

const binding = require('./binding.js')
const { createTempFile } = require('./lib/tempfile.js')

// Plain, unregistered Symbols created once per JS realm: the same instances from CJS, ESM, every
// call, and even from a second copy of this package (pompelmi 1.x made new ones per copy).
const VERDICT_KEY = Symbol.for('pompelmi.Verdict')
if (!globalThis[VERDICT_KEY]) {
  Object.defineProperty(globalThis, VERDICT_KEY, {
    value: Object.freeze({ Clean: Symbol('Clean'), Malicious: Symbol('Malicious'), ScanError: Symbol('ScanError') }),
  })
}
const Verdict = globalThis[VERDICT_KEY]

const VERDICT_BY_NAME = { clean: Verdict.Clean, malicious: Verdict.Malicious, error: Verdict.ScanError }

const DEFAULT_HOST = '127.0.0.1'
const DEFAULT_PORT = 3310
const DEFAULT_TIMEOUT = 15000
const DEFAULT_RETRY_DELAY = 1000

// ---------------------------------------------------------------------------------------------
// Options and routing

function optionError(name, expected, value) {
  const err = new TypeError(`The "${name}" option must be ${expected}. Received ${util.inspect(value)}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

function nonNegative(options, name, fallback) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw optionError(name, 'a non-negative number', value)
  }
  return n
}

/**
 * Decides where a call goes, with pompelmi 1.x's rule: clamd mode when any of host, port or
 * socket is present (even `undefined`-valued keys do not count; `null` does), a truthy socket
 * wins, `port` alone means 127.0.0.1. Everything else runs clamscan locally.
 */
function resolveTarget(options) {
  const opts = options == null ? {} : options
  if (typeof opts !== 'object') throw optionError('options', 'an object', options)
  const clamd = opts.host !== undefined || opts.port !== undefined || opts.socket !== undefined
  if (!clamd) {
    if (opts.database !== undefined && typeof opts.database !== 'string') {
      throw optionError('database', 'a string', opts.database)
    }
    return { local: true, database: opts.database }
  }
  const timeout = nonNegative(opts, 'timeout', DEFAULT_TIMEOUT)
  const retries = nonNegative(opts, 'retries', 0)
  const retryDelay = nonNegative(opts, 'retryDelay', DEFAULT_RETRY_DELAY)
  if (!Number.isInteger(retries)) throw optionError('retries', 'a non-negative integer', opts.retries)
  let endpoint
  if (opts.socket) {
    if (typeof opts.socket !== 'string') throw optionError('socket', 'a string', opts.socket)
    endpoint = `unix:${path.resolve(opts.socket)}`
  } else {
    const host = opts.host == null || opts.host === '' ? DEFAULT_HOST : opts.host
    if (typeof host !== 'string') throw optionError('host', 'a string', opts.host)
    const port = opts.port == null ? DEFAULT_PORT : Number(opts.port)
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || (typeof opts.port === 'string' && opts.port.trim() === '')) {
      const err = new RangeError(`Port should be > 0 and < 65536. Received ${util.inspect(opts.port)}.`)
      err.code = 'ERR_SOCKET_BAD_PORT'
      throw err
    }
    endpoint = host.includes(':') ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`
  }
  return { local: false, endpoint, timeout, retries, retryDelay }
}

// One native client per distinct connection options, so repeated top-level calls share it.
const clients = new Map()
const MAX_CLIENTS = 64

function clientFor(target) {
  const key = `${target.endpoint}|${target.timeout}|${target.retries}|${target.retryDelay}`
  let client = clients.get(key)
  if (!client) {
    if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value)
    client = new binding.NativeClient({
      endpoint: target.endpoint,
      timeout: target.timeout,
      retries: target.retries,
      retryDelay: target.retryDelay,
    })
    clients.set(key, client)
  }
  return client
}

// ---------------------------------------------------------------------------------------------
// Native outcomes → verdicts and Node-style errors

const SYSTEM_ERRORS = new Map()
for (const [errno, [code, description]] of util.getSystemErrorMap()) SYSTEM_ERRORS.set(code, { errno, description })
SYSTEM_ERRORS.set('ENOTFOUND', SYSTEM_ERRORS.get('EAI_NONAME') || { errno: -3008, description: 'not found' })

function toError(native) {
  const err = new Error(native.message)
  if (native.code) {
    err.code = native.code
    const known = SYSTEM_ERRORS.get(native.code)
    if (known) {
      err.errno = known.errno
      // File errors read like Node's fs errors: `EACCES: permission denied, open '/x'`.
      // Like Node, a failed read names no path (it is a read on a descriptor).
      if (native.path && native.syscall && !native.syscall.startsWith('spawn ')) {
        if (native.syscall === 'read') native.path = null
        err.message = `${native.code}: ${known.description}, ${native.syscall}${native.path ? ` '${native.path}'` : ''}`
      }
    }
  }
  for (const key of ['syscall', 'address', 'port', 'path', 'hostname', 'spawnargs']) {
    if (native[key] != null) err[key] = native[key]
  }
  return err
}

function settle(outcome) {
  if (outcome.error) throw toError(outcome.error)
  return outcome
}

function toVerdict(outcome) {
  return VERDICT_BY_NAME[settle(outcome).verdict] || Verdict.ScanError
}

// ---------------------------------------------------------------------------------------------
// Inputs

async function assertFile(filePath) {
  if (typeof filePath !== 'string') throw new Error('filePath must be a string')
  // pompelmi 1.x used existsSync: anything that cannot be stat'ed is "not found".
  try {
    await fs.promises.stat(filePath)
  } catch {
    throw new Error(`File not found: ${filePath}`)
  }
}

function assertBuffer(buffer) {
  if (!Buffer.isBuffer(buffer)) throw new Error('buffer must be a Buffer')
  if (buffer.length === 0) throw new Error('buffer is empty')
}

function assertReadable(stream) {
  if (!(stream instanceof Readable)) throw new Error('stream must be a Readable')
}

function chunkBytes(chunk, stream) {
  if (Buffer.isBuffer(chunk)) return chunk
  // Strings (setEncoding, object mode) are turned back into the bytes they were decoded from.
  if (typeof chunk === 'string') return Buffer.from(chunk, stream.readableEncoding || 'utf8')
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  const err = new TypeError(`stream must yield Buffer, Uint8Array or string chunks. Received ${util.inspect(chunk, { depth: 0 })}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  throw err
}

/**
 * Feeds a Readable to a native INSTREAM upload, one chunk in flight at a time: the stream is only
 * read as fast as clamd takes the data. When clamd answers early the stream is left alone (not
 * destroyed); when the stream fails the scan rejects with the stream's own error.
 */
async function pumpStream(upload, stream) {
  let sourceError = null
  try {
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
      const bytes = chunkBytes(chunk, stream)
      if (bytes.length === 0) continue
      if (!(await upload.write(bytes))) break
    }
  } catch (err) {
    sourceError = err
    upload.abort(String((err && err.message) || err))
  }
  const outcome = await upload.finish()
  if (sourceError) throw sourceError
  return outcome
}

// ---------------------------------------------------------------------------------------------
// Local mode (clamscan)

async function localScanFile(filePath, target) {
  return binding.localScan(filePath, target.database)
}

/** Writes data to a private temp file, scans it with clamscan and always removes it. */
async function localScanData(write, target) {
  const temp = await createTempFile()
  try {
    await write(temp)
    return await localScanFile(temp.path, target)
  } finally {
    await temp.remove()
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

async function inspectFile(filePath, options) {
  const target = resolveTarget(options)
  await assertFile(filePath)
  return settle(target.local ? await localScanFile(filePath, target) : await clientFor(target).scanFile(filePath))
}

async function inspectBufferData(buffer, options) {
  assertBuffer(buffer)
  const target = resolveTarget(options)
  if (target.local) return settle(await localScanData((temp) => temp.write(buffer), target))
  return settle(await clientFor(target).scanBuffer(buffer))
}

async function inspectStreamData(stream, options) {
  assertReadable(stream)
  const target = resolveTarget(options)
  if (target.local) {
    return settle(await localScanData((temp) => pipeline(stream, temp.createWriteStream()), target))
  }
  return settle(await pumpStream(clientFor(target).openStream(), stream))
}

function scan(filePath, options) {
  return inspectFile(filePath, options).then(toVerdict)
}

function scanBuffer(buffer, options) {
  return inspectBufferData(buffer, options).then(toVerdict)
}

function scanStream(stream, options) {
  return inspectStreamData(stream, options).then(toVerdict)
}

async function listFiles(dirPath) {
  if (typeof dirPath !== 'string') throw new Error('dirPath must be a string')
  if (!fs.existsSync(dirPath)) throw new Error(`Directory not found: ${dirPath}`)
  const entries = await fs.promises.readdir(dirPath, { recursive: true })
  const files = []
  const unreadable = []
  for (const entry of entries.sort()) {
    const p = path.join(dirPath, entry)
    try {
      if ((await fs.promises.stat(p)).isFile()) files.push(p)
    } catch {
      unreadable.push(p) // broken link, link loop, vanished file: reported, not fatal
    }
  }
  return { files, unreadable }
}

function directoryConcurrency(options) {
  const target = resolveTarget(options)
  const fallback = target.local ? 1 : 8 // each clamscan loads the whole signature database
  const n = nonNegative(options || {}, 'concurrency', fallback)
  return Math.max(1, Math.floor(n))
}

async function scanDirectory(dirPath, options) {
  const { files, unreadable } = await listFiles(dirPath)
  const concurrency = directoryConcurrency(options)
  const verdicts = new Array(files.length)
  let next = 0
  async function worker() {
    while (next < files.length) {
      const i = next++
      verdicts[i] = await scan(files[i], options).catch(() => null)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker))
  const result = { clean: [], malicious: [], errors: [] }
  files.forEach((file, i) => {
    if (verdicts[i] === Verdict.Clean) result.clean.push(file)
    else if (verdicts[i] === Verdict.Malicious) result.malicious.push(file)
    else result.errors.push(file)
  })
  result.errors.push(...unreadable)
  return result
}

scanDirectory.stream = async function* stream(dirPath, options) {
  const { files, unreadable } = await listFiles(dirPath)
  const total = files.length + unreadable.length
  const summary = { clean: [], malicious: [], errors: [] }
  let scanned = 0
  for (const [file, readable] of [...files.map((f) => [f, true]), ...unreadable.map((f) => [f, false])]) {
    yield { type: 'progress', scanned: ++scanned, total, file }
    const verdict = readable ? await scan(file, options).catch(() => null) : null
    if (verdict === Verdict.Clean) summary.clean.push(file)
    else if (verdict === Verdict.Malicious) summary.malicious.push(file)
    else summary.errors.push(file)
    yield { type: 'result', file, verdict }
  }
  yield { type: 'complete', summary }
}

module.exports = {
  scan,
  scanBuffer,
  scanStream,
  scanDirectory,
  Verdict,
}
