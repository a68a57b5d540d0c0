'use strict'
// What can be scanned, normalised once at the public boundary: the argument checks with pompelmi
// 1.x's messages, byte views turned into Buffers (no copy), every stream-like source (a web
// ReadableStream, an async or sync iterable of chunks, a Blob's slices) turned into one Node
// Readable that the backends read, and stream chunks turned back into the bytes they carry.

const fs = require('node:fs')
const util = require('node:util')
const errors = require('./errors.js')

/** The kinds of input a call scans. */
const FILE = 'file'
const BUFFER = 'buffer'
const STREAM = 'stream'
const BLOB = 'blob'

/** How much of a Blob is read at a time: never the whole of it. */
const BLOB_SLICE = 256 * 1024

async function assertFile(filePath) {
  if (typeof filePath !== 'string') throw errors.notAString('filePath')
  // pompelmi 1.x used existsSync: anything that cannot be stat'ed is "not found".
  try {
    return await fs.promises.stat(filePath)
  } catch {
    throw errors.fileNotFound(filePath)
  }
}

/** A Buffer over the same memory as any byte view or (Shared)ArrayBuffer; null for anything else. */
function asBuffer(input) {
  if (Buffer.isBuffer(input)) return input
  if (ArrayBuffer.isView(input)) return Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && input instanceof SharedArrayBuffer)) return Buffer.from(input)
  return null
}

function checkBuffer(input) {
  const buffer = asBuffer(input)
  if (buffer === null) throw errors.notABuffer()
  if (buffer.length === 0) throw errors.emptyBuffer()
  return buffer
}

const isWebStream = (input) => typeof ReadableStream === 'function' && input instanceof ReadableStream

/** An iterable that yields chunks: not a string or a byte view (those are payloads, not streams). */
function isChunkIterable(input) {
  if (input === null || typeof input !== 'object' || ArrayBuffer.isView(input)) return false
  return typeof input[Symbol.asyncIterator] === 'function' || typeof input[Symbol.iterator] === 'function'
}

/**
 * A source that can still give every byte it carries. One that was destroyed, has ended, or was
 * already read from (a body parser consumed the request, a web stream is locked to a reader)
 * would scan as an empty or partial upload and come back Clean: refused. A fresh source that
 * turns out empty is a valid scan.
 */
function checkStream(input) {
  // node:stream loads on the first stream call, not with the package (cold starts).
  const { Readable } = require('node:stream')
  if (input instanceof Readable) {
    if (input.readableEnded || input.readableDidRead) throw errors.streamConsumed()
    if (input.destroyed || input.readableAborted) throw errors.streamDestroyed()
    if (Readable.isDisturbed(input)) throw errors.streamConsumed()
    return input
  }
  if (isWebStream(input)) {
    if (input.locked || Readable.isDisturbed(input)) throw errors.streamConsumed()
    return input
  }
  if (isChunkIterable(input)) return input
  throw errors.notAReadable()
}

function checkBlob(input) {
  if (typeof Blob !== 'function' || !(input instanceof Blob)) throw errors.notABlob()
  return input
}

/**
 * The one check of what a call scans, at the public boundary; returns the input as the backends
 * take it. A path must be a string (whether it exists is found when it is opened), a buffer any
 * non-empty byte view, a stream a source that can still give every byte, a blob a Blob.
 */
function checkInput(kind, input) {
  if (kind === BUFFER) return checkBuffer(input)
  if (kind === STREAM) return checkStream(input)
  if (kind === BLOB) return checkBlob(input)
  if (typeof input !== 'string') throw errors.notAString('filePath')
  return input
}

/** A Blob's bytes, one slice at a time. */
async function* blobSlices(blob) {
  for (let offset = 0; offset < blob.size; offset += BLOB_SLICE) {
    yield Buffer.from(await blob.slice(offset, offset + BLOB_SLICE).arrayBuffer())
  }
}

/**
 * A checked stream source (or a Blob) as a Node Readable, and `release()`, called when the scan
 * is over. A Node Readable is the caller's: it is read, never destroyed. A wrapper is this
 * package's own: releasing it destroys it, which cancels a web stream (`reader.cancel()`) and
 * calls an iterator's `return()` when the scan stopped reading early (size guard, abort, error).
 */
function openStream(source) {
  const { Readable } = require('node:stream')
  if (source instanceof Readable) return { stream: source, release() {} }
  // One chunk read ahead at most: memory stays bounded by what clamd takes.
  const opts = { objectMode: true, highWaterMark: 1 }
  let stream
  if (isWebStream(source)) stream = Readable.fromWeb(source, opts)
  else if (source instanceof Blob) stream = Readable.from(blobSlices(source), opts)
  else stream = Readable.from(source, opts)
  return { stream, release: () => stream.destroy() }
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

module.exports = { FILE, BUFFER, STREAM, BLOB, assertFile, asBuffer, checkInput, openStream, chunkBytes }
