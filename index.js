'use strict'
// pompelmi: the public API, assembled. pompelmi 1.x's 17 exports, then this package's additions.
// Each lives in lib/ (features) over lib/core/ (verdicts, options, errors, the client, shared
// clients, the walker), over the native clamd client in binding.js.

const { Verdict } = require('./lib/core/verdict.js')
const { Client, createClient } = require('./lib/core/client.js')
const shared = require('./lib/core/shared.js')

module.exports = {
  // pompelmi 1.x's 17 exports
  scan: shared.scan,
  scanBuffer: shared.scanBuffer,
  scanStream: shared.scanStream,
  scanDirectory: require('./lib/directory.js'),
  Verdict,
  middleware: require('./lib/middleware.js'),
  scanS3: require('./lib/s3.js'),
  createPool: require('./lib/pool.js'),
  watch: require('./lib/watch.js'),
  notify: require('./lib/notify.js'),
  createScanner: require('./lib/scanner.js'),
  generateDashboard: require('./lib/reports.js').generateDashboard,
  generateShareCard: require('./lib/reports.js').generateShareCard,
  generateScorecard: require('./lib/scorecard.js'),
  createCache: require('./lib/cache.js'),
  createPolicy: require('./lib/policy.js'),
  createMultiEngine: require('./lib/multi-engine.js'),
  // this package's additions
  createClient,
  Client,
  inspect: shared.inspect,
  inspectBuffer: shared.inspectBuffer,
  inspectStream: shared.inspectStream,
  ping: shared.ping,
  version: shared.version,
  stats: shared.stats,
  ready: shared.ready,
}
