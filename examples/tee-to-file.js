'use strict'
// Scan while storing to disk with the scanning tee: the upload is written to a temporary name
// next to its destination as it arrives, and renamed to the final path only once clamd has said
// Clean. Anything else (Malicious, ScanError, clamd down, an abort) rejects, and the partial file
// is removed: the final path never holds an unscanned or infected file.
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { pipeline } = require('node:stream/promises')
const { passthrough } = require(process.env.POMPELMI_MODULE || 'pompelmi')

async function storeScanned(source, finalPath, clamd) {
  const partial = path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${crypto.randomBytes(6).toString('hex')}.partial`)
  const tee = passthrough(clamd)
  try {
    await pipeline(source, tee, fs.createWriteStream(partial, { flags: 'wx' }))
    await fs.promises.rename(partial, finalPath)
    return tee.report
  } catch (err) {
    await fs.promises.rm(partial, { force: true })
    throw err // err.code: ERR_MALICIOUS_UPLOAD or ERR_SCAN_FAILED (err.report, err.cause), or the source's or disk's own error
  }
}

module.exports = { storeScanned }
