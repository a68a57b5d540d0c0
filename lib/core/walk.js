'use strict'
// The one directory walker (scanDirectory, createScanner, the CLI): every regular file below a
// directory, each once, in path order. Directories are tracked by device and inode, so a link to
// an ancestor or two links to `.` never loop or repeat a file. Symlinks are not followed out of
// the tree unless `followSymlinks` is set; what cannot be walked is listed with a reason.

const fs = require('node:fs')
const path = require('node:path')

/**
 * Walks `root`. Resolves `{ files, problems }`: `files` are `{ path, real }` (`real` is what a
 * symlink resolves to, or null), `problems` are `{ path, reason }` with reason
 * `'symlink-outside'` (a link out of the tree, not followed) or `'unreadable'` (a broken link,
 * a link loop, a permission error).
 */
async function walk(root, { followSymlinks = false } = {}) {
  const rootReal = await fs.promises.realpath(root)
  const inside = (real) => real === rootReal || real.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep)
  const seenDirs = new Set()
  const seenFiles = new Set()
  const files = []
  const problems = []

  async function visitDir(dir, stat) {
    const id = `${stat.dev}:${stat.ino}`
    if (seenDirs.has(id)) return
    seenDirs.add(id)
    let entries
    try {
      entries = await fs.promises.readdir(dir)
    } catch {
      problems.push({ path: dir, reason: 'unreadable' })
      return
    }
    for (const name of entries.sort()) await visit(path.join(dir, name))
  }

  async function visit(p) {
    let lstat
    try {
      lstat = await fs.promises.lstat(p)
    } catch {
      return problems.push({ path: p, reason: 'unreadable' })
    }
    let real = null
    let stat = lstat
    if (lstat.isSymbolicLink()) {
      try {
        real = await fs.promises.realpath(p)
        stat = await fs.promises.stat(real)
      } catch {
        return problems.push({ path: p, reason: 'unreadable' })
      }
      if (!followSymlinks && !inside(real)) return problems.push({ path: p, reason: 'symlink-outside' })
    }
    if (stat.isDirectory()) return visitDir(p, stat)
    if (!stat.isFile()) return // FIFOs, sockets, devices: not files to scan
    const id = `${stat.dev}:${stat.ino}`
    if (real !== null && seenFiles.has(id)) return // a second link to a file already listed
    seenFiles.add(id)
    files.push({ path: p, real })
  }

  const rootStat = await fs.promises.stat(rootReal)
  if (rootStat.isDirectory()) await visitDir(root, rootStat)
  else files.push({ path: root, real: null })
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { files, problems }
}

module.exports = { walk }
