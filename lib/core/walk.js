'use strict'
// The one directory walker (scanDirectory, createScanner, the CLI): every regular file below a
// directory, each once, in path order. Names are read as bytes: a name that is not valid UTF-8
// cannot be named to the scanner exactly (a lossy decoding could name another file), so it is
// listed as a problem, never decoded. Directories are tracked by device and inode, so a link to
// an ancestor or two links to `.` never loop or repeat a file. Symlinks are not followed out of
// the tree unless `followSymlinks` is set; what cannot be walked is listed with a reason.
//
// Each file comes with how to open it safely later: `rel`, its path below the root's real path
// without any symlink (the scanner resolves it one directory descriptor at a time and refuses a
// link anywhere, so a parent swapped for a link after the walk cannot redirect the open), and
// `fileId`, the inode the walk saw (another one at that path is an error, never its verdict).

const fs = require('node:fs')
const path = require('node:path')

/** A name's bytes for display: ASCII as is, every other byte as `\xNN`. */
function escapeName(raw) {
  let out = ''
  for (const byte of raw) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`
  return out
}

/** The name as a string, or null when the bytes are not exactly a UTF-8 string. */
function exactName(raw) {
  const name = raw.toString('utf8')
  return Buffer.from(name, 'utf8').equals(raw) ? name : null
}

const byPath = (a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

/**
 * Walks `root`. Resolves `{ root, files, problems }`: `root` is the root's real path; `files` are
 * `{ path, real, rel, fileId }` (`real`: what a symlink resolves to, or null; `rel`: the path to
 * open below `root` without links, or null for a file reached through a followed link out of the
 * tree; `fileId`: `dev:ino`); `problems` are `{ path, reason }` with reason `'symlink-outside'`
 * (a link out of the tree, not followed), `'unrepresentable-name'` (not UTF-8) or
 * `'unreadable'` (a broken link, a link loop, a permission error).
 */
async function walk(root, { followSymlinks = false } = {}) {
  const rootReal = await fs.promises.realpath(root)
  const inside = (real) => real === rootReal || real.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep)
  const relOf = (real) => (inside(real) ? path.relative(rootReal, real).split(path.sep).join('/') : null)
  const join = (rel, name) => (rel === null ? null : rel === '' ? name : `${rel}/${name}`)
  const seenDirs = new Set()
  const seenFiles = new Set()
  const files = []
  const problems = []

  async function visitDir(dir, rel, stat) {
    const id = `${stat.dev}:${stat.ino}`
    if (seenDirs.has(id)) return
    seenDirs.add(id)
    let entries
    try {
      entries = await fs.promises.readdir(dir, { encoding: 'buffer' })
    } catch {
      problems.push({ path: dir, reason: 'unreadable' })
      return
    }
    for (const raw of entries.sort(Buffer.compare)) {
      const name = exactName(raw)
      if (name === null) problems.push({ path: path.join(dir, escapeName(raw)), reason: 'unrepresentable-name' })
      else await visit(path.join(dir, name), join(rel, name))
    }
  }

  async function visit(p, rel) {
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
      rel = relOf(real)
    }
    if (stat.isDirectory()) return visitDir(p, rel, stat)
    if (!stat.isFile()) return // FIFOs, sockets, devices: not files to scan
    const fileId = `${stat.dev}:${stat.ino}`
    if (real !== null && seenFiles.has(fileId)) return // a second link to a file already listed
    seenFiles.add(fileId)
    files.push({ path: p, real, rel, fileId })
  }

  const rootStat = await fs.promises.stat(rootReal)
  if (rootStat.isDirectory()) await visitDir(root, '', rootStat)
  else files.push({ path: root, real: null, rel: null, fileId: rootStat.isFile() ? `${rootStat.dev}:${rootStat.ino}` : undefined })
  files.sort(byPath)
  problems.sort(byPath)
  return { root: rootReal, files, problems }
}

/** What a walker passes to a scan so the file is opened as it was walked (options' WALKED). */
const walkedTarget = (root, file) => ({ root: file.rel === null ? undefined : root, rel: file.rel ?? undefined, fileId: file.fileId })

module.exports = { walk, walkedTarget, escapeName, exactName }
