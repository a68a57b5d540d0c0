'use strict'
// Options: defaults, validation, pompelmi 1.x's routing between clamd and local clamscan, and the
// endpoint grammar (parsed here once into the objects the native client takes).

const path = require('node:path')
const util = require('node:util')
const { invalidOption } = require('./errors.js')

/** Internal per-call option: refuse a symlink in the path's last component (directory walks). */
const NOFOLLOW = Symbol('pompelmi.nofollow')

const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 3310,
  timeout: 15000,
  retries: 0,
  retryDelay: 1000,
  maxConnections: 4,
  // A host that drops SYNs must not cost the whole idle timeout per endpoint.
  connectTimeout: 5000,
  // clamscan loads the whole signature database on every run (tens of seconds with the full set).
  localTimeout: 120000,
  // clamd's own MaxFileSize default: clamd skips larger files and, without AlertExceedsMax,
  // answers OK for them.
  maxFileSize: 100 * 1024 * 1024,
  readyTimeout: 30000,
  readyInterval: 500,
})

function nonNegative(options, name, fallback, { integer = false } = {}) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw invalidOption(name, integer ? 'a non-negative integer' : 'a non-negative number', value)
  }
  return n
}

function tcpEndpoint(host, port, optionName = 'port') {
  if (host == null || host === '') host = DEFAULTS.host
  if (typeof host !== 'string') throw invalidOption('host', 'a string', host)
  const n = port == null ? DEFAULTS.port : typeof port === 'string' && port.trim() === '' ? NaN : Number(port)
  if (!Number.isInteger(n) || n <= 0 || n > 65535) {
    const err = new RangeError(`Port should be > 0 and < 65536. Received ${util.inspect(port)}.`)
    err.code = 'ERR_SOCKET_BAD_PORT'
    err.option = optionName
    throw err
  }
  return { kind: 'tcp', host, port: n }
}

function unixEndpoint(socket) {
  if (typeof socket !== 'string') throw invalidOption('socket', 'a string', socket)
  return { kind: 'unix', path: path.resolve(socket) }
}

/** An endpoint's name in reports and errors: `tcp://host:port`, `unix:/path` or `clamscan`. */
function endpointName(e) {
  if (!e) return null
  if (e.kind === 'tcp') return e.host.includes(':') ? `tcp://[${e.host}]:${e.port}` : `tcp://${e.host}:${e.port}`
  if (e.kind === 'unix') return `unix:${e.path}`
  return 'clamscan'
}

/** `{ host, port }`, `{ socket }`, `tcp://host:port` or `unix:/path` → the native endpoint object. */
function parseEndpoint(spec) {
  if (typeof spec === 'string') {
    if (spec.startsWith('unix:')) return unixEndpoint(spec.replace(/^unix:(\/\/)?/, ''))
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(spec)
    if (m) return tcpEndpoint(m[1].replace(/^\[|\]$/g, ''), m[2])
    throw invalidOption('endpoints', 'made of { host, port }, { socket }, "tcp://host:port" or "unix:/path"', spec)
  }
  if (spec && typeof spec === 'object') return spec.socket ? unixEndpoint(spec.socket) : tcpEndpoint(spec.host, spec.port)
  throw invalidOption('endpoints', 'made of { host, port }, { socket }, "tcp://host:port" or "unix:/path"', spec)
}

/**
 * Resolves connection options with pompelmi 1.x's routing: clamd mode when any of host, port or
 * socket is present (`undefined`-valued keys do not count; `null` does), a truthy socket wins,
 * `port` alone means 127.0.0.1; `endpoints` lists several clamd instances. Everything else runs
 * clamscan locally.
 */
function resolveTarget(options) {
  const opts = options == null ? {} : options
  if (typeof opts !== 'object') throw invalidOption('options', 'an object', options)
  let endpoints = null
  if (opts.endpoints !== undefined) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw invalidOption('endpoints', 'a non-empty array', opts.endpoints)
    }
    endpoints = opts.endpoints.map(parseEndpoint)
  } else if (opts.host !== undefined || opts.port !== undefined || opts.socket !== undefined) {
    endpoints = [opts.socket ? unixEndpoint(opts.socket) : tcpEndpoint(opts.host, opts.port)]
  }
  const maxFileSize = nonNegative(opts, 'maxFileSize', DEFAULTS.maxFileSize, { integer: true })
  if (!endpoints) {
    if (opts.database !== undefined && typeof opts.database !== 'string') throw invalidOption('database', 'a string', opts.database)
    const database = opts.database === undefined ? null : path.resolve(opts.database)
    const target = { local: true, database, maxFileSize, timeout: nonNegative(opts, 'timeout', DEFAULTS.localTimeout) }
    target.key = JSON.stringify(target)
    // What decides a verdict: the engine asked and the size guard (createCache's key).
    target.verdictKey = JSON.stringify(['clamscan', database, maxFileSize])
    return target
  }
  const timeout = nonNegative(opts, 'timeout', DEFAULTS.timeout)
  const target = {
    local: false,
    endpoints,
    maxFileSize,
    timeout,
    connectTimeout: nonNegative(opts, 'connectTimeout', DEFAULTS.connectTimeout),
    queueTimeout: nonNegative(opts, 'queueTimeout', timeout),
    retries: nonNegative(opts, 'retries', DEFAULTS.retries, { integer: true }),
    retryDelay: nonNegative(opts, 'retryDelay', DEFAULTS.retryDelay),
    maxConnections: nonNegative(opts, 'maxConnections', DEFAULTS.maxConnections, { integer: true }),
    fdpass: opts.fdpass === undefined ? true : Boolean(opts.fdpass),
  }
  target.key = JSON.stringify(target)
  target.verdictKey = JSON.stringify(['clamd', endpoints.map(endpointName).sort(), maxFileSize])
  return target
}

/** Per-call options: `{ signal, timeout }`. */
function callOptions(options) {
  const opts = options == null ? {} : options
  if (typeof opts !== 'object') throw invalidOption('options', 'an object', options)
  const { signal } = opts
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    const err = new TypeError(`The "signal" option must be an AbortSignal. Received ${util.inspect(signal)}`)
    err.code = 'ERR_INVALID_ARG_TYPE'
    throw err
  }
  const timeout = opts.timeout === undefined ? undefined : nonNegative(opts, 'timeout', undefined)
  const nofollow = opts[NOFOLLOW] === true
  return { signal, timeout, nofollow, native: timeout === undefined && !nofollow ? undefined : { timeout, nofollow } }
}

module.exports = { DEFAULTS, NOFOLLOW, nonNegative, resolveTarget, callOptions, endpointName }
