'use strict'
// pompelmi/koa: middleware after @koa/multer that scans ctx.file and every file of ctx.files
// (memory or disk storage; files stored by pompelmi/multer's engine already carry their report).
// Malicious → 403, a ScanError or a failed scan → 422 (fail closed), with the Express
// middleware's bodies; all Clean → ctx.state.pompelmi = { verdict, files }, then next().

const uploadedFiles = require('../uploads.js')
const { adapterOptions, checkUploads, multerUpload } = require('../upload-check.js')

/**
 * `pompelmi(options)`: the scan options, and `onScanError: 'next'` to throw the 422 error
 * (`status` 422, `expose`) to Koa's error handling instead of answering it.
 */
function pompelmi(options) {
  const { onScanError, scanOptions } = adapterOptions(options)
  return async function pompelmiKoa(ctx, next) {
    // @koa/multer puts the files on ctx (and ctx.request); either is read.
    const files = uploadedFiles({ file: ctx.file ?? ctx.request.file, files: ctx.files ?? ctx.request.files })
    if (files.length === 0) return next()
    const { pompelmi: report, answer } = await checkUploads(files.map((entry) => multerUpload(entry, scanOptions)))
    ctx.state.pompelmi = report
    if (!answer) return next()
    if (answer.status === 422 && onScanError === 'next') {
      answer.error.expose = true
      throw answer.error
    }
    ctx.status = answer.status
    ctx.body = answer.body
  }
}

module.exports = pompelmi
module.exports.pompelmi = pompelmi
