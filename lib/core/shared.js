'use strict'
// The top-level functions (scan, scanBuffer, ...): pompelmi 1.x's calls, each on a shared Client per
// distinct connection options. Their connections never keep the process alive, so scripts exit
// without calling close().

const { Client, START, FILE, BUFFER, STREAM, BLOB } = require('./client.js')
const { own, once, resolveTarget, topLevelCall } = require('./options.js')
const { checkInput } = require('./inputs.js')
const { abortError } = require('./errors.js')

const sharedClientsMap = new Map()
const MAX_SHARED_CLIENTS = 64

function sharedClient(options) {
  const target = resolveTarget(options)
  let client = sharedClientsMap.get(target.key)
  if (!client) {
    // Forget the oldest; its calls in flight still hold it, and its connections close once it
    // is collected (closing it here would reject them).
    if (sharedClientsMap.size >= MAX_SHARED_CLIENTS) sharedClientsMap.delete(sharedClientsMap.keys().next().value)
    client = new Client(options)
    sharedClientsMap.set(target.key, client)
  }
  return client
}

/** An options object's shared client and per-call part (`signal`), resolved once per object. */
const resolveShared = once((options) => ({ client: sharedClient(options), call: topLevelCall(options) }))

/** Runs `fn(client)` on the shared client for `options`; option errors reject. */
function withShared(options, fn) {
  let client
  try {
    client = resolveShared(options).client
  } catch (err) {
    return Promise.reject(err)
  }
  return fn(client)
}

/**
 * One scan on the shared client. `inputFirst`: pompelmi 1.x checked buffers and streams before
 * routing, so a bad one wins over bad options; other inputs are checked by the client, after.
 */
function start(kind, input, options, report, inputFirst) {
  let shared
  try {
    if (inputFirst) input = checkInput(kind, input)
    shared = resolveShared(options)
  } catch (err) {
    return Promise.reject(err)
  }
  return shared.client[START](kind, input, shared.call, report, !inputFirst)
}

const scan = (filePath, options) => start(FILE, filePath, options, false, false)
const scanBuffer = (buffer, options) => start(BUFFER, buffer, options, false, true)
const scanStream = (stream, options) => start(STREAM, stream, options, false, true)
const inspect = (filePath, options) => start(FILE, filePath, options, true, false)
const inspectBuffer = (buffer, options) => start(BUFFER, buffer, options, true, false)
const inspectStream = (stream, options) => start(STREAM, stream, options, true, false)
const scanBlob = (blob, options) => start(BLOB, blob, options, false, true)
const inspectBlob = (blob, options) => start(BLOB, blob, options, true, true)

/** Every File of a FormData on the shared client; bad arguments (form or options) reject. */
function scanFormData(formData, options) {
  let shared
  try {
    shared = resolveShared(options)
    if (shared.call.signal && shared.call.signal.aborted) throw abortError(shared.call.signal)
  } catch (err) {
    return Promise.reject(err)
  }
  return require('./forms.js').scanForm(formData, (blob) => shared.client[START](BLOB, blob, shared.call, true, true))
}

/** A scanning tee on the shared client (lib/core/tee.js); bad options throw. */
function passthrough(options) {
  const shared = resolveShared(options)
  if (shared.call.signal && shared.call.signal.aborted) throw abortError(shared.call.signal)
  return require('./tee.js').createTee((feed) => shared.client[START](STREAM, feed, shared.call, true, true))
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

/** The clients behind the top-level functions (pompelmi/prometheus reports them). */
function sharedClients() {
  return [...sharedClientsMap.values()]
}

module.exports = {
  sharedClients,
  scan,
  scanBuffer,
  scanStream,
  inspect,
  inspectBuffer,
  inspectStream,
  scanBlob,
  inspectBlob,
  scanFormData,
  inspectFormData: scanFormData,
  passthrough,
  ping,
  version,
  stats,
  ready,
}
