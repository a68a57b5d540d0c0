/// <reference types="node" />
// Types of pompelmi/multer: a multer StorageEngine that scans each file while storing it.
import type { Readable } from 'node:stream'
import pompelmi = require('../../index.js')

declare namespace multerAdapter {
  /** The file as multer hands it to a storage engine. */
  interface IncomingFile {
    fieldname: string
    originalname: string
    encoding: string
    mimetype: string
    stream: Readable
  }
  type Callback<T> = (error: Error | null, value: T) => void

  interface ScanningStorageOptions extends pompelmi.ScanOptions {
    /** The directory (created if missing), or multer's `(req, file, cb)`. Default: the OS temp directory. */
    destination?: string | ((req: any, file: IncomingFile, cb: Callback<string>) => void)
    /** multer's `(req, file, cb)`. Default: 32 random hex characters. */
    filename?: (req: any, file: IncomingFile, cb: Callback<string>) => void
  }

  /** What a stored file gets on `req.file` / `req.files`, besides multer's own fields. */
  interface StoredFile {
    destination: string
    filename: string
    path: string
    size: number
    /** The file's scan report (Clean: anything else is never stored). */
    pompelmi: pompelmi.ScanReport
  }

  /** multer's StorageEngine interface. */
  interface ScanningStorageEngine {
    _handleFile(req: any, file: IncomingFile, cb: (error?: any, info?: Partial<StoredFile>) => void): void
    _removeFile(req: any, file: IncomingFile & Partial<StoredFile>, cb: (error: Error | null) => void): void
  }

  /** A multer StorageEngine: `multer({ storage: scanningStorage({ destination, socket }) })`. */
  function scanningStorage(options?: ScanningStorageOptions | null): ScanningStorageEngine
}

export = multerAdapter
