'use strict'
// middleware(opts): Express/multer upload scanning with pompelmi 1.x's signature, working.
// Scans req.file and every file of req.files (array or fields object, every field: 1.x scanned
// only `uploadField`), from memory storage (buffer) or disk storage (path). A malformed entry
// (null, neither buffer nor path) answers 422; the middleware never throws. Malicious → 403 { error: 'Malicious file detected' }. A ScanError or a failed
// scan fails closed (422) unless `onScanError: 'next'` hands the error to next(err). Clean
// requests go on with req.pompelmi = { verdict, files: [{ fieldname, originalname, report }] }.

const uploadedFiles = require('./uploads.js')
const { stringOption } = require('./core/options.js')
const { adapterOptions, checkUploads, multerUpload, scanFailed } = require('./upload-check.js')

/** A response that can no longer be sent (an earlier handler answered): Express's error path. */
function answer(res, next, status, body, cause) {
  if (!res.headersSent) return res.status(status).json(body)
  const err = new Error(`${body.error} (the response was already sent)`, cause ? { cause } : undefined)
  err.code = status === 403 ? 'ERR_MALICIOUS_UPLOAD' : 'ERR_SCAN_FAILED'
  err.status = err.statusCode = status
  return next(err)
}

/** The middleware over `scanner` (the package's inspect functions, or a mock's: pompelmi/testing). */
const middlewareWith = (scanner) => function middleware(opts) {
  const { onScanError, scanOptions, adapter } = adapterOptions(opts, ['uploadField'])
  const uploadField = stringOption(adapter, 'uploadField', 'file')
  return async function pompelmiMiddleware(req, res, next) {
    try {
      await scanRequest(req, res, next)
    } catch (error) {
      // A bug or a request no multer made: fail closed, never leave the request hanging.
      const err = scanFailed({}, error)
      if (onScanError === 'next' || res.headersSent) return next(err)
      res.status(422).json({ error: 'File could not be scanned', reason: error.code || error.message })
    }
  }

  async function scanRequest(req, res, next) {
    const files = uploadedFiles(req, uploadField)
    if (files.length === 0) return next()
    const { pompelmi, answer: result } = await checkUploads(files.map((entry) => multerUpload(entry, scanOptions, scanner)))
    req.pompelmi = pompelmi
    if (!result) return next()
    if (result.status === 422 && onScanError === 'next') return next(result.error)
    return answer(res, next, result.status, result.body, result.error.cause)
  }
}

module.exports = middlewareWith(require('./core/shared.js'))
module.exports.middlewareWith = middlewareWith
