'use strict'
// pompelmi/multer: a multer StorageEngine that scans each file while writing it to disk, through
// the scanning tee. A file is written under a temporary name next to its destination and renamed
// to its final path only once clamd has said Clean. A Malicious or failed file is removed, the
// request's other stored files are removed by multer (through `_removeFile`), and the request
// fails through `next(err)` with a MaliciousUploadError (status 403) or a ScanFailedError (422).
// multer itself is not required: this is the storage interface it calls.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pipeline } = require('node:stream/promises')

const { passthrough } = require('../core/shared.js')
const { own, resolveTarget } = require('../core/options.js')
const { invalidOption } = require('../core/errors.js')

const randomName = () => crypto.randomBytes(16).toString('hex')

/** multer's `destination`/`filename` options: a value, or a `(req, file, cb)` function. */
function pick(option, req, file, fallback) {
  if (option === undefined) return Promise.resolve(fallback())
  if (typeof option !== 'function') return Promise.resolve(option)
  return new Promise((resolve, reject) => option(req, file, (err, value) => (err ? reject(err) : resolve(value))))
}

class ScanningStorage {
  #destination
  #filename
  #scanOptions

  constructor(destination, filename, scanOptions) {
    this.#destination = destination
    this.#filename = filename
    this.#scanOptions = scanOptions
  }

  _handleFile(req, file, cb) {
    this.#store(req, file).then((info) => cb(null, info), cb)
  }

  _removeFile(_req, file, cb) {
    if (!file.path) return cb(null)
    fs.rm(file.path, { force: true }, (err) => cb(err || null))
  }

  async #store(req, file) {
    const destination = await pick(this.#destination, req, file, os.tmpdir)
    const filename = await pick(this.#filename, req, file, randomName)
    // A string destination is created, as multer's diskStorage does.
    if (typeof this.#destination === 'string') await fs.promises.mkdir(destination, { recursive: true })
    const finalPath = path.join(destination, filename)
    const partial = path.join(destination, `.${filename}.${randomName().slice(0, 12)}.partial`)
    const tee = passthrough(this.#scanOptions)
    const out = fs.createWriteStream(partial, { flags: 'wx' })
    try {
      await pipeline(file.stream, tee, out)
    } catch (err) {
      await fs.promises.rm(partial, { force: true })
      // multer's own errors name the field the same way.
      if (err && typeof err === 'object' && err.field === undefined) err.field = file.fieldname
      throw err
    }
    await fs.promises.rename(partial, finalPath)
    return { destination, filename, path: finalPath, size: out.bytesWritten, pompelmi: await tee.report }
  }
}

/**
 * `scanningStorage({ destination, filename, ...scanOptions })`: `destination` (a directory, or
 * multer's `(req, file, cb)`; default the OS temp directory) and `filename` (multer's function;
 * default 32 random hex characters) as in multer's diskStorage; every other option is a scan
 * option (socket, host, port, maxFileSize, timeout, signal…). Bad options throw here.
 */
function scanningStorage(options) {
  const { destination, filename, ...scanOptions } = own(options)
  if (destination !== undefined && typeof destination !== 'string' && typeof destination !== 'function') {
    throw invalidOption('destination', 'a directory path or a function', destination)
  }
  if (filename !== undefined && typeof filename !== 'function') throw invalidOption('filename', 'a function', filename)
  resolveTarget(scanOptions)
  return new ScanningStorage(destination, filename, scanOptions)
}

exports.scanningStorage = scanningStorage
