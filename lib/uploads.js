'use strict'
// The files multer put on a request: req.file, and every file of req.files (an array, or a
// fields object: every field counts; `first` only names the field listed first, where pompelmi
// 1.x looked). Entries are returned as they are, malformed ones included, for the caller to
// refuse.

module.exports = function uploadedFiles(req, first) {
  const files = []
  if (req.file !== undefined && req.file !== null) files.push(req.file)
  if (Array.isArray(req.files)) files.push(...req.files)
  else if (req.files && typeof req.files === 'object') {
    const fields = Object.keys(req.files)
    if (first !== undefined && fields.includes(first)) fields.sort((a, b) => (a === first ? -1 : b === first ? 1 : 0))
    for (const field of fields) {
      const list = req.files[field]
      if (Array.isArray(list)) files.push(...list)
      else files.push(list) // not multer's shape: refused as malformed
    }
  }
  return files
}

/** Whether an entry is an upload multer could have made: a buffer (memory) or a path (disk). */
module.exports.isUpload = (file) =>
  file !== null && typeof file === 'object' && (Buffer.isBuffer(file.buffer) || (typeof file.path === 'string' && file.path !== ''))
