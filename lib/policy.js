'use strict'
// createPolicy: size, MIME type, extension, encrypted-ZIP and scan checks in one decision.
// Fixed from 1.x: a ScanError verdict is not allowed unless `allowScanError: true`, the virus name
// is reported, and the middleware checks every uploaded file, not only the first.

const fs = require('node:fs')
const path = require('node:path')
const { Readable } = require('node:stream')
const uploadedFiles = require('./uploads.js')
const errors = require('./core/errors.js')
const { invalidOption } = errors
const { inspectBuffer, inspectStream } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { own, nonNegative, oneOf, resolveTarget } = require('./core/options.js')

/** A list option: an array of strings, or null/absent. */
function stringList(opts, name) {
  const value = opts[name]
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalidOption(name, 'an array of strings', value)
  return value
}

/** A yes/no option: a boolean, or absent. */
function flag(opts, name) {
  const value = opts[name]
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value)
  return value
}

/** ZIP local file headers (PK\3\4) whose general-purpose flag has bit 0 (encrypted) set. */
function isEncryptedZip(buffer) {
  for (let off = buffer.indexOf('PK\x03\x04'); off >= 0 && off + 8 <= buffer.length; off = buffer.indexOf('PK\x03\x04', off + 4)) {
    if (buffer.readUInt16LE(off + 6) & 1) return true
  }
  return false
}

/** An upload's bytes, from multer memory storage (buffer) or disk storage (path). A file with
 * neither cannot be checked, and must not pass as an empty one. */
async function contentOf(file) {
  if (file && Buffer.isBuffer(file.buffer)) return file.buffer
  if (file && typeof file.path === 'string') return fs.promises.readFile(file.path)
  throw errors.coded(`Upload ${(file && (file.originalname || file.fieldname)) || ''} has neither a buffer nor a path: it cannot be checked`, 'ERR_INVALID_UPLOAD')
}

/** Checks every uploaded file of a request; the first that is not allowed, or null. */
async function firstRefused(check, req) {
  for (const file of uploadedFiles(req)) {
    const buffer = await contentOf(file)
    const result = await check(buffer, { filename: file.originalname, mimeType: file.mimetype, size: file.size ?? buffer.length })
    if (!result.allowed) return { file, result }
  }
  return null
}

module.exports = function createPolicy(rules) {
  const opts = own(rules, 'rules')
  const scan = opts.scan === undefined || opts.scan === null ? null : own(opts.scan, 'scan')
  if (scan) resolveTarget(scan) // bad connection options throw now, not on every upload
  const maxSize = nonNegative(opts, 'maxSize', null)
  const allowedMimeTypes = stringList(opts, 'allowedMimeTypes')
  const allowedExtensions = stringList(opts, 'allowedExtensions')
  const rejectEncrypted = flag(opts, 'rejectEncrypted')
  const allowScanError = flag(opts, 'allowScanError')
  const allowUnknownMimeType = flag(opts, 'allowUnknownMimeType')
  const onScannerUnavailable = oneOf(opts, 'onScannerUnavailable', ['reject', 'allow', 'throw'], 'reject')

  async function check(buffer, meta) {
    if (!Buffer.isBuffer(buffer)) throw errors.notABuffer()
    const { filename = '', mimeType = null, size = buffer.length } = meta || {}
    const extension = path.extname(filename).toLowerCase() || null
    const details = { size, mimeType, extension, virusName: null }
    const decide = (allowed, reason, verdict = null) => ({ allowed, reason: allowed ? null : reason, verdict, details })
    if (maxSize != null && size > maxSize) return decide(false, 'file_too_large')
    // An allow-list admits only what it names: an unknown type is refused too, unless
    // `allowUnknownMimeType` says otherwise.
    if (allowedMimeTypes && (mimeType ? !allowedMimeTypes.includes(mimeType) : !allowUnknownMimeType)) return decide(false, 'mime_not_allowed')
    if (allowedExtensions && !allowedExtensions.map((e) => e.toLowerCase()).includes(extension)) return decide(false, 'extension_not_allowed')
    if (rejectEncrypted && isEncryptedZip(buffer)) return decide(false, 'encrypted_archive')
    if (!scan) return decide(true, null)
    let report
    try {
      // An empty upload is asked about as an empty stream (scanBuffer refuses empty buffers).
      report = buffer.length ? await inspectBuffer(buffer, scan) : await inspectStream(Readable.from([]), scan)
    } catch (err) {
      if (onScannerUnavailable === 'throw') throw err
      if (onScannerUnavailable === 'allow') return decide(true, null, Verdict.ScanError)
      return decide(false, 'scanner_unavailable', Verdict.ScanError)
    }
    details.virusName = report.viruses[0] || null
    if (report.verdict === Verdict.Malicious) return decide(false, 'virus_detected', report.verdict)
    if (report.verdict === Verdict.ScanError && !allowScanError) return decide(false, 'scan_error', report.verdict)
    return decide(true, null, report.verdict)
  }

  return {
    check,
    /** Express middleware: every uploaded file must pass; the first failure answers 403. */
    middleware() {
      return async (req, res, next) => {
        try {
          const refused = await firstRefused(check, req)
          if (refused) return res.status(403).json({ error: refused.result.reason, file: refused.file.originalname })
          next()
        } catch (err) {
          next(err)
        }
      }
    },
    /** A NestJS guard: canActivate(context) checks the request's files (memory or disk storage). */
    nestGuard() {
      return {
        async canActivate(context) {
          return (await firstRefused(check, context.switchToHttp().getRequest())) === null
        },
      }
    },
  }
}
