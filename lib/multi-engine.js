'use strict'
// createMultiEngine: several engines asked in parallel, combined by consensus. Engines are ClamAV
// endpoints (`{ type: 'clamav', host, port, socket, endpoints, timeout }`) or any object with
// `{ name, scanBuffer(buffer) → Promise<{ verdict, viruses? }> }` (an HTTP engine, for one).
// Fixed from 1.x: an empty engine list is an error (1.x said Malicious), a ScanError never counts
// as clean, and scan(file) streams the file to ClamAV engines instead of reading it into memory.

const fs = require('node:fs')
const inputErrors = require('./errors.js')

module.exports = function multiEngineFactory({ inspect, inspectBuffer, Verdict }) {
  return function createMultiEngine(config) {
    const { engines = [], consensus = 'any', timeout = 60000 } = config || {}
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new TypeError(`timeout must be a non-negative number. Received ${String(timeout)}`)
    if (!Array.isArray(engines) || engines.length === 0) throw new Error('createMultiEngine needs at least one engine')
    if (!['any', 'all', 'majority'].includes(consensus)) throw new Error(`consensus must be 'any', 'all' or 'majority'. Received ${String(consensus)}`)

    // Every engine is bounded: its own `timeout`, else the multi-engine's (0: none). One that
    // does not settle in time is that engine's ScanError.
    const run = (engine, input) => {
      const name = (engine && (engine.name || engine.type)) || 'engine'
      const limit = engine && typeof engine.timeout === 'number' ? engine.timeout : timeout
      if (!limit) return ask(engine, input)
      let timer
      const expired = new Promise((resolve) => {
        timer = setTimeout(() => resolve({ name, verdict: Verdict.ScanError, viruses: [], error: `engine timed out after ${limit}ms` }), limit)
      })
      return Promise.race([ask(engine, input), expired]).finally(() => clearTimeout(timer))
    }

    const ask = async (engine, { buffer, file }) => {
      const name = (engine && (engine.name || engine.type)) || 'engine'
      try {
        if (engine.type === 'clamav') {
          const { type: _t, name: _n, ...options } = engine
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
      const malicious = results.filter((r) => r.verdict === Verdict.Malicious).length
      const clean = results.filter((r) => r.verdict === Verdict.Clean).length
      const decided =
        consensus === 'any' ? malicious > 0 : consensus === 'all' ? malicious === results.length : malicious > results.length / 2
      // Clean only when no engine failed to answer: a ScanError never counts as clean.
      const verdict = decided ? Verdict.Malicious : clean === results.length ? Verdict.Clean : Verdict.ScanError
      return { verdict, consensus, viruses: [...new Set(results.flatMap((r) => r.viruses))], engines: results }
    }

    return {
      async scan(file) {
        if (typeof file !== 'string') throw inputErrors.notAString('filePath')
        return combine(await Promise.all(engines.map((e) => run(e, { file }))))
      },
      async scanBuffer(buffer) {
        if (!Buffer.isBuffer(buffer)) throw inputErrors.notABuffer()
        return combine(await Promise.all(engines.map((e) => run(e, { buffer }))))
      },
    }
  }
}
