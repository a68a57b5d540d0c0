'use strict'
// What `client.metrics()` returns, from the native client's counters and its endpoints' states,
// and clamd's VERSION reply read into the version, the signature database's number and its date.

/** `ClamAV 1.4.6/27400/Tue Oct  1 08:34:31 2024` → the version, the database's number and date. */
function parseVersion(reply) {
  const [, databaseVersion, date] = reply.split('/')
  const time = date ? Date.parse(date) : NaN
  return {
    version: reply,
    databaseVersion: databaseVersion && /^\d+$/.test(databaseVersion) ? Number(databaseVersion) : null,
    databaseDate: Number.isNaN(time) ? null : new Date(time).toISOString(),
  }
}

let LATENCY_BOUNDS_MS
let REASONS
/** The metrics object from the native counters and the endpoints' states. */
function scanMetrics(stats, endpoints) {
  const binding = require('./binding.js')
  LATENCY_BOUNDS_MS ||= Object.freeze(binding.latencyBoundsMs())
  REASONS ||= binding.scanErrorReasons()
  const byReason = {}
  REASONS.forEach((reason, i) => (byReason[reason] = stats.reasons[i]))
  return {
    endpoints,
    scans: { clean: stats.clean, malicious: stats.malicious, scanError: stats.scanError, failed: stats.failed, byReason },
    bytes: stats.bytes,
    latency: {
      boundsMs: LATENCY_BOUNDS_MS,
      counts: stats.latencyCounts,
      count: stats.latencyCounts.reduce((a, b) => a + b, 0),
      sumMs: stats.latencySumMs,
    },
  }
}

module.exports = { parseVersion, scanMetrics }
