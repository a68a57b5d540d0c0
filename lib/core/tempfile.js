'use strict'
// Temp files for local-mode scans of buffers and streams. They are anonymous: on Linux an
// O_TMPFILE file, elsewhere one unlinked right after it is created (O_EXCL, 0600, in a fresh
// mkdtemp directory). No name is ever left on disk, even when node is killed mid-scan; clamscan
// reads the file through its descriptor.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY), which Node does not export.
const O_TMPFILE = process.platform === 'linux' ? 0o20200000 : 0

async function openAnonymous() {
  if (O_TMPFILE) {
    try {
      return await fs.promises.open(os.tmpdir(), O_TMPFILE | fs.constants.O_RDWR, 0o600)
    } catch {
      // A file system without O_TMPFILE: fall back to create-and-unlink.
    }
  }
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'pompelmi-'))
  try {
    const file = path.join(dir, 'upload')
    const handle = await fs.promises.open(file, 'wx+', 0o600)
    await fs.promises.unlink(file)
    return handle
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true })
  }
}

async function createTempFile() {
  const handle = await openAnonymous()
  let closed = false
  return {
    fd: handle.fd,
    /** Appends bytes at the file's current end. */
    async write(buffer) {
      await handle.writeFile(buffer)
    },
    async remove() {
      if (!closed) {
        closed = true
        await handle.close().catch(() => {})
      }
    },
  }
}

module.exports = { createTempFile }
