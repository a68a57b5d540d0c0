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
const { Verdict } = require('./core/verdict.js')
const { NOFOLLOW } = require('./core/options.js')
const { toError } = require('./core/errors.js')
const { fileIds } = require('./core/client.js')
const fileIdOf = (report) => fileIds.get(report)
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
  const { quarantine, ...scanOptions } = options || {}
  const { onClean = () => {}, onMalicious = () => {}, onError = () => {} } = callbacks || {}
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
      const report = await inspect(full, { ...scanOptions, [NOFOLLOW]: true })
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
  const watcher = fs.watch(dirPath, { recursive: true }, (_event, name) => {
    if (!name) return
    const full = path.join(dirPath, name.toString())
    clearTimeout(timers.get(full))
    timers.set(full, setTimeout(() => timers.delete(full) && handle(full), 300))
  })
  const close = watcher.close.bind(watcher)
  watcher.close = () => {
    for (const t of timers.values()) clearTimeout(t)
    close()
  }
  return watcher
}
watch.quarantineFile = quarantineFile
module.exports = watch
