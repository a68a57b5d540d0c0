'use strict'
// middleware(opts): Express/multer upload scanning with pompelmi 1.x's signature, working.
// Scans req.file and every file of req.files (array or fields object, every field: 1.x scanned
// only `uploadField`), from memory storage (buffer) or disk storage (path). A malformed entry
// (null, neither buffer nor path) answers 422; the middleware never throws. Malicious → 403 { error: 'Malicious file detected' }. A ScanError or a failed
// scan fails closed (422) unless `onScanError: 'next'` hands the error to next(err). Clean
// requests go on with req.pompelmi = { verdict, files: [{ fieldname, originalname, report }] }.

const { Readable } = require('node:stream')
const uploadedFiles = require('./uploads.js')
const { isUpload } = uploadedFiles
const { inspect, inspectBuffer, inspectStream } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { own, oneOf, stringOption, resolveTarget } = require('./core/options.js')

function scanError(file, cause) {
  const name = file.originalname || file.fieldname || 'upload'
  const err = new Error(`ScanError for ${name}${cause ? `: ${cause.message}` : ''}`, cause ? { cause } : undefined)
  err.code = 'ERR_SCAN_FAILED'
  err.status = 422
  return err
}

/** A response that can no longer be sent (an earlier handler answered): Express's error path. */
function answer(res, next, status, body, cause) {
  if (!res.headersSent) return res.status(status).json(body)
  const err = new Error(`${body.error} (the response was already sent)`, cause ? { cause } : undefined)
  err.code = status === 403 ? 'ERR_MALICIOUS_UPLOAD' : 'ERR_SCAN_FAILED'
  err.status = err.statusCode = status
  return next(err)
}

module.exports = function middleware(opts) {
  const options = own(opts)
  const { uploadField: _u, onScanError: _o, ...scanOptions } = options
  const uploadField = stringOption(options, 'uploadField', 'file')
  const onScanError = oneOf(options, 'onScanError', ['reject', 'next'], 'reject')
  resolveTarget(scanOptions) // bad connection options throw now, not on every request
  return async function pompelmiMiddleware(req, res, next) {
    try {
      await scanRequest(req, res, next)
    } catch (error) {
      // A bug or a request no multer made: fail closed, never leave the request hanging.
      const err = scanError({}, error)
      if (onScanError === 'next' || res.headersSent) return next(err)
      res.status(422).json({ error: 'File could not be scanned', reason: error.code || error.message })
    }
  }

  async function scanRequest(req, res, next) {
    const files = uploadedFiles(req, uploadField)
    if (files.length === 0) return next()
    const results = await Promise.all(
      files.map(async (entry) => {
        const file = entry !== null && typeof entry === 'object' ? entry : {}
        if (!isUpload(entry)) {
          const error = new Error('not an uploaded file (no buffer and no path)')
          error.code = 'ERR_INVALID_UPLOAD'
          return { file, error }
        }
        try {
          // An empty upload is still asked about (as an empty stream: scanBuffer refuses it).
          const report = !Buffer.isBuffer(file.buffer)
            ? await inspect(file.path, scanOptions)
            : file.buffer.length
              ? await inspectBuffer(file.buffer, scanOptions)
              : await inspectStream(Readable.from([]), scanOptions)
          return { file, report }
        } catch (error) {
          return { file, error }
        }
      }),
    )
    req.pompelmi = {
      verdict: results.some((r) => r.report && r.report.verdict === Verdict.Malicious)
        ? Verdict.Malicious
        : results.every((r) => r.report && r.report.verdict === Verdict.Clean)
          ? Verdict.Clean
          : Verdict.ScanError,
      files: results.map(({ file, report, error }) => ({ fieldname: file.fieldname, originalname: file.originalname, report, error })),
    }
    const malicious = results.filter((r) => r.report && r.report.verdict === Verdict.Malicious)
    if (malicious.length) {
      return answer(res, next, 403, {
        error: 'Malicious file detected',
        files: malicious.map((r) => ({ field: r.file.fieldname, name: r.file.originalname, viruses: r.report.viruses })),
      })
    }
    const failed = results.find((r) => r.error || r.report.verdict !== Verdict.Clean)
    if (failed) {
      const err = scanError(failed.file, failed.error)
      if (onScanError === 'next') return next(err)
      return answer(
        res,
        next,
        422,
        {
          error: 'File could not be scanned',
          field: failed.file.fieldname,
          name: failed.file.originalname,
          reason: failed.error ? failed.error.code || failed.error.message : failed.report.reason,
        },
        failed.error,
      )
    }
    return next()
  }
}
