'use strict'
// The top-level functions (scan, scanBuffer, …): pompelmi 1.x's calls, each on a shared Client per
// distinct connection options. Their connections never keep the process alive, so scripts exit
// without calling close().

const { Client } = require('./client.js')
const { WALKED, own, resolveTarget } = require('./options.js')
const { assertBuffer, assertReadable } = require('./inputs.js')

const sharedClients = new Map()
const MAX_SHARED_CLIENTS = 64

function sharedClient(options) {
  const target = resolveTarget(options)
  let client = sharedClients.get(target.key)
  if (!client) {
    // Forget the oldest; its calls in flight still hold it, and its connections close once it
    // is collected (closing it here would reject them).
    if (sharedClients.size >= MAX_SHARED_CLIENTS) sharedClients.delete(sharedClients.keys().next().value)
    client = new Client(options)
    sharedClients.set(target.key, client)
  }
  return client
}

/** Runs `fn(client)` on the shared client for `options`; option errors reject. */
function withShared(options, fn) {
  let client
  try {
    client = sharedClient(options)
  } catch (err) {
    return Promise.reject(err)
  }
  return fn(client)
}

/** The per-call part of top-level options: `signal` (and the walkers' internal WALKED). */
function signalOnly(options) {
  const opts = own(options)
  return opts.signal !== undefined || opts[WALKED] ? { signal: opts.signal, [WALKED]: opts[WALKED] } : undefined
}

function scan(filePath, options) {
  return withShared(options, (c) => c.scan(filePath, signalOnly(options)))
}

function scanBuffer(buffer, options) {
  // pompelmi 1.x validated buffers before routing: a bad buffer wins over bad options.
  try {
    assertBuffer(buffer)
  } catch (err) {
    return Promise.reject(err)
  }
  return withShared(options, (c) => c.scanBuffer(buffer, signalOnly(options)))
}

function scanStream(stream, options) {
  try {
    assertReadable(stream)
  } catch (err) {
    return Promise.reject(err)
  }
  return withShared(options, (c) => c.scanStream(stream, signalOnly(options)))
}

function inspect(filePath, options) {
  return withShared(options, (c) => c.inspect(filePath, signalOnly(options)))
}

function inspectBuffer(buffer, options) {
  return withShared(options, (c) => c.inspectBuffer(buffer, signalOnly(options)))
}

function inspectStream(stream, options) {
  return withShared(options, (c) => c.inspectStream(stream, signalOnly(options)))
}

function ping(options) {
  return withShared(options, (c) => c.ping())
}

function version(options) {
  return withShared(options, (c) => c.version())
}

function stats(options) {
  return withShared(options, (c) => c.stats())
}

/** Top-level ready(): connection options plus `timeout` (total wait) and `interval`. */
function ready(options) {
  let opts
  try {
    opts = own(options)
  } catch (err) {
    return Promise.reject(err)
  }
  const { timeout, interval, ...connection } = opts
  return withShared(connection, (c) => c.ready({ timeout, interval }))
}

module.exports = { scan, scanBuffer, scanStream, inspect, inspectBuffer, inspectStream, ping, version, stats, ready }
