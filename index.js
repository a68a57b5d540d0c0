'use strict'
// pompelmi: the public API, assembled. pompelmi 1.x's 17 exports, then this package's additions.
// Each lives in lib/ (features) over lib/core/ (verdicts, options, errors, the client, shared
// clients, the walker), over the native clamd client in binding.js.
//
// The scanning core loads now; every feature module loads on first use (a getter), so that
// `require('pompelmi')` stays fast (serverless cold starts) and nothing installs a hook unused.

// The published package also carries this file and the core as one file, index.bundle.js, made by
// `npm pack` (scripts/bundle.js): it loads faster, and its copy of this file runs without this line.
// It registers the core in Node's own require.cache, so it is used only when Node's loader loads
// this file: under another module system (jest's registry, a bundler), as in a checkout, which
// has no bundle, the sources load, and features loaded later share them.
if (module instanceof require('node:module') && require('node:fs').existsSync(`${__dirname}/index.bundle.js`)) return void (module.exports = require('./index.bundle.js'))

const { Verdict } = require('./lib/core/verdict.js')
const { Client, createClient } = require('./lib/core/client.js')
const shared = require('./lib/core/shared.js')
const { MaliciousUploadError, ScanFailedError } = require('./lib/core/errors.js')

/** Defines `name` as an enumerable property that requires `file` (and picks `key`) on first read. */
function lazy(target, name, file, key) {
  Object.defineProperty(target, name, {
    enumerable: true,
    configurable: true,
    get() {
      const mod = require(file)
      const value = key ? mod[key] : mod
      Object.defineProperty(target, name, { value, enumerable: true, configurable: true, writable: true })
      return value
    },
  })
}

const api = {
  // pompelmi 1.x's 17 exports
  scan: shared.scan,
  scanBuffer: shared.scanBuffer,
  scanStream: shared.scanStream,
  scanDirectory: undefined,
  Verdict,
  middleware: undefined,
  scanS3: undefined,
  createPool: undefined,
  watch: undefined,
  notify: undefined,
  createScanner: undefined,
  generateDashboard: undefined,
  generateShareCard: undefined,
  generateScorecard: undefined,
  createCache: undefined,
  createPolicy: undefined,
  createMultiEngine: undefined,
  // this package's additions
  createClient,
  Client,
  inspect: shared.inspect,
  inspectBuffer: shared.inspectBuffer,
  inspectStream: shared.inspectStream,
  scanBlob: shared.scanBlob,
  inspectBlob: shared.inspectBlob,
  scanFormData: shared.scanFormData,
  inspectFormData: shared.inspectFormData,
  passthrough: shared.passthrough,
  MaliciousUploadError,
  ScanFailedError,
  ping: shared.ping,
  version: shared.version,
  stats: shared.stats,
  ready: shared.ready,
}
lazy(api, 'scanDirectory', './lib/directory.js')
lazy(api, 'middleware', './lib/middleware.js')
lazy(api, 'scanS3', './lib/s3.js')
lazy(api, 'createPool', './lib/pool.js')
lazy(api, 'watch', './lib/watch.js')
lazy(api, 'notify', './lib/notify.js')
lazy(api, 'createScanner', './lib/scanner.js')
lazy(api, 'generateDashboard', './lib/reports.js', 'generateDashboard')
lazy(api, 'generateShareCard', './lib/reports.js', 'generateShareCard')
lazy(api, 'generateScorecard', './lib/scorecard.js')
lazy(api, 'createCache', './lib/cache.js')
lazy(api, 'createPolicy', './lib/policy.js')
lazy(api, 'createMultiEngine', './lib/multi-engine.js')


module.exports = api
