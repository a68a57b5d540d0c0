'use strict'
// createMultiEngine: several engines asked in parallel, combined by consensus. Engines are ClamAV
// endpoints (`{ type: 'clamav', host, port, socket, endpoints, timeout }`), VirusTotal
// (`{ type: 'virustotal', apiKey, threshold }`, see virustotal.js) or any object with
// `{ name, scanBuffer(buffer) → Promise<{ verdict, viruses? }> }`.
//
// Consensus is 1.x's: `any` is Malicious when at least one engine says Malicious, `all` when every
// engine does, `majority` when more than half do; otherwise Clean. Fail closed: an engine's
// ScanError is an unknown verdict, and the result is Clean only if it would still be Clean with
// every ScanError counted as Malicious; if not, it is ScanError. Fixed from 1.x: an empty engine
// list is an error (1.x said Malicious), every engine is bounded in time, and scan(file) streams
// the file to ClamAV engines instead of reading it into memory.

const fs = require('node:fs')
const errors = require('./core/errors.js')
const { scanWithVirusTotal, settings: virusTotalSettings } = require('./virustotal.js')
const { inspect, inspectBuffer } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { own, nonNegative, oneOf, resolveTarget } = require('./core/options.js')

/**
 * Each engine's settings checked now, so a bad one throws here, not as a ScanError later. A
 * custom engine's `scanBuffer` may be inherited (a class instance); settings are own properties.
 */
function checkEngine(engine) {
  const opts = own(engine, 'engine')
  if (opts.type === 'virustotal') return virusTotalSettings(opts)
  if (opts.type === 'clamav') {
    const { type: _t, name: _n, ...options } = opts
    return resolveTarget(options)
  }
  if (typeof engine.scanBuffer !== 'function') throw errors.coded('an engine needs type "clamav" or "virustotal", or a scanBuffer() function', 'ERR_INVALID_ARG_VALUE')
  nonNegative(opts, 'timeout', undefined)
}

module.exports = function createMultiEngine(config) {
  const opts = own(config, 'config')
  const timeout = nonNegative(opts, 'timeout', 120000)
  const consensus = oneOf(opts, 'consensus', ['any', 'all', 'majority'], 'any')
  const engines = opts.engines === undefined ? [] : opts.engines
  if (!Array.isArray(engines) || engines.length === 0) throw errors.coded('createMultiEngine needs at least one engine', 'ERR_INVALID_ARG_VALUE')
  engines.forEach(checkEngine)

  // Every engine is bounded: its own `timeout`, else the multi-engine's (0: none). One that
  // does not settle in time is that engine's ScanError.
  const run = (engine, input) => {
    const name = (engine && (engine.name || engine.type)) || 'engine'
    // (A VirusTotal engine's own `timeout` is per HTTP request; its polling is bounded here.)
    const engineTimeout = engine.type !== 'virustotal' ? nonNegative(own(engine), 'timeout', undefined) : undefined
    const limit = engineTimeout ?? timeout
    const controller = new AbortController()
    if (!limit) return ask(engine, input, controller.signal)
    let timer
    const expired = new Promise((resolve) => {
      timer = setTimeout(() => {
        controller.abort()
        resolve({ name, verdict: Verdict.ScanError, viruses: [], error: `engine timed out after ${limit}ms` })
      }, limit)
    })
    return Promise.race([ask(engine, input, controller.signal), expired]).finally(() => clearTimeout(timer))
  }

  const ask = async (engine, { buffer, file }, signal) => {
    const name = (engine && (engine.name || engine.type)) || 'engine'
    try {
      if (engine.type === 'virustotal') {
        const r = await scanWithVirusTotal(engine, buffer || (await fs.promises.readFile(file)), signal)
        return { name, verdict: r.verdict === 'malicious' ? Verdict.Malicious : Verdict.Clean, viruses: [], detections: r.detections }
      }
      if (engine.type === 'clamav') {
        const { type: _t, name: _n, ...options } = own(engine)
        const r = file ? await inspect(file, options) : await inspectBuffer(buffer, options)
        return { name: engine.name || 'clamav', verdict: r.verdict, viruses: r.viruses, endpoint: r.endpoint }
      }
      if (typeof engine.scanBuffer !== 'function') throw new Error('engine has no scanBuffer()')
      const r = await engine.scanBuffer(buffer || (await fs.promises.readFile(file)))
      const verdict = Object.values(Verdict).includes(r && r.verdict) ? r.verdict : Verdict.ScanError
      return { name, verdict, viruses: (r && r.viruses) || [] }
    } catch (err) {
      return { name, verdict: Verdict.ScanError, viruses: [], error: err.message }
    }
  }

  function combine(results) {
    const count = (v) => results.filter((r) => r.verdict === v).length
    const malicious = count(Verdict.Malicious)
    const unknown = results.length - malicious - count(Verdict.Clean)
    const rule = (m) => (consensus === 'any' ? m > 0 : consensus === 'all' ? m === results.length : m > results.length / 2)
    const verdict = rule(malicious) ? Verdict.Malicious : rule(malicious + unknown) ? Verdict.ScanError : Verdict.Clean
    return { verdict, consensus, viruses: [...new Set(results.flatMap((r) => r.viruses || []))], engines: results }
  }

  return {
    async scan(file) {
      if (typeof file !== 'string') throw errors.notAString('filePath')
      return combine(await Promise.all(engines.map((e) => run(e, { file }))))
    },
    async scanBuffer(buffer) {
      if (!Buffer.isBuffer(buffer)) throw errors.notABuffer()
      return combine(await Promise.all(engines.map((e) => run(e, { buffer }))))
    },
  }
}
