'use strict'
// Private temp files for local-mode scans of buffers and streams: created exclusively (O_EXCL)
// with mode 0600 inside a fresh mkdtemp directory under os.tmpdir(), and always removed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

async function createTempFile() {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'pompelmi-'))
  const file = path.join(dir, 'upload')
  const handle = await fs.promises.open(file, 'wx', 0o600)
  let closed = false
  const close = async () => {
    if (!closed) {
      closed = true
      await handle.close()
    }
  }
  return {
    path: file,
    async write(buffer) {
      await handle.writeFile(buffer)
      await close()
    },
    createWriteStream() {
      closed = true // the stream owns the descriptor from here on and closes it
      return handle.createWriteStream()
    },
    async remove() {
      await close().catch(() => {})
      await fs.promises.rm(dir, { recursive: true, force: true })
    },
  }
}

module.exports = { createTempFile }
