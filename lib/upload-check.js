'use strict'
// One upload check for the Express middleware and every framework adapter: every file of a
// request scanned at once, the report object the request carries, and the answer. Malicious →
// 403 { error: 'Malicious file detected', files: [{ field, name, viruses }] }; a ScanError or a
// failed scan → 422 { error: 'File could not be scanned', field, name, reason } (fail closed);
// all Clean → go on.

const { Verdict } = require('./core/verdict.js')
const { isUpload } = require('./uploads.js')
const { own, oneOf, resolveTarget } = require('./core/options.js')
const { MaliciousUploadError, ScanFailedError } = require('./core/errors.js')

/**
 * An adapter's options: `onScanError` ('reject': answer 422, or 'next': hand the error on), the
 * names in `own` (the adapter's own options, returned apart), and the scan options, checked now
 * so that bad connection options throw at set-up, not on every request.
 */
function adapterOptions(options, ownNames = []) {
  const opts = own(options)
  const onScanError = oneOf(opts, 'onScanError', ['reject', 'next'], 'reject')
  const scanOptions = {}
  const adapter = {}
  for (const [key, value] of Object.entries(opts)) {
    if (key === 'onScanError') continue
    if (ownNames.includes(key)) adapter[key] = value
    else scanOptions[key] = value
  }
  resolveTarget(scanOptions)
  return { onScanError, scanOptions, adapter }
}

const VERDICTS = new Set(Object.values(Verdict))

/**
 * One multer file (Express, Koa, NestJS) as an upload to check: scanned from memory (`buffer`) or
 * disk (`path`), with `scanner`'s inspect functions (the package's, or a mock's, which also take
 * the upload's name: pompelmi/testing's `byName`); one stored by
 * pompelmi/multer's engine already carries its report (a Verdict
 * symbol cannot come from a request); anything else is refused (ERR_INVALID_UPLOAD).
 */
function multerUpload(entry, scanOptions, { inspect, inspectBuffer, inspectStream } = require('./core/shared.js')) {
  const file = entry !== null && typeof entry === 'object' ? entry : {}
  const upload = { fieldname: file.fieldname, originalname: file.originalname }
  if (file.pompelmi && VERDICTS.has(file.pompelmi.verdict)) upload.scan = () => Promise.resolve(file.pompelmi)
  else if (!isUpload(entry)) {
    const error = new Error('not an uploaded file (no buffer and no path)')
    error.code = 'ERR_INVALID_UPLOAD'
    upload.scan = () => Promise.reject(error)
  } else if (!Buffer.isBuffer(file.buffer)) upload.scan = () => inspect(file.path, scanOptions, file.originalname)
  // An empty upload is still asked about (as an empty stream: scanBuffer refuses it).
  else if (file.buffer.length === 0) upload.scan = () => inspectStream([], scanOptions, file.originalname)
  else upload.scan = () => inspectBuffer(file.buffer, scanOptions, file.originalname)
  return upload
}

/**
 * The Files among `[field, value]` pairs (a FormData, a parsed body) as uploads to check, each
 * scanned as a Blob, `field` first.
 */
function blobUploads(pairs, scanOptions, field) {
  const { inspectBlob } = require('./core/shared.js')
  const files = [...pairs].filter(([, value]) => typeof value === 'object' && value instanceof Blob)
  if (field !== undefined) files.sort(([a], [b]) => (a === field ? -1 : b === field ? 1 : 0))
  return files.map(([key, file]) => ({ fieldname: key, originalname: file.name, scan: () => inspectBlob(file, scanOptions) }))
}

/** Web form content types: what `formData()` / `parseBody()` read. */
const FORM_TYPE = /^\s*(multipart\/form-data|application\/x-www-form-urlencoded)\s*(;|$)/i

const nameOf = (file) => file.originalname || file.fieldname || 'upload'

/** The 422 error (`code: 'ERR_SCAN_FAILED'`, `status` 422) for a file whose scan did not say Clean. */
function scanFailed(file, cause, report) {
  return new ScanFailedError({ report, cause, message: `ScanError for ${nameOf(file)}${cause ? `: ${cause.message}` : ''}` })
}

/**
 * Scans each upload `{ fieldname, originalname, scan }` (`scan()` resolves a report; a rejection
 * is a failed scan) and resolves `{ pompelmi, answer }`. `pompelmi` is the report object
 * (`{ verdict, files: [{ fieldname, originalname, report, error }] }`); `answer` is null when every
 * file is Clean, else `{ status, body, error }`, where `error` (a MaliciousUploadError or a
 * ScanFailedError, with `status`/`statusCode`) is for frameworks that answer by throwing.
 */
async function checkUploads(uploads) {
  const results = await Promise.all(
    uploads.map(async (file) => {
      try {
        return { file, report: await file.scan() }
      } catch (error) {
        return { file, error }
      }
    }),
  )
  const isMalicious = (r) => r.report && r.report.verdict === Verdict.Malicious
  const pompelmi = {
    verdict: results.some(isMalicious) ? Verdict.Malicious : results.every((r) => r.report && r.report.verdict === Verdict.Clean) ? Verdict.Clean : Verdict.ScanError,
    files: results.map(({ file, report, error }) => ({ fieldname: file.fieldname, originalname: file.originalname, report, error })),
  }
  const malicious = results.filter(isMalicious)
  if (malicious.length) {
    const body = {
      error: 'Malicious file detected',
      files: malicious.map((r) => ({ field: r.file.fieldname, name: r.file.originalname, viruses: r.report.viruses })),
    }
    return { pompelmi, answer: { status: 403, body, error: new MaliciousUploadError(malicious[0].report, nameOf(malicious[0].file)) } }
  }
  const failed = results.find((r) => r.error || r.report.verdict !== Verdict.Clean)
  if (failed) {
    const body = {
      error: 'File could not be scanned',
      field: failed.file.fieldname,
      name: failed.file.originalname,
      reason: failed.error ? failed.error.code || failed.error.message : failed.report.reason,
    }
    return { pompelmi, answer: { status: 422, body, error: scanFailed(failed.file, failed.error, failed.report) } }
  }
  return { pompelmi, answer: null }
}

module.exports = { FORM_TYPE, adapterOptions, checkUploads, multerUpload, blobUploads, scanFailed }
