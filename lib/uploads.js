'use strict'
// The files multer put on a request: req.file, and req.files as an array or a fields object
// (`field` picks one field of the object; without it, or when absent, every field counts).

module.exports = function uploadedFiles(req, field) {
  const files = []
  if (req.file) files.push(req.file)
  if (Array.isArray(req.files)) files.push(...req.files)
  else if (req.files && typeof req.files === 'object') {
    if (field !== undefined && Array.isArray(req.files[field])) files.push(...req.files[field])
    else for (const list of Object.values(req.files)) if (Array.isArray(list)) files.push(...list)
  }
  return files
}
