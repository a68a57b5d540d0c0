'use strict'
// createCache: verdicts cached by SHA-256 of the content plus the resolved target (the endpoint
// list or local database routing uses, and the size guard: two targets never share entries) and
// the signatures that gave the verdict (clamd's VERSION, or the local database directory's
// listing, looked at most once a minute: a signature update starts a fresh cache), with a TTL and
// LRU eviction. What is hashed is what is scanned: a file's verdict is stored under the hash of
// the bytes that were uploaded, read from one open descriptor. Concurrent misses for the same key
// share one scan, and its verdict serves only callers whose bytes hash to what was scanned.
// ScanError is never cached (1.x cached it for the whole TTL). `storage: 'file'` persists verdict
// names and maps them back to the real Symbols on load (1.x lost them to JSON); a file that cannot
// be written is reported as a process warning and the cache goes on in memory.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')
const errors = require('./core/errors.js')

// File caches with unsaved changes, written when the process exits (the timer may not get to).
// The exit hook is installed when a file cache first has something to write, not on load.
const unsaved = new Set()
let exitHook = false
function markUnsaved(write) {
  unsaved.add(write)
  if (exitHook) return
  exitHook = true
  process.on('exit', () => {
    for (const w of unsaved) w()
  })
}

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
const { scan, scanBuffer, scanStream, version } = require('./core/shared.js')
const { resolveTarget, own, nonNegative, oneOf, stringOption } = require('./core/options.js')
const { Verdict } = require('./core/verdict.js')

// clamscan's default signature directory (Debian's, and ClamAV's default build's).
const DEFAULT_DATABASE = '/var/lib/clamav'

/**
 * What the signatures are, per target, looked at most once per `interval` ms: clamd's VERSION
 * text (`ClamAV 1.4.6/27400/…`), or for clamscan a digest of the database directory's listing
 * (names, sizes, times). Resolves null when it cannot be told (clamd down): then nothing is
 * cached or served. A failed look-up is asked again on the next call.
 */
function signatureChecker(interval) {
  const versions = new Map()
  return function signaturesOf(resolved, options) {
    let entry = versions.get(resolved.verdictKey)
    if (!entry || Date.now() - entry.at >= interval) {
      const lookup = resolved.local ? databaseDigest(resolved.database || DEFAULT_DATABASE) : version(options)
      entry = { at: Date.now(), value: lookup.catch(() => null) }
      versions.set(resolved.verdictKey, entry)
      const asked = entry
      entry.value.then((v) => v === null && versions.get(resolved.verdictKey) === asked && versions.delete(resolved.verdictKey))
    }
    return entry.value
  }
}

async function databaseDigest(dir) {
  const hash = crypto.createHash('sha256')
  for (const name of (await fs.promises.readdir(dir)).sort()) {
    const st = await fs.promises.stat(path.join(dir, name)).catch(() => null)
    if (st) hash.update(`${name}\0${st.size}\0${st.mtimeMs}\0${st.ino}\n`)
  }
  return `db:${hash.digest('hex')}`
}

// Own properties only: a stored "constructor" must not come back as a function.
const BY_NAME = Object.assign(Object.create(null), { Clean: Verdict.Clean, Malicious: Verdict.Malicious })

module.exports = function createCache(config) {
  const opts = own(config, 'config')
  const ttl = nonNegative(opts, 'ttl', 3600000)
  const maxSize = nonNegative(opts, 'maxSize', 1000, { integer: true })
  const storage = oneOf(opts, 'storage', ['memory', 'file'], 'memory')
  const filePath = stringOption(opts, 'filePath', './.pompelmi-cache.json', { nonEmpty: true })
  const signaturesOf = signatureChecker(nonNegative(opts, 'signatureCheckInterval', 60000))
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

  /** Writes the file; a failure is a warning (the cache goes on in memory), never a crash. */
  function writeNow() {
    unsaved.delete(writeNow)
    const data = [...entries].map(([key, e]) => [key, { sha: e.sha, verdict: e.verdict.description, expiresAt: e.expiresAt }])
    const tmp = `${filePath}.${process.pid}.tmp`
    try {
      fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true })
      fs.writeFileSync(tmp, JSON.stringify(data))
      fs.renameSync(tmp, filePath)
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true })
      } catch {
        // nothing was written
      }
      process.emitWarning(`pompelmi cache: cannot write ${filePath} (${err.code || err.message}); keeping the cache in memory`, {
        code: 'POMPELMI_CACHE_WRITE_FAILED',
        detail: err.message,
      })
    }
  }

  function persist() {
    if (storage !== 'file') return
    markUnsaved(writeNow)
    if (persistTimer) return
    persistTimer = setTimeout(() => {
      persistTimer = null
      writeNow()
    }, 500)
    persistTimer.unref()
  }

  /**
   * `run()` resolves `{ verdict, sha }`: the verdict and the hash of the bytes it is about. A
   * scan already in flight for this key serves this caller only if what it scanned hashes to
   * `sha` (a file rewritten during its upload was scanned as other bytes); else this caller's own
   * bytes are scanned.
   */
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
    const shared = inflight.get(key)
    if (shared) {
      const result = await shared
      if (result.sha === sha) return result.verdict
      return (await store(run(), target)).verdict
    }
    const pending = store(run(), target)
    inflight.set(key, pending)
    try {
      return (await pending).verdict
    } finally {
      inflight.delete(key)
    }
  }

  /** Stores a scan's verdict under the hash of what was scanned (never ScanError). */
  async function store(running, target) {
    const result = await running
    if (result.verdict !== Verdict.ScanError) {
      entries.set(`${result.sha}:${target}`, { sha: result.sha, verdict: result.verdict, expiresAt: Date.now() + ttl })
      while (entries.size > maxSize) entries.delete(entries.keys().next().value)
      persist()
    }
    return result
  }

  /** The cache key's target part: where and how it is scanned, and with which signatures. */
  async function targetKey(options) {
    const resolved = resolveTarget(options)
    const signatures = await signaturesOf(resolved, options)
    return { resolved, key: signatures === null ? null : `${resolved.verdictKey}:${signatures}` }
  }

  return {
    async scan(file, options) {
      if (typeof file !== 'string') throw errors.notAString('filePath')
      if (!fs.existsSync(file)) throw errors.fileNotFound(file)
      const { resolved, key: target } = await targetKey(options)
      // One descriptor for the hash and the upload: a rename or a swap after the lookup cannot
      // put another file's verdict under this hash. Not a regular file (a FIFO yields other
      // bytes on each read), over the size guard (not worth hashing), or signatures unknown:
      // scanned, never cached.
      // Not opened here unless it is a regular file: an extra reader of a FIFO would change
      // what its writers see.
      if (!(await fs.promises.stat(file)).isFile()) {
        misses++
        return scan(file, options)
      }
      const handle = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0))
      try {
        const st = await handle.stat()
        if (!st.isFile() || target === null || (resolved.maxFileSize > 0 && st.size > resolved.maxFileSize)) {
          misses++
          return scan(file, options)
        }
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
      if (!Buffer.isBuffer(buffer)) throw errors.notABuffer()
      if (buffer.length === 0) throw errors.emptyBuffer()
      const { resolved, key: target } = await targetKey(options)
      if (target === null || (resolved.maxFileSize > 0 && buffer.length > resolved.maxFileSize)) {
        misses++
        return scanBuffer(buffer, options)
      }
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
