'use strict'
// node:diagnostics_channel publishing, for tracing (OpenTelemetry and the like) and metrics:
//   - the TracingChannel `pompelmi:scan` (start / end / asyncStart / asyncEnd / error): one trace
//     per scan call, with one context object { kind, endpoint, bytes, verdict, reason, viruses,
//     durationMs, attempt };
//   - the channels `pompelmi:endpoint:connect` { endpoint } (a connection opened),
//     `pompelmi:endpoint:down` { endpoint, error }, `pompelmi:endpoint:up`
//     { endpoint }, `pompelmi:failover` { from, to }, `pompelmi:retry` { endpoint, attempt, error },
//     `pompelmi:discovery` { name, added, removed } (a discovered name's addresses changed).
// node:diagnostics_channel is loaded with the first client, not with the package, and nothing
// is built or published unless someone subscribes. Where it cannot be loaded (a bundler that
// stubs Node's modules) there is simply no tracing.

const { endpointName } = require('./options.js')
const { toError } = require('./errors.js')

let dc
/** The channels, loaded once; null where node:diagnostics_channel is unavailable. */
function channels() {
  if (dc === undefined) {
    try {
      const diagnostics = require('node:diagnostics_channel')
      dc = {
        scan: diagnostics.tracingChannel('pompelmi:scan'),
        connect: diagnostics.channel('pompelmi:endpoint:connect'),
        down: diagnostics.channel('pompelmi:endpoint:down'),
        up: diagnostics.channel('pompelmi:endpoint:up'),
        failover: diagnostics.channel('pompelmi:failover'),
        retry: diagnostics.channel('pompelmi:retry'),
        discovery: diagnostics.channel('pompelmi:discovery'),
      }
    } catch {
      dc = null
    }
  }
  return dc
}

/** The scan TracingChannel when someone listens to it, else null (the common, free case). */
function scanTrace() {
  const c = dc === undefined ? channels() : dc
  return c !== null && c.scan.hasSubscribers ? c.scan : null
}

/** A trace's context, filled in from the native outcome once the scan is over. */
function scanContext(kind) {
  return { kind, endpoint: null, bytes: 0, verdict: null, reason: null, viruses: [], durationMs: 0, attempt: 0 }
}

/** One native endpoint event -> its channel, when the channel has subscribers. */
function publishEvent(event) {
  const c = channels()
  if (c === null) return
  const channel = c[event.type]
  if (!channel || !channel.hasSubscribers) return
  const endpoint = endpointName(event.endpoint)
  const error = event.error ? toError(event.error, endpoint) : undefined
  if (event.type === 'down') channel.publish({ endpoint, error })
  else if (event.type === 'up' || event.type === 'connect') channel.publish({ endpoint })
  else if (event.type === 'failover') channel.publish({ from: endpointName(event.from), to: endpointName(event.to) })
  else if (event.type === 'retry') channel.publish({ endpoint, attempt: event.attempt, error })
  else if (event.type === 'discovery') channel.publish({ name: event.name, added: event.added.map(endpointName), removed: event.removed.map(endpointName) })
}

module.exports = { scanTrace, scanContext, publishEvent }
