'use strict'
// pompelmi/prometheus: `register(registry, client?)` publishes `client.metrics()` (without a
// client: the clients behind the top-level functions) on a prom-client registry, read at each
// scrape, under the `pompelmi_` prefix:
//   pompelmi_scans_total{verdict, reason}       counter: clean, malicious, scan_error (by reason), failed
//   pompelmi_scan_duration_seconds              histogram of every scan's duration
//   pompelmi_payload_bytes_total                counter: payload bytes clamd received
//   pompelmi_endpoint_up{endpoint}              gauge: 1 up, 0 down (or draining)
//   pompelmi_endpoint_in_flight{endpoint}       gauge: requests sent or being sent
//   pompelmi_endpoint_queued{endpoint}          gauge: calls waiting for a request slot
//   pompelmi_signature_age_seconds{endpoint}    gauge: age of clamd's signature database (from VERSION)
// The metrics are plain objects with prom-client's metric interface (`name`, `get()`): the
// registry is the application's (prom-client is a peer dependency); nothing here requires it.

/** The metrics of every client, summed; endpoints of the same name merged. */
function collect(clients) {
  const total = { scans: null, bytes: 0, latency: null, endpoints: new Map() }
  for (const client of clients()) {
    const m = client.metrics()
    if (!m) continue
    total.bytes += m.bytes
    if (!total.scans) {
      total.scans = { ...m.scans, byReason: { ...m.scans.byReason } }
      total.latency = { ...m.latency, counts: [...m.latency.counts] }
    } else {
      for (const k of ['clean', 'malicious', 'scanError', 'failed']) total.scans[k] += m.scans[k]
      for (const [r, n] of Object.entries(m.scans.byReason)) total.scans.byReason[r] = (total.scans.byReason[r] || 0) + n
      m.latency.counts.forEach((n, i) => (total.latency.counts[i] += n))
      total.latency.count += m.latency.count
      total.latency.sumMs += m.latency.sumMs
    }
    for (const e of m.endpoints) {
      const seen = total.endpoints.get(e.endpoint)
      if (!seen) total.endpoints.set(e.endpoint, { ...e })
      else {
        seen.inFlight += e.inFlight
        seen.queued += e.queued
        if (e.state === 'up') seen.state = 'up'
        seen.databaseDate ||= e.databaseDate
      }
    }
  }
  return total
}

/** A metric in prom-client's interface, its values computed at each scrape. */
function metric(name, help, type, values) {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset() {},
  }
}

/**
 * Registers the `pompelmi_` metrics on `registry` (a prom-client Registry, e.g. `register` from
 * prom-client) for `client` (a Client or pool), or for the top-level functions' clients. Returns
 * the registered metric names.
 */
function register(registry, client) {
  if (!registry || typeof registry.registerMetric !== 'function') {
    throw Object.assign(new TypeError('register(registry, client?): registry must be a prom-client Registry'), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  if (client !== undefined && (client === null || typeof client.metrics !== 'function')) {
    throw Object.assign(new TypeError('register(registry, client?): client must have metrics() (createClient, createPool)'), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  const clients = client ? () => [client] : () => require('../core/shared.js').sharedClients()
  // One collection per scrape: every metric of the scrape reads the same moment.
  let cached = null
  const now = () => {
    if (!cached) {
      cached = collect(clients)
      setImmediate(() => (cached = null))
    }
    return cached
  }
  const metrics = [
    metric('pompelmi_scans_total', 'Scans by verdict (clean, malicious, scan_error, failed) and ScanError reason', 'counter', () => {
      const { scans } = now()
      if (!scans) return []
      return [
        { labels: { verdict: 'clean' }, value: scans.clean },
        { labels: { verdict: 'malicious' }, value: scans.malicious },
        ...Object.entries(scans.byReason).map(([reason, value]) => ({ labels: { verdict: 'scan_error', reason }, value })),
        { labels: { verdict: 'failed' }, value: scans.failed },
      ]
    }),
    metric('pompelmi_scan_duration_seconds', 'Duration of scans, from the call to its answer', 'histogram', () => {
      const { latency } = now()
      if (!latency) return []
      const name = 'pompelmi_scan_duration_seconds'
      let cumulative = 0
      const buckets = latency.boundsMs.map((bound, i) => {
        cumulative += latency.counts[i]
        return { metricName: `${name}_bucket`, labels: { le: bound / 1000 }, value: cumulative }
      })
      buckets.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: latency.count })
      return [...buckets, { metricName: `${name}_sum`, value: latency.sumMs / 1000 }, { metricName: `${name}_count`, value: latency.count }]
    }),
    metric('pompelmi_payload_bytes_total', 'Payload bytes clamd received', 'counter', () => [{ value: now().bytes }]),
    metric('pompelmi_endpoint_up', 'Whether the endpoint is up (1) or down or draining (0)', 'gauge', () =>
      [...now().endpoints.values()].map((e) => ({ labels: { endpoint: e.endpoint }, value: e.state === 'up' ? 1 : 0 })),
    ),
    metric('pompelmi_endpoint_in_flight', 'Requests sent or being sent to the endpoint', 'gauge', () =>
      [...now().endpoints.values()].map((e) => ({ labels: { endpoint: e.endpoint }, value: e.inFlight })),
    ),
    metric('pompelmi_endpoint_queued', 'Calls waiting for a request slot of the endpoint', 'gauge', () =>
      [...now().endpoints.values()].map((e) => ({ labels: { endpoint: e.endpoint }, value: e.queued })),
    ),
    metric('pompelmi_signature_age_seconds', "Age of the endpoint's signature database (clamd's VERSION)", 'gauge', () =>
      [...now().endpoints.values()]
        .filter((e) => e.databaseDate)
        .map((e) => ({ labels: { endpoint: e.endpoint }, value: Math.max(0, (Date.now() - Date.parse(e.databaseDate)) / 1000) })),
    ),
  ]
  for (const m of metrics) registry.registerMetric(m)
  return metrics.map((m) => m.name)
}

exports.register = register
