'use strict'
// Which file a report is about: the inode that was scanned (`dev:ino`) and, for a walked file,
// the root and relative path it was opened by. Quarantine and the CLI's --delete act only on that
// inode, through directory descriptors, never by following the path again.

const path = require('node:path')
const fs = require('node:fs')
const binding = require('./binding.js')
const { toError } = require('./errors.js')

const scanned = new WeakMap()

/** Records what `report` is about: `{ fileId, root?, rel? }`. */
function recordScanned(report, fileId, walked) {
  scanned.set(report, { fileId, root: walked && walked.root, rel: walked && walked.rel })
}

/** `dev:ino` of the regular file `report` is about, or undefined. */
const fileIdOf = (report) => (scanned.get(report) || {}).fileId

/**
 * Deletes the file `report` is about, named `file`: only while `file` still is the scanned
 * inode, resolved without following any symlink below its walk's root (or below its own
 * directory's real path when it was not walked). Rejects `ERR_FILE_CHANGED` otherwise.
 */
async function removeScanned(report, file) {
  const record = scanned.get(report)
  if (!record || !record.fileId) throw Object.assign(new Error(`${file} was not scanned as a regular file`), { code: 'ERR_FILE_CHANGED' })
  let { root, rel } = record
  if (!root || !rel) {
    root = await fs.promises.realpath(path.dirname(file))
    rel = path.basename(file)
  }
  const outcome = binding.removeScanned(root, rel, record.fileId)
  if (outcome.error) throw toError(outcome.error)
}

module.exports = { recordScanned, fileIdOf, removeScanned }
