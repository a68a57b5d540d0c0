'use strict'
// createCache: verdicts cached by SHA-256 of the content plus the connection options (two clamd
// instances never share entries), with a TTL and LRU eviction. Concurrent misses for the same key
// share one scan. ScanError is never cached (1.x cached it for the whole TTL). `storage: 'file'`
// persists verdict names and maps them back to the real Symbols on load (1.x lost them to JSON).

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

module.exports = function cacheFactory({ scan, scanBuffer, Verdict }) {
  const BY_NAME = { Clean: Verdict.Clean, Malicious: Verdict.Malicious }

  function optionsKey(options) {
    const o = options || {}
    // The size guard decides verdicts too: a Clean found with the guard off is no answer for a
    // caller whose guard would have refused the payload.
    return JSON.stringify([o.host ?? null, o.port ?? null, o.socket ?? null, o.endpoints ?? null, o.database ?? null, o.maxFileSize ?? null])
  }

  async function hashFile(filePath) {
    const hash = crypto.createHash('sha256')
    for await (const chunk of fs.createReadStream(filePath)) hash.update(chunk)
    return hash.digest('hex')
  }

  return function createCache(config) {
    const { ttl = 3600000, maxSize = 1000, storage = 'memory', filePath = './.pompelmi-cache.json' } = config == null ? {} : config
    if (storage !== 'memory' && storage !== 'file') throw new TypeError(`storage must be 'memory' or 'file'. Received ${String(storage)}`)
    const entries = new Map() // key → { sha, verdict, expiresAt }, in LRU order (oldest first)
    const inflight = new Map() // key → Promise<verdict>
    let hits = 0
    let misses = 0
    let persistTimer = null

    if (storage === 'file' && fs.existsSync(filePath)) {
      try {
        const saved = JSON.parse(fs.readFileSync(filePath, 'utf8'))
        for (const [key, e] of saved) {
          if (e.expiresAt > Date.now() && BY_NAME[e.verdict]) entries.set(key, { sha: e.sha, verdict: BY_NAME[e.verdict], expiresAt: e.expiresAt })
        }
      } catch {
        // A corrupt cache file is an empty cache.
      }
    }

    function writeNow() {
      const data = [...entries].map(([key, e]) => [key, { sha: e.sha, verdict: e.verdict.description, expiresAt: e.expiresAt }])
      const tmp = `${filePath}.${process.pid}.tmp`
      fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true })
      fs.writeFileSync(tmp, JSON.stringify(data))
      fs.renameSync(tmp, filePath)
    }

    function persist() {
      if (storage !== 'file' || persistTimer) return
      persistTimer = setTimeout(() => {
        persistTimer = null
        writeNow()
      }, 500)
      persistTimer.unref()
    }

    async function lookup(sha, options, run) {
      const key = `${sha}:${optionsKey(options)}`
      const hit = entries.get(key)
      if (hit && hit.expiresAt > Date.now()) {
        hits++
        entries.delete(key) // re-insert: most recently used last
        entries.set(key, hit)
        return hit.verdict
      }
      if (hit) entries.delete(key)
      misses++
      if (inflight.has(key)) return inflight.get(key)
      const pending = run().then((verdict) => {
        if (verdict !== Verdict.ScanError) {
          entries.set(key, { sha, verdict, expiresAt: Date.now() + ttl })
          while (entries.size > maxSize) entries.delete(entries.keys().next().value)
          persist()
        }
        return verdict
      })
      inflight.set(key, pending)
      try {
        return await pending
      } finally {
        inflight.delete(key)
      }
    }

    return {
      async scan(file, options) {
        if (typeof file !== 'string') throw new Error('filePath must be a string')
        if (!fs.existsSync(file)) throw new Error(`File not found: ${file}`)
        return lookup(await hashFile(file), options, () => scan(file, options))
      },
      async scanBuffer(buffer, options) {
        if (!Buffer.isBuffer(buffer)) throw new Error('buffer must be a Buffer')
        if (buffer.length === 0) throw new Error('buffer is empty')
        return lookup(crypto.createHash('sha256').update(buffer).digest('hex'), options, () => scanBuffer(buffer, options))
      },
      stats() {
        const total = hits + misses
        return { hits, misses, size: entries.size, hitRate: total === 0 ? 0 : hits / total }
      },
      clear() {
        entries.clear()
        hits = 0
        misses = 0
        persist()
      },
      delete(sha256) {
        let removed = false
        for (const [key, e] of entries) {
          if (e.sha === sha256) removed = entries.delete(key) || removed
        }
        if (removed) persist()
        return removed
      },
      /** Writes a file cache now (it is otherwise written 500 ms after the last change). */
      flush() {
        clearTimeout(persistTimer)
        persistTimer = null
        if (storage === 'file') writeNow()
      },
    }
  }
}
