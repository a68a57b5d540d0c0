// pompelmi/nest: NestJS 12 (@nestjs/platform-express) upload scanning. Nest 12 is ESM-only, so this
// adapter is an ES module; `require('pompelmi/nest')` works where Node can require ES modules, as
// Nest 12 itself needs.
// - ClamavValidator: a FileValidator for a plain ParseFilePipe (`new ClamavValidator(options)`).
//   Its async isValid throws the HttpException itself (403 Malicious, 422 ScanError or a failed
//   scan), because ParseFilePipe would turn a `false` into one fixed status.
// - ClamavInterceptor: for FileInterceptor/FilesInterceptor/AnyFilesInterceptor/FileFieldsInterceptor
//   (listed after them): scans every file, throws the same exceptions, and puts
//   `req.pompelmi = { verdict, files }` on the request when every file is Clean.
// The exceptions carry the Express middleware's bodies and the scan's error as `cause`.
import { createRequire } from 'node:module'
import { FileValidator, HttpException } from '@nestjs/common'

const require = createRequire(import.meta.url)
const uploadedFiles = require('../uploads.js')
const { adapterOptions, checkUploads, multerUpload } = require('../upload-check.js')

/** The HttpException for a check's answer. */
const exception = (answer) => new HttpException(answer.body, answer.status, { cause: answer.error })

export class ClamavValidator extends FileValidator {
  #scanOptions

  /** `options`: the scan options (connection options, maxFileSize, timeout…). */
  constructor(options) {
    const { scanOptions } = adapterOptions(options)
    super(scanOptions)
    this.#scanOptions = scanOptions
  }

  async isValid(file) {
    const files = Array.isArray(file) ? file : [file]
    const { answer } = await checkUploads(files.map((entry) => multerUpload(entry, this.#scanOptions)))
    if (answer) throw exception(answer)
    return true
  }

  buildErrorMessage() {
    return 'File could not be scanned'
  }
}

export class ClamavInterceptor {
  #scanOptions

  constructor(options) {
    this.#scanOptions = adapterOptions(options).scanOptions
  }

  async intercept(context, next) {
    const request = context.switchToHttp().getRequest()
    const files = uploadedFiles(request)
    if (files.length > 0) {
      const { pompelmi, answer } = await checkUploads(files.map((entry) => multerUpload(entry, this.#scanOptions)))
      request.pompelmi = pompelmi
      if (answer) throw exception(answer)
    }
    return next.handle()
  }
}
