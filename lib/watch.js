'use strict'
// watch: scan files as they appear or change below a directory (fs.watch, recursive, 300 ms
// debounce per path). With `quarantine`, malicious files are moved there with a JSON sidecar
// holding the real virus name and the SHA-256; an existing quarantined file is never overwritten.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

/** Moves `file` into `dir` as <name>.quarantined (or <name>.<n>.quarantined) with a sidecar. */
async function quarantineFile(file, dir, viruses) {
  await fs.promises.mkdir(dir, { recursive: true })
  const sha256 = crypto.createHash('sha256').update(await fs.promises.readFile(file)).digest('hex')
  const base = path.basename(file)
  for (let n = 0; ; n++) {
    const target = path.join(dir, n === 0 ? `${base}.quarantined` : `${base}.${n}.quarantined`)
    try {
      await fs.promises.link(file, target) // fails if the target exists: never overwrites
    } catch (err) {
      if (err.code === 'EEXIST') continue
      if (err.code !== 'EXDEV') throw err
      await fs.promises.copyFile(file, target, fs.constants.COPYFILE_EXCL)
    }
    await fs.promises.unlink(file)
    const sidecar = { originalPath: file, virus: viruses.join(', '), viruses, timestamp: new Date().toISOString(), sha256 }
    await fs.promises.writeFile(`${target}.json`, JSON.stringify(sidecar, null, 2), { flag: 'wx' })
    return target
  }
}

module.exports = function watchFactory({ inspect, Verdict }) {
  function watch(dirPath, options, callbacks) {
    const { quarantine, ...scanOptions } = options || {}
    const { onClean = () => {}, onMalicious = () => {}, onError = () => {} } = callbacks || {}
    if (quarantine) fs.mkdirSync(quarantine, { recursive: true })
    const timers = new Map()
    const handle = async (full) => {
      const stat = await fs.promises.stat(full).catch(() => null)
      if (!stat || !stat.isFile()) return
      if (quarantine && path.resolve(full).startsWith(path.resolve(quarantine) + path.sep)) return
      try {
        const report = await inspect(full, scanOptions)
        if (report.verdict === Verdict.Clean) return onClean(full, report)
        if (report.verdict === Verdict.Malicious) {
          const moved = quarantine ? await quarantineFile(full, quarantine, report.viruses) : null
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
  return watch
}
