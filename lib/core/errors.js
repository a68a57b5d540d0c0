'use strict'
// Every error this package rejects with is shaped here, once: pompelmi 1.x's input errors (its
// exact messages, each with a fixed `code`), option errors, aborts, the closed client, and native
// failures turned into errors like Node's own (`code`, `errno`, `syscall`, `address`, `port`,
// `path`) from the typed native error. The codes are listed in codes.js.

const util = require('node:util')

function coded(message, code) {
  const err = new Error(message)
  err.code = code
  return err
}

/** This package's own argument-type errors are TypeErrors, like Node's. */
function typeError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

// pompelmi 1.x's input errors (1.x had no codes; every rejection here carries one).
const notAString = (name) => coded(`${name} must be a string`, 'ERR_INVALID_ARG_TYPE')
const fileNotFound = (file) => coded(`File not found: ${file}`, 'ENOENT')
const directoryNotFound = (dir) => coded(`Directory not found: ${dir}`, 'ENOENT')
const notABuffer = () => coded('buffer must be a Buffer', 'ERR_INVALID_ARG_TYPE')
const emptyBuffer = () => coded('buffer is empty', 'ERR_INVALID_ARG_VALUE')
const notAReadable = () => coded('stream must be a Readable', 'ERR_INVALID_ARG_TYPE')
const notABlob = () => typeError('blob must be a Blob')
const notAFormData = () => typeError('formData must be a FormData')
const streamDestroyed = () => coded('stream was destroyed before it was scanned: its bytes cannot all be read', 'ERR_STREAM_DESTROYED')
const streamConsumed = () => coded('stream was already read or has ended: its bytes cannot all be scanned', 'ERR_STREAM_ALREADY_FINISHED')

function invalidOption(name, expected, value) {
  const err = new TypeError(`The "${name}" option must be ${expected}. Received ${util.inspect(value)}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

function abortError(signal) {
  const err = new Error('The operation was aborted', signal && signal.reason !== undefined ? { cause: signal.reason } : undefined)
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

/** errno and description by code (built on the first native error, not with the package). */
let systemErrors = null
function systemError(code) {
  if (!systemErrors) {
    systemErrors = new Map()
    for (const [errno, [name, description]] of util.getSystemErrorMap()) systemErrors.set(name, { errno, description })
    systemErrors.set('ENOTFOUND', systemErrors.get('EAI_NONAME') || { errno: -3008, description: 'not found' })
  }
  return systemErrors.get(code)
}

/** A failure of what was being uploaded (a file, a stream that stopped giving data), not of clamd. */
const aboutTheUpload = (e) => Boolean(e.path) || (e.code === 'ETIMEDOUT' && e.syscall === 'read')

/** A native error description -> an Error shaped like Node's own. */
function toError(native, endpoint) {
  const err = new Error(native.message)
  if (native.code) {
    err.code = native.code
    const known = systemError(native.code)
    if (known && native.kind !== 'timeout') {
      err.errno = known.errno
      // File errors read like Node's fs errors: `EACCES: permission denied, open '/x'`; like
      // Node, a failed read names no path (it is a read on a descriptor).
      if (native.path && native.syscall && !native.syscall.startsWith('spawn ')) {
        if (native.syscall === 'read') native.path = null
        err.message = `${native.code}: ${known.description}, ${native.syscall}${native.path ? ` '${native.path}'` : ''}`
      }
    }
  }
  for (const key of ['syscall', 'address', 'port', 'path', 'hostname', 'spawnargs']) {
    if (native[key] != null) err[key] = native[key]
  }
  // Which clamd failed (file errors, and a source that gave no data, are not about the endpoint).
  if (endpoint && !aboutTheUpload(native)) err.endpoint = endpoint
  return err
}

/** A stream that gave no data for `ms` (local mode; clamd mode's comes from the native client). */
function streamTimeout(ms) {
  const err = new Error(`timed out after ${ms}ms waiting for data from the stream`)
  err.code = 'ETIMEDOUT'
  err.syscall = 'read'
  return err
}

/** A client or pool that was closed: its calls reject with this. */
function clientClosed(message = 'Client closed', code = 'ERR_CLIENT_CLOSED') {
  return coded(message, code)
}

/**
 * Whether an error means clamd could not be reached or did not answer in time (the CLI's exit
 * code 3): a failed connect or name lookup, a reset, a timeout, or no clamd configured.
 */
function isUnreachable(err) {
  if (!err || aboutTheUpload(err)) return false
  return err.syscall === 'connect' || err.syscall === 'getaddrinfo' || ['ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ERR_NO_CLAMD'].includes(err.code)
}

/**
 * An upload that clamd found malicious, where a stream must fail rather than answer (the scanning
 * tee, the multer storage engine): HTTP 403, the report on `err.report`.
 */
class MaliciousUploadError extends Error {
  constructor(report, name) {
    super(`${name ? `${name}: ` : ''}malicious upload (${report.viruses.join(', ') || 'FOUND'})`)
    this.name = 'MaliciousUploadError'
    this.code = 'ERR_MALICIOUS_UPLOAD'
    this.status = this.statusCode = 403
    this.report = report
  }
}

/**
 * An upload that could not be shown clean: clamd answered ScanError (`err.report`), or the scan
 * failed (clamd down, a timeout, the size guard, an abort: `err.cause`). HTTP 422.
 */
class ScanFailedError extends Error {
  constructor({ report, cause, name, message } = {}) {
    const why = report ? report.reason : cause ? cause.code || cause.message : 'unknown'
    super(message || `${name ? `${name}: ` : ''}upload could not be scanned (${why})`, cause ? { cause } : undefined)
    this.name = 'ScanFailedError'
    this.code = 'ERR_SCAN_FAILED'
    this.status = this.statusCode = 422
    if (report) this.report = report
  }
}

module.exports = {
  MaliciousUploadError,
  ScanFailedError,
  invalidOption,
  abortError,
  toError,
  streamTimeout,
  clientClosed,
  isUnreachable,
  coded,
  notAString,
  fileNotFound,
  directoryNotFound,
  notABuffer,
  emptyBuffer,
  notAReadable,
  notABlob,
  notAFormData,
  streamDestroyed,
  streamConsumed,
}
