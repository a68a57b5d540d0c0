'use strict'
// The VirusTotal engine of createMultiEngine, with pompelmi 1.x's API shape:
// `{ type: 'virustotal', apiKey, threshold = 1 }`. The file is uploaded to `/api/v3/files`, then
// `/api/v3/analyses/{id}` is polled every 5 s, up to 12 times; Malicious when
// `malicious + suspicious >= threshold`. Additions: `baseUrl` (default https://www.virustotal.com),
// `timeout` for each HTTP request (default 30000 ms), `pollInterval` and `maxPolls`.
//
// This uploads the user's file to a third party. Every failure (no key, an HTTP error, a hung
// server, an analysis that never completes) is this engine's ScanError, never Clean.

const { coded } = require('./core/errors.js')
const { own, nonNegative, stringOption } = require('./core/options.js')

const DEFAULTS = { baseUrl: 'https://www.virustotal.com', timeout: 30000, pollInterval: 5000, maxPolls: 12, threshold: 1 }

/** The engine's settings, checked (createMultiEngine calls this when it is created). */
function settings(engine) {
  const opts = own(engine, 'engine')
  return {
    apiKey: opts.apiKey,
    baseUrl: stringOption(opts, 'baseUrl', DEFAULTS.baseUrl, { nonEmpty: true }),
    timeout: nonNegative(opts, 'timeout', DEFAULTS.timeout),
    pollInterval: nonNegative(opts, 'pollInterval', DEFAULTS.pollInterval),
    maxPolls: nonNegative(opts, 'maxPolls', DEFAULTS.maxPolls, { integer: true }),
    threshold: nonNegative(opts, 'threshold', DEFAULTS.threshold, { integer: true, min: 1 }),
  }
}

/** A detection count from a completed analysis's stats; null when it is not one. */
function count(value) {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(signal.reason)
    }, { once: true })
  })
}

/** One request; a non-2xx answer or a body that is not JSON is an error. */
async function request(url, init, timeout, signal) {
  const res = await fetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]) })
  const text = await res.text()
  if (!res.ok) throw Object.assign(coded(`VirusTotal answered HTTP ${res.status}`, 'ERR_VIRUSTOTAL_HTTP'), { status: res.status })
  try {
    return JSON.parse(text)
  } catch {
    throw coded('VirusTotal answered something that is not JSON', 'ERR_VIRUSTOTAL_REPLY')
  }
}

/**
 * Resolves `{ verdict: 'clean' | 'malicious', detections }`, or rejects with why there is
 * none. `signal` ends it early (the multi-engine's deadline).
 */
async function scanWithVirusTotal(engine, buffer, signal) {
  const { apiKey, baseUrl, timeout, pollInterval, maxPolls, threshold } = settings(engine)
  if (!apiKey) throw coded('no apiKey', 'ERR_VIRUSTOTAL_NO_KEY')
  const base = String(baseUrl).replace(/\/+$/, '')
  const headers = { 'x-apikey': apiKey, accept: 'application/json' }
  const form = new FormData()
  form.append('file', new Blob([buffer]), 'upload')
  const upload = await request(`${base}/api/v3/files`, { method: 'POST', headers, body: form }, timeout, signal)
  const id = upload && upload.data && upload.data.id
  if (!id) throw coded('no analysis id', 'ERR_VIRUSTOTAL_REPLY')
  for (let i = 0; i < maxPolls; i++) {
    await sleep(pollInterval, signal)
    const report = await request(`${base}/api/v3/analyses/${encodeURIComponent(id)}`, { headers }, timeout, signal)
    const attributes = (report && report.data && report.data.attributes) || {}
    if (attributes.status === 'completed') {
      // A completed analysis without usable counts is no verdict: never "0 detections".
      const stats = attributes.stats
      const malicious = stats && typeof stats === 'object' ? count(stats.malicious) : null
      const suspicious = stats && typeof stats === 'object' ? (stats.suspicious === undefined ? 0 : count(stats.suspicious)) : null
      if (malicious === null || suspicious === null) throw coded('VirusTotal completed the analysis without detection counts', 'ERR_VIRUSTOTAL_REPLY')
      const detections = malicious + suspicious
      return { verdict: detections >= threshold ? 'malicious' : 'clean', detections }
    }
  }
  throw coded('timeout', 'ERR_VIRUSTOTAL_PENDING')
}

module.exports = { scanWithVirusTotal, settings }
