'use strict'
// watch: scan files as they appear or change below a directory (fs.watch, recursive, 300 ms
// debounce per path). With `quarantine`, malicious files are moved there with a JSON sidecar
// holding the real virus name and the SHA-256; an existing quarantined file is never overwritten.
//
// The move is exact: it resolves the path one directory descriptor at a time from the watched
// directory's real path, refuses a symlink anywhere along it, and moves the file only while it
// is the very inode that was scanned (a parent swapped for a link after the scan cannot redirect
// it to a file outside the tree). The quarantine directory is never watched, also when it is
// reached through a link into the tree.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { inspect } = require('./core/shared.js')
const { resolveTarget } = require('./core/options.js')
const { Verdict } = require('./core/verdict.js')
const { WALKED, own, stringOption } = require('./core/options.js')
const { fileIdOf } = require('./core/scanned.js')
const { exactName, escapeName } = require('./core/walk.js')
const errors = require('./core/errors.js')
const { toError, invalidOption } = errors
const binding = require('./core/binding.js')

/**
 * Moves `file` (the scanned inode `fileId`, `dev:ino`) into `dir` as <name>.quarantined (or
 * <name>.<n>.quarantined) with a sidecar; `root` is the watched directory. Resolves the new
 * path.
 */
async function quarantineFile(file, dir, viruses, { fileId, root = path.dirname(file) } = {}) {
  await fs.promises.mkdir(dir, { recursive: true })
  const rootReal = await fs.promises.realpath(root)
  const dirReal = await fs.promises.realpath(dir)
  if (!fileId) {
    const st = await fs.promises.lstat(file)
    fileId = `${st.dev}:${st.ino}`
  }
  const rel = path.relative(root, file)
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${file} is not below ${root}`)
  const outcome = binding.quarantineMove(rootReal, rel.split(path.sep).join('/'), dirReal, path.basename(file), fileId)
  if (outcome.error) throw toError(outcome.error)
  const target = path.join(dir, path.basename(outcome.reply))
  const sha256 = crypto.createHash('sha256').update(await fs.promises.readFile(target)).digest('hex')
  const sidecar = { originalPath: file, virus: viruses.join(', '), viruses, timestamp: new Date().toISOString(), sha256 }
  await fs.promises.writeFile(`${target}.json`, JSON.stringify(sidecar, null, 2), { flag: 'wx' })
  return target
}

function watch(dirPath, options, callbacks) {
  const opts = own(options)
  const { quarantine: _q, ...scanOptions } = opts
  const quarantine = stringOption(opts, 'quarantine', undefined, { nonEmpty: true })
  resolveTarget(scanOptions) // bad connection options throw now, not on every file
  // Callbacks are read as given and called on their object: handlers may be methods of a class.
  const handler = (name) => {
    const fn = callbacks == null ? undefined : callbacks[name]
    if (fn === undefined) return () => {}
    if (typeof fn !== 'function') throw invalidOption(name, 'a function', fn)
    return fn.bind(callbacks)
  }
  const onClean = handler('onClean')
  const onMalicious = handler('onMalicious')
  const onError = handler('onError')
  if (typeof dirPath !== 'string') throw errors.notAString('dirPath')
  const rootReal = fs.realpathSync(dirPath)
  if (quarantine) fs.mkdirSync(quarantine, { recursive: true })
  const quarantineReal = quarantine ? fs.realpathSync(quarantine) : null
  const underQuarantine = (real) => quarantineReal !== null && (real === quarantineReal || real.startsWith(quarantineReal + path.sep))
  const timers = new Map()
  const handle = async (full) => {
    const stat = await fs.promises.lstat(full).catch(() => null)
    if (!stat || !stat.isFile()) return // gone, a directory, a link, a FIFO
    const parentReal = await fs.promises.realpath(path.dirname(full)).catch(() => null)
    if (parentReal === null || underQuarantine(parentReal)) return
    try {
      // Opened below the watched directory without following any link.
      const rel = path.relative(dirPath, full).split(path.sep).join('/')
      const report = await inspect(full, { ...scanOptions, [WALKED]: { root: rootReal, rel } })
      if (report.verdict === Verdict.Clean) return onClean(full, report)
      if (report.verdict === Verdict.Malicious) {
        const moved = quarantine ? await quarantineFile(full, quarantine, report.viruses, { fileId: fileIdOf(report), root: dirPath }) : null
        return onMalicious(full, report.viruses, moved)
      }
      onError(new Error(`ScanError for ${full}`), full)
    } catch (err) {
      onError(err, full)
    }
  }
  const unrepresentable = (raw) => {
    const shown = path.join(dirPath, escapeName(raw))
    onError(Object.assign(new Error(`${shown}: a name that is not UTF-8 cannot be scanned by name`), { code: 'ERR_UNREPRESENTABLE_NAME', path: shown }), shown)
  }
  const schedule = (full) => {
    clearTimeout(timers.get(full))
    timers.set(full, setTimeout(() => timers.delete(full) && handle(full), 300))
  }
  // Names are bytes: one that is not UTF-8 cannot be named to the scanner exactly (its lossy
  // decoding may name another file), so it is reported through onError, never scanned. Node's
  // recursive watcher hands out lossy strings, so a name with U+FFFD is looked up again by bytes.
  const watcher = fs.watch(dirPath, { recursive: true, encoding: 'buffer' }, (_event, name) => {
    if (!name) return
    if (Buffer.isBuffer(name)) {
      const exact = exactName(name)
      return exact === null ? unrepresentable(name) : schedule(path.join(dirPath, exact))
    }
    if (!name.includes('\uFFFD')) return schedule(path.join(dirPath, name))
    namesByBytes(name).then(
      (found) => found.forEach(({ raw, exact }) => (exact === null ? unrepresentable(raw) : schedule(path.join(dirPath, exact)))),
      () => {},
    )
  })
  /** The entries whose lossy name is `name`, resolved one byte-named component at a time. */
  async function namesByBytes(name) {
    let found = [{ raw: Buffer.alloc(0), exact: '' }]
    for (const part of name.split(path.sep)) {
      const next = []
      for (const { raw, exact } of found) {
        const dir = Buffer.concat([Buffer.from(dirPath + path.sep), raw])
        const entries = await fs.promises.readdir(dir, { encoding: 'buffer' }).catch(() => [])
        for (const entry of entries) {
          if (entry.toString('utf8') !== part) continue
          const sep = raw.length ? Buffer.from(path.sep) : Buffer.alloc(0)
          const own = exactName(entry)
          next.push({ raw: Buffer.concat([raw, sep, entry]), exact: exact === null || own === null ? null : exact ? path.join(exact, own) : own })
        }
      }
      found = next
    }
    return found
  }
  const close = watcher.close.bind(watcher)
  watcher.close = () => {
    for (const t of timers.values()) clearTimeout(t)
    close()
  }
  return watcher
}
watch.quarantineFile = quarantineFile
module.exports = watch
