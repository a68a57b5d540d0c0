'use strict'
// createPool, pompelmi 1.x's persistent pool, on real IDSESSION sessions: `size` connections,
// `timeout` the idle timeout of each scan, `maxFileSize` the size guard (as everywhere). destroy() rejects queued and in-flight calls with
// `Pool destroyed` and resolves once every connection is closed.

const { coded } = require('./core/errors.js')
const { Client } = require('./core/client.js')
const { own, nonNegative } = require('./core/options.js')

module.exports = function createPool(options) {
  const opts = own(options)
  const { host = '127.0.0.1', port = 3310, socket, timeout = 15000, maxFileSize, maxConnectionAge, tls, discover, resolver, discoverInterval } = opts
  const size = nonNegative(opts, 'size', 5, { integer: true, min: 1 })
  const client = new Client(
    { host, port, socket, timeout, maxConnections: size, retries: 0, maxFileSize, maxConnectionAge, tls, discover, resolver, discoverInterval },
    { closedError: () => coded('Pool destroyed', 'ERR_POOL_DESTROYED') },
  )
  return {
    scan: (filePath, opts) => client.scan(filePath, opts),
    scanBuffer: (buffer, opts) => client.scanBuffer(buffer, opts),
    scanStream: (stream, opts) => client.scanStream(stream, opts),
    scanBlob: (blob, opts) => client.scanBlob(blob, opts),
    scanFormData: (formData, opts) => client.scanFormData(formData, opts),
    inspect: (filePath, opts) => client.inspect(filePath, opts),
    inspectBuffer: (buffer, opts) => client.inspectBuffer(buffer, opts),
    inspectStream: (stream, opts) => client.inspectStream(stream, opts),
    inspectBlob: (blob, opts) => client.inspectBlob(blob, opts),
    inspectFormData: (formData, opts) => client.inspectFormData(formData, opts),
    passthrough: (opts) => client.passthrough(opts),
    metrics: () => client.metrics(),
    destroy: () => client.close(),
  }
}
