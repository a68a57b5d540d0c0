'use strict'
// createCache: verdicts cached by SHA-256 of the content plus the resolved target (the endpoint
// list or local database routing uses, and the size guard: two targets never share entries), with
// a TTL and LRU eviction. What is hashed is what is scanned: a file's verdict is stored under the
// hash of the bytes that were uploaded, read from one open descriptor. Concurrent misses for the same key
// share one scan. ScanError is never cached (1.x cached it for the whole TTL). `storage: 'file'`
// persists verdict names and maps them back to the real Symbols on load (1.x lost them to JSON).

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')
const inputErrors = require('./core/input-errors.js')

// File caches with unsaved changes, written when the process exits (the timer may not get to).
const unsaved = new Set()
process.on('exit', () => {
  for (const write of unsaved) write()
})

/** An open file's bytes from its start, chunk by chunk, each passed to `onChunk` as read. */
async function* readFrom(handle, onChunk) {
  for (let position = 0; ; ) {
    const buffer = Buffer.allocUnsafe(64 * 1024)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
    if (bytesRead === 0) return
    position += bytesRead
    const chunk = buffer.subarray(0, bytesRead)
    onChunk(chunk)
    yield chunk
  }
}
const { scan, scanBuffer, scanStream } = require('./core/shared.js')
const { resolveTarget } = require('./core/options.js')
const { Verdict } = require('./core/verdict.js')

// Own properties only: a stored "constructor" must not come back as a function.
const BY_NAME = Object.assign(Object.create(null), { Clean: Verdict.Clean, Malicious: Verdict.Malicious })

module.exports = function createCache(config) {
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
        if (typeof key !== 'string' || !e || typeof e.verdict !== 'string' || !Object.hasOwn(BY_NAME, e.verdict)) continue
        if (e.expiresAt > Date.now()) entries.set(key, { sha: e.sha, verdict: BY_NAME[e.verdict], expiresAt: e.expiresAt })
      }
    } catch {
      // A corrupt cache file is an empty cache.
    }
  }

  function writeNow() {
    unsaved.delete(writeNow)
    const data = [...entries].map(([key, e]) => [key, { sha: e.sha, verdict: e.verdict.description, expiresAt: e.expiresAt }])
    const tmp = `${filePath}.${process.pid}.tmp`
    fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true })
    fs.writeFileSync(tmp, JSON.stringify(data))
    fs.renameSync(tmp, filePath)
  }

  function persist() {
    if (storage !== 'file') return
    unsaved.add(writeNow)
    if (persistTimer) return
    persistTimer = setTimeout(() => {
      persistTimer = null
      writeNow()
    }, 500)
    persistTimer.unref()
  }

  /** `run()` resolves `{ verdict, sha }`: the verdict and the hash of the bytes it is about. */
  async function lookup(sha, target, run) {
    const key = `${sha}:${target}`
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
    const pending = run().then(({ verdict, sha: scanned }) => {
      if (verdict !== Verdict.ScanError) {
        // Stored under the hash of what was scanned, which can differ from the looked-up one
        // (the file changed in between): never Clean under another content's hash.
        entries.set(`${scanned}:${target}`, { sha: scanned, verdict, expiresAt: Date.now() + ttl })
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
      if (typeof file !== 'string') throw inputErrors.notAString('filePath')
      if (!fs.existsSync(file)) throw inputErrors.fileNotFound(file)
      const target = resolveTarget(options).verdictKey
      // One descriptor for the hash and the upload: a rename or a swap after the lookup cannot
      // put another file's verdict under this hash. Not a regular file (a FIFO yields other
      // bytes on each read): scanned, never cached.
      const handle = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0))
      try {
        if (!(await handle.stat()).isFile()) return scan(file, options)
        const first = crypto.createHash('sha256')
        for await (const _ of readFrom(handle, (c) => first.update(c)));
        return await lookup(first.digest('hex'), target, async () => {
          const hash = crypto.createHash('sha256')
          const verdict = await scanStream(Readable.from(readFrom(handle, (c) => hash.update(c))), options)
          return { verdict, sha: hash.digest('hex') }
        })
      } finally {
        await handle.close()
      }
    },
    async scanBuffer(buffer, options) {
      if (!Buffer.isBuffer(buffer)) throw inputErrors.notABuffer()
      if (buffer.length === 0) throw inputErrors.emptyBuffer()
      const target = resolveTarget(options).verdictKey
      // Hashed and scanned from one private copy: the caller may change its buffer meanwhile.
      const copy = Buffer.from(buffer)
      const sha = crypto.createHash('sha256').update(copy).digest('hex')
      return lookup(sha, target, async () => ({ verdict: await scanBuffer(copy, options), sha }))
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
