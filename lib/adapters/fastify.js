'use strict'
// pompelmi/fastify: a Fastify 5 plugin (fastify-plugin), registered after @fastify/multipart:
//   app.register(require('@fastify/multipart'), { attachFieldsToBody: true })
//   app.register(require('pompelmi/fastify'), { socket: '/run/clamav/clamd.ctl' })
// - Buffered parts (attachFieldsToBody) are scanned by a preHandler hook before the route runs.
// - Streamed parts: `onFile(options)` is a handler for @fastify/multipart's `onFile` option that
//   scans each part as it arrives through the scanning tee (and can store it as it goes); the same
//   hook answers once every part is known.
// - `request.saveRequestFiles()` resolves only after every saved file is scanned Clean, and
//   rejects with the 403/422 error otherwise.
// Malicious → 403, a ScanError or a failed scan → 422 (fail closed), the Express middleware's
// bodies; all Clean → request.pompelmi = { verdict, files: [{ fieldname, originalname, report }] }.
// `fastify.pompelmi` has `scan`, `scanBuffer`, `scanStream` (with the plugin's options) and
// `preHandler({ field, onMalicious })`, the names of pompelmi's @fastify adapter.

const fp = require('fastify-plugin')
const { Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')

const shared = require('../core/shared.js')
const { adapterOptions, checkUploads } = require('../upload-check.js')

/** Parts scanned by onFile, per request. */
const STREAMED = Symbol('pompelmi.streamedParts')
/** Marks the route-level preHandler, so that the plugin-wide hook leaves its routes to it. */
const ROUTE_SCAN = Symbol('pompelmi.routeScan')

/** Every file part of a body @fastify/multipart attached (arrays for repeated fields), `field` first. */
function bodyFiles(body, field, streamed) {
  if (!body || typeof body !== 'object') return []
  const files = []
  const keys = Object.keys(body)
  if (field !== undefined) keys.sort((a, b) => (a === field ? -1 : b === field ? 1 : 0))
  for (const key of keys) {
    for (const part of [].concat(body[key])) {
      if (part && typeof part === 'object' && part.type === 'file' && !streamed.has(part)) files.push(part)
    }
  }
  return files
}

/** The uploads of a request: its buffered parts, and what onFile scanned as it streamed. */
function requestUploads(request, scanOptions, field) {
  const streamed = request[STREAMED] || []
  const handled = new Set(streamed.map((s) => s.part))
  const buffered = bodyFiles(request.body, field, handled).map((part) => ({
    fieldname: part.fieldname,
    originalname: part.filename,
    async scan() {
      const bytes = await part.toBuffer()
      // An empty file is still asked about (as an empty stream: scanBuffer refuses it).
      return bytes.length ? shared.inspectBuffer(bytes, scanOptions) : shared.inspectStream([], scanOptions)
    },
  }))
  return [...buffered, ...streamed.map((s) => s.upload)]
}

async function pompelmiPlugin(fastify, options) {
  const { onScanError, scanOptions } = adapterOptions(options)

  /** Checks the request; answers (or throws, with onScanError 'next') unless every file is Clean. */
  async function check(request, reply, { field, onMalicious } = {}) {
    const uploads = requestUploads(request, scanOptions, field)
    if (uploads.length === 0) return
    const { pompelmi, answer } = await checkUploads(uploads)
    request.pompelmi = pompelmi
    if (!answer) return
    if (answer.status === 403 && onMalicious) return onMalicious(request, reply, pompelmi)
    if (answer.status === 422 && onScanError === 'next') throw answer.error
    return reply.code(answer.status).send(answer.body)
  }

  fastify.decorateRequest('pompelmi', null)
  fastify.decorate('pompelmi', {
    scan: (filePath, opts) => shared.scan(filePath, { ...scanOptions, ...opts }),
    scanBuffer: (buffer, opts) => shared.scanBuffer(buffer, { ...scanOptions, ...opts }),
    scanStream: (stream, opts) => shared.scanStream(stream, { ...scanOptions, ...opts }),
    /** A route-level preHandler: every file (`field` first), `onMalicious(request, reply, report)` instead of the 403. */
    preHandler({ field, onMalicious } = {}) {
      const handler = (request, reply) => check(request, reply, { field, onMalicious })
      handler[ROUTE_SCAN] = true
      return handler
    },
  })

  fastify.addHook('onRoute', (route) => {
    if ([].concat(route.preHandler || []).some((h) => h && h[ROUTE_SCAN])) route.config = { ...route.config, pompelmiRouteScan: true }
  })

  fastify.addHook('onRequest', async (request) => {
    const save = request.saveRequestFiles
    if (typeof save !== 'function') return
    // Saved files are scanned before the route sees them: Clean, or the 403/422 error.
    request.saveRequestFiles = async function saveScannedRequestFiles(...args) {
      const saved = await save.apply(this, args)
      // @fastify/multipart 10 resolves { files, values }; 9 resolved the array of files.
      const files = Array.isArray(saved) ? saved : saved.files
      const { pompelmi, answer } = await checkUploads(
        files.map((f) => ({ fieldname: f.fieldname, originalname: f.filename, scan: () => shared.inspect(f.filepath, scanOptions) })),
      )
      request.pompelmi = pompelmi
      if (answer) {
        answer.error.body = answer.body
        throw answer.error
      }
      return saved
    }
  })

  fastify.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config && request.routeOptions.config.pompelmiRouteScan) return
    return check(request, reply)
  })
}

/**
 * A handler for @fastify/multipart's `onFile` option: each part goes through the scanning tee as
 * it arrives. `store(part, tee, request)`, if given, consumes the tee (e.g. into a file it renames
 * on success): the tee holds back its end until clamd says Clean and fails otherwise. Without
 * `store` the bytes are only scanned. The plugin's hook answers once every part is known.
 */
function onFile(options) {
  const { scanOptions, adapter } = adapterOptions(options, ['store'])
  const { store } = adapter
  return async function pompelmiOnFile(part) {
    const request = this
    const tee = shared.passthrough(scanOptions)
    const consumed = store ? Promise.resolve(store(part, tee, request)) : pipeline(tee, new Writable({ write: (_c, _e, done) => done() }))
    // A tee whose scan failed (clamd down, an abort) rejects with ERR_SCAN_FAILED; the check
    // reports what caused it, as for every other upload.
    const scan = () => tee.report.catch((err) => Promise.reject(err.cause || err))
    ;(request[STREAMED] ||= []).push({ part, upload: { fieldname: part.fieldname, originalname: part.filename, scan } })
    // Failures are the hook's to answer, once all parts are in; the rest of the body is read on.
    await Promise.allSettled([pipeline(part.file, tee), consumed])
  }
}

module.exports = fp(pompelmiPlugin, { name: 'pompelmi', fastify: '5.x', dependencies: ['@fastify/multipart'] })
module.exports.onFile = onFile
