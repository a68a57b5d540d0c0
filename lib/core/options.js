'use strict'
// Options: defaults, validation, pompelmi 1.x's routing between clamd and local clamscan, and the
// endpoint grammar (parsed here once into the objects the native client takes).

const path = require('node:path')
const util = require('node:util')
const { invalidOption } = require('./errors.js')

/**
 * Internal per-call option of the walkers: `{ root, rel, fileId }`. The file is opened as
 * `root/rel` one directory descriptor at a time without following any symlink, and must still be
 * the inode `fileId` (`dev:ino`) the walk listed; `fileId` may be absent (watch).
 */
const WALKED = Symbol('pompelmi.walked')

/**
 * The caller's own options: a copy of its own enumerable properties (symbols included), so a
 * key inherited from a polluted `Object.prototype` never counts. `null`/`undefined` mean `{}`.
 */
function own(options, name = 'options') {
  // No prototype: reading a key the caller did not set finds nothing, whatever Object.prototype
  // holds (also when no options were given at all).
  const copy = Object.create(null)
  if (options === undefined || options === null) return copy
  if (typeof options !== 'object' && typeof options !== 'function') throw invalidOption(name, 'an object', options)
  for (const key of Object.keys(options)) copy[key] = options[key]
  for (const key of Object.getOwnPropertySymbols(options)) {
    if (Object.prototype.propertyIsEnumerable.call(options, key)) copy[key] = options[key]
  }
  return copy
}

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
  maxConnectionAge: 5 * 60 * 1000,
  discoverInterval: 30000,
  readyTimeout: 30000,
  readyInterval: 500,
})

/**
 * A numeric option: a number or a numeric string (a value from an environment variable), finite,
 * at least `min` (0), an integer when asked; `fallback` when absent. Read as an own property.
 */
function nonNegative(options, name, fallback, { integer = false, min = 0 } = {}) {
  const value = Object.hasOwn(options, name) ? options[name] : undefined
  if (value === undefined || value === null) return fallback
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    const what = min > 0 ? `${integer ? 'an integer' : 'a number'} >= ${min}` : integer ? 'a non-negative integer' : 'a non-negative number'
    throw invalidOption(name, what, value)
  }
  return n
}

/** An option that must be one of `allowed` (or absent: `fallback`). */
function oneOf(options, name, allowed, fallback) {
  const value = Object.hasOwn(options, name) ? options[name] : undefined
  if (value === undefined) return fallback
  if (!allowed.includes(value)) throw invalidOption(name, allowed.map((a) => util.inspect(a)).join(', ').replace(/, ([^,]*)$/, ' or $1'), value)
  return value
}

/** An option that must be a string (or absent: `fallback`). */
function stringOption(options, name, fallback, { nonEmpty = false } = {}) {
  const value = Object.hasOwn(options, name) ? options[name] : undefined
  if (value === undefined) return fallback
  if (typeof value !== 'string' || (nonEmpty && value === '')) throw invalidOption(name, nonEmpty ? 'a non-empty string' : 'a string', value)
  return value
}

function tcpEndpoint(host, port, optionName = 'port') {
  if (host == null || host === '') host = DEFAULTS.host
  if (typeof host !== 'string') throw invalidOption('host', 'a string', host)
  // An integer, or a string of one: `true` is not port 1, nor `[3310]` port 3310.
  const n = port == null ? DEFAULTS.port : typeof port === 'number' ? port : typeof port === 'string' && /^\s*\d+\s*$/.test(port) ? Number(port) : NaN
  if (!Number.isInteger(n) || n <= 0 || n > 65535) {
    const err = new RangeError(`Port should be > 0 and < 65536. Received ${util.inspect(port)}.`)
    err.code = 'ERR_SOCKET_BAD_PORT'
    err.option = optionName
    throw err
  }
  return { kind: 'tcp', host, port: n }
}

/** PEM as Node's `tls` takes it (a string, a Buffer, or a list of them) -> one PEM text. */
function pemOption(value, name) {
  const list = Array.isArray(value) ? value : [value]
  const texts = list.map((item) => (typeof item === 'string' ? item : Buffer.isBuffer(item) || item instanceof Uint8Array ? Buffer.from(item).toString('latin1') : null))
  if (list.length === 0 || texts.includes(null)) throw invalidOption(`tls.${name}`, 'PEM as a string or a Buffer (or a list of them)', value)
  return texts.join('\n')
}

/**
 * The `tls` option of a TCP endpoint: `true` (the system's CAs), or `{ ca, cert, key, servername,
 * rejectUnauthorized }` as Node's `tls` takes them; null when absent or false.
 */
function tlsOption(value) {
  if (value === undefined || value === null || value === false) return null
  if (value === true) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidOption('tls', 'true or { ca, cert, key, servername, rejectUnauthorized }', value)
  const opts = own(value, 'tls')
  const known = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized']
  const unknown = Object.keys(opts).filter((k) => !known.includes(k))
  if (unknown.length) throw invalidOption('tls', `made of ${known.join(', ')} (not ${unknown.join(', ')})`, value)
  const tls = {}
  for (const name of ['ca', 'cert', 'key']) if (opts[name] !== undefined) tls[name] = pemOption(opts[name], name)
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw invalidOption('tls', 'cert and key together (mutual TLS)', value)
  if (opts.servername !== undefined) {
    if (typeof opts.servername !== 'string' || opts.servername === '') throw invalidOption('tls.servername', 'a non-empty string', opts.servername)
    tls.servername = opts.servername
  }
  if (opts.rejectUnauthorized !== undefined) {
    if (typeof opts.rejectUnauthorized !== 'boolean') throw invalidOption('tls.rejectUnauthorized', 'a boolean', opts.rejectUnauthorized)
    tls.rejectUnauthorized = opts.rejectUnauthorized
  }
  return tls
}

/** A TCP endpoint, with TLS when `tls` asks for it. */
function withTls(endpoint, tls) {
  const settings = tlsOption(tls)
  return settings ? { ...endpoint, kind: 'tls', tls: settings } : endpoint
}

/**
 * `discover` on a TCP endpoint: `true`, its name's every A and AAAA address becomes an endpoint;
 * `'srv'`, every target of its `_clamd._tcp` SRV records, with the records' ports.
 */
function withDiscover(endpoint, discover) {
  if (discover === undefined || discover === null || discover === false) return endpoint
  if (discover !== true && discover !== 'srv') throw invalidOption('discover', "true or 'srv'", discover)
  return { ...endpoint, discover: discover === 'srv' ? 'srv' : 'address' }
}

/** A UNIX endpoint takes no `tls` and no `discover`. */
function unixOnly(tls, discover) {
  noTls(tls)
  if (discover !== undefined && discover !== null && discover !== false) throw invalidOption('discover', 'absent on a UNIX socket endpoint (discovery resolves a TCP host name)', discover)
}

/** A UNIX endpoint takes no `tls`: there is no TLS over a local socket. */
function noTls(tls) {
  if (tls !== undefined && tls !== null && tls !== false) throw invalidOption('tls', 'absent on a UNIX socket endpoint (TLS is for TCP)', tls)
}

function unixEndpoint(socket) {
  if (typeof socket !== 'string') throw invalidOption('socket', 'a string', socket)
  return { kind: 'unix', path: path.resolve(socket) }
}

/**
 * An endpoint's name in reports and errors: `tcp://host:port`, `tls://host:port`, `unix:/path` or
 * `clamscan`; a discovered name before it resolves `dns+tcp://name:port` (its addresses, once
 * resolved, are named like any TCP endpoint).
 */
function endpointName(e) {
  if (!e) return null
  if (e.discover === 'srv') return `dns+srv://${e.host}`
  if (e.discover) return `dns+${e.kind}://${e.host}:${e.port}`
  if (e.kind === 'tcp' || e.kind === 'tls') return e.host.includes(':') ? `${e.kind}://[${e.host}]:${e.port}` : `${e.kind}://${e.host}:${e.port}`
  if (e.kind === 'unix') return `unix:${e.path}`
  return 'clamscan'
}

const GRAMMAR = 'made of { host, port, tls, discover }, { socket }, "tcp://host:port", "tls://host:port", "dns+tcp://host:port", "dns+tls://host:port", "dns+srv://name" or "unix:/path"'

/**
 * The one parser of the endpoint grammar: `{ host, port, tls, discover }`, `{ socket }`,
 * `tcp://host:port`, `tls://host:port`, `dns+tcp://host:port`, `dns+tls://host:port`,
 * `dns+srv://name` or `unix:/path` -> the native endpoint object.
 */
function parseEndpoint(spec) {
  if (typeof spec === 'string') {
    if (spec.startsWith('unix:')) return unixEndpoint(spec.replace(/^unix:(\/\/)?/, ''))
    const srv = /^dns\+srv:\/\/([A-Za-z0-9_.-]+)\/?$/.exec(spec)
    if (srv) return withDiscover(tcpEndpoint(srv[1], undefined), 'srv')
    const m = /^(dns\+)?(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(spec)
    if (m) return withDiscover(withTls(tcpEndpoint(m[3].replace(/^\[|\]$/g, ''), m[4]), m[2] === 'tls'), m[1] ? true : undefined)
    throw invalidOption('endpoints', GRAMMAR, spec)
  }
  if (spec && typeof spec === 'object') {
    const { socket, host, port, tls, discover } = own(spec, 'endpoints')
    if (socket) {
      unixOnly(tls, discover)
      return unixEndpoint(socket)
    }
    return withDiscover(withTls(tcpEndpoint(host, port), tls), discover)
  }
  throw invalidOption('endpoints', GRAMMAR, spec)
}

/** `resolver`: nameservers as `'ip:port'` strings (IPv6 as `'[::1]:53'`); absent: the system's. */
function resolverOption(value) {
  if (value === undefined || value === null) return []
  const valid = (s) => typeof s === 'string' && /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/.test(s) && Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535
  if (!Array.isArray(value) || value.length === 0 || !value.every(valid)) throw invalidOption('resolver', "a non-empty array of 'ip:port' strings", value)
  return [...value]
}

/**
 * A key for options made only of own string keys with primitive values (`{ socket: '/x' }`):
 * two such objects with the same key resolve alike. undefined for anything else.
 */
function shapeKey(options) {
  if (options[WALKED] !== undefined) return undefined
  let key = ''
  for (const name of Object.keys(options)) {
    const value = options[name]
    const type = value === null ? 'null' : typeof value
    if (type !== 'string' && type !== 'number' && type !== 'boolean' && type !== 'undefined' && type !== 'null') return undefined
    key += `${name}\u0000${type}\u0000${value}\u0001`
  }
  return key
}

const MAX_SHAPES = 256

/**
 * `compute(options)` once per options object: options are read when an object is first used (a
 * later change to the same object may not be seen; pass a new object instead). Objects of primitive
 * values are cached by their content, so a literal written in the call (`{ socket }`) is resolved
 * once too (and no per-call object is kept in a WeakMap); others by identity. Missing options
 * share one result; errors are not cached (they throw again on every use).
 */
function once(compute) {
  const byObject = new WeakMap()
  const byShape = new Map()
  let forMissing
  // The object seen last, and what it resolved to: a caller that passes the same object on
  // every call (the common case) costs one comparison.
  let lastObject = null
  let lastResolved
  return (options) => {
    if (options === undefined || options === null) return (forMissing ||= compute(options))
    if (options === lastObject) return lastResolved
    if (typeof options !== 'object' && typeof options !== 'function') return compute(options)
    let resolved = byObject.get(options)
    if (resolved === undefined) {
      // One read of the caller's properties: the content key and the resolution come from the
      // same values (a getter answering differently each time cannot file one under the other).
      const snapshot = own(options)
      const key = shapeKey(snapshot)
      if (key === undefined) {
        resolved = compute(snapshot)
        byObject.set(options, resolved)
      } else {
        resolved = byShape.get(key)
        if (resolved === undefined) {
          resolved = compute(snapshot)
          if (byShape.size >= MAX_SHAPES) byShape.clear()
          byShape.set(key, resolved)
        }
      }
    }
    lastObject = options
    lastResolved = resolved
    return resolved
  }
}

/**
 * Resolves connection options with pompelmi 1.x's routing: clamd mode when any of host, port or
 * socket is present (`undefined`-valued keys do not count; `null` does), a truthy socket wins,
 * `port` alone means 127.0.0.1; `endpoints` lists several clamd instances. Everything else runs
 * clamscan locally.
 */
function computeTarget(options) {
  const opts = own(options)
  let endpoints = null
  if (opts.endpoints !== undefined) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw invalidOption('endpoints', 'a non-empty array', opts.endpoints)
    }
    // Two ways to name clamd in one options object: which one was meant is not guessed.
    const also = ['host', 'port', 'socket', 'tls', 'discover'].filter((k) => opts[k] !== undefined)
    if (also.length) {
      const err = new TypeError(`The "endpoints" option cannot be combined with ${also.map((k) => `"${k}"`).join(', ')}: list every clamd in "endpoints"`)
      err.code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    endpoints = opts.endpoints.map(parseEndpoint)
  } else if (opts.host !== undefined || opts.port !== undefined || opts.socket !== undefined) {
    if (opts.socket) unixOnly(opts.tls, opts.discover)
    endpoints = [opts.socket ? unixEndpoint(opts.socket) : withDiscover(withTls(tcpEndpoint(opts.host, opts.port), opts.tls), opts.discover)]
  } else if (opts.tls !== undefined && opts.tls !== null && opts.tls !== false) {
    // TLS with no clamd named: local mode has no connection to encrypt; silently ignoring it would
    // leave a user believing the scan went over TLS.
    throw invalidOption('tls', 'used with host/port or endpoints (local mode has no connection)', opts.tls)
  } else if (opts.discover !== undefined && opts.discover !== null && opts.discover !== false) {
    throw invalidOption('discover', 'used with host/port (local mode has no clamd to discover)', opts.discover)
  }
  const maxFileSize = nonNegative(opts, 'maxFileSize', DEFAULTS.maxFileSize, { integer: true })
  if (!endpoints) {
    if (opts.database !== undefined && typeof opts.database !== 'string') throw invalidOption('database', 'a string', opts.database)
    const database = opts.database === undefined ? null : path.resolve(opts.database)
    const target = { local: true, database, maxFileSize, timeout: nonNegative(opts, 'timeout', DEFAULTS.localTimeout) }
    target.key = JSON.stringify(target)
    // What decides a verdict: the engine asked and the size guard (createCache's key).
    target.verdictKey = JSON.stringify(['clamscan', database, maxFileSize])
    return Object.freeze(target)
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
    maxConnectionAge: nonNegative(opts, 'maxConnectionAge', DEFAULTS.maxConnectionAge),
    resolver: resolverOption(opts.resolver),
    discoverInterval: nonNegative(opts, 'discoverInterval', DEFAULTS.discoverInterval, { min: 1000 }),
  }
  target.key = JSON.stringify(target)
  target.verdictKey = JSON.stringify(['clamd', endpoints.map(endpointName).sort(), maxFileSize])
  return Object.freeze(target)
}

/** Connection options, resolved once per options object (see `once`). */
const resolveTarget = once(computeTarget)

/** An `AbortSignal`-like value, or undefined; anything else throws. */
function signalOption(signal) {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    const err = new TypeError(`The "signal" option must be an AbortSignal. Received ${util.inspect(signal)}`)
    err.code = 'ERR_INVALID_ARG_TYPE'
    throw err
  }
  return signal
}

/**
 * A call's own settings: `signal`, `timeout` (only where `withTimeout`: on a client's calls,
 * where the top level's `timeout` is a connection option) and the walkers' WALKED, with
 * `native`, what the native call takes (undefined when there is nothing to say).
 */
function computeCall(options, withTimeout) {
  const opts = own(options)
  const signal = signalOption(opts.signal)
  const timeout = withTimeout && opts.timeout !== undefined ? nonNegative(opts, 'timeout', undefined) : undefined
  const walked = opts[WALKED]
  const native = timeout === undefined && !walked ? undefined : { timeout, ...(walked && { root: walked.root, rel: walked.rel, fileId: walked.fileId }) }
  return Object.freeze({ signal, timeout, walked, native })
}

/** A client call's options (`signal`, `timeout`), resolved once per options object. */
const callOptions = once((options) => computeCall(options, true))
/** The per-call part of top-level options (`signal`), resolved once per options object. */
const topLevelCall = once((options) => computeCall(options, false))

module.exports = { DEFAULTS, WALKED, own, once, nonNegative, oneOf, stringOption, resolveTarget, callOptions, topLevelCall, endpointName }
