'use strict'
// What can be scanned: the argument checks with pompelmi 1.x's messages, and stream chunks turned
// back into the bytes they were decoded from.

const fs = require('node:fs')
const util = require('node:util')
const inputErrors = require('./input-errors.js')

async function assertFile(filePath) {
  if (typeof filePath !== 'string') throw inputErrors.notAString('filePath')
  // pompelmi 1.x used existsSync: anything that cannot be stat'ed is "not found".
  try {
    return await fs.promises.stat(filePath)
  } catch {
    throw inputErrors.fileNotFound(filePath)
  }
}

function assertBuffer(buffer) {
  if (!Buffer.isBuffer(buffer)) throw inputErrors.notABuffer()
  if (buffer.length === 0) throw inputErrors.emptyBuffer()
}

/**
 * A Readable that can still give every byte it carries. One that was destroyed, has ended, or
 * was already read from (a body parser consumed the request) would scan as an empty or partial
 * upload and come back Clean: refused. A fresh stream that turns out empty is a valid scan.
 */
function assertReadable(stream) {
  // node:stream loads on the first stream call, not with the package (cold starts).
  const { Readable } = require('node:stream')
  if (!(stream instanceof Readable)) throw inputErrors.notAReadable()
  if (stream.readableEnded || stream.readableDidRead) throw inputErrors.streamConsumed()
  if (stream.destroyed || stream.readableAborted) throw inputErrors.streamDestroyed()
  if (Readable.isDisturbed(stream)) throw inputErrors.streamConsumed()
}

/**
 * The one synchronous check of what a call scans, at the public boundary: a path must be a
 * string (whether it exists is found when it is opened), a buffer a non-empty Buffer, a stream a
 * Readable that can still give every byte.
 */
function checkInput(kind, input) {
  if (kind === 'buffer') assertBuffer(input)
  else if (kind === 'stream') assertReadable(input)
  else if (typeof input !== 'string') throw inputErrors.notAString('filePath')
}

function chunkBytes(chunk, stream) {
  if (Buffer.isBuffer(chunk)) return chunk
  // Strings (setEncoding, object mode) are turned back into the bytes they were decoded from.
  if (typeof chunk === 'string') return Buffer.from(chunk, stream.readableEncoding || 'utf8')
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  const err = new TypeError(`stream must yield Buffer, Uint8Array or string chunks. Received ${util.inspect(chunk, { depth: 0 })}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  throw err
}

module.exports = { assertFile, assertBuffer, assertReadable, checkInput, chunkBytes }
