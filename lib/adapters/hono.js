'use strict'
// pompelmi/hono: middleware that scans every File part of `c.req.parseBody({ all: true })` (Hono
// caches the parsed body, so the handler can read it again), on Node, Bun and Deno. Malicious →
// 403, a ScanError or a failed scan → 422 (fail closed), the Express middleware's bodies; all
// Clean → c.set('pompelmi', { verdict, files: [{ fieldname, originalname, report }] }), then next().
// `pompelmiMiddleware({ field, onInfected })` are the names of pompelmi's Hono adapter.

const { FORM_TYPE, adapterOptions, checkUploads, blobUploads } = require('../upload-check.js')

/**
 * `pompelmiMiddleware(options)`: the scan options; `field` (listed first); `onInfected(c, report)`
 * answers a Malicious request instead of the 403; `onScanError: 'next'` throws the 422 as an
 * HTTPException (its `cause` the scan's error) to Hono's error handling instead of answering it.
 */
function pompelmiMiddleware(options) {
  const { onScanError, scanOptions, adapter } = adapterOptions(options, ['field', 'onInfected'])
  const { field, onInfected } = adapter
  return async function pompelmi(c, next) {
    if (!FORM_TYPE.test(c.req.header('content-type') || '')) return next()
    let body
    try {
      body = await c.req.parseBody({ all: true })
    } catch (error) {
      // A body that does not parse cannot be shown clean.
      return c.json({ error: 'File could not be scanned', reason: error.code || 'ERR_INVALID_FORM' }, 422)
    }
    const pairs = Object.entries(body).flatMap(([key, value]) => [].concat(value).map((v) => [key, v]))
    const uploads = blobUploads(pairs, scanOptions, field)
    if (uploads.length === 0) return next()
    const { pompelmi: report, answer } = await checkUploads(uploads)
    c.set('pompelmi', report)
    if (!answer) return next()
    if (answer.status === 403 && onInfected) return onInfected(c, report)
    if (answer.status === 422 && onScanError === 'next') {
      const { HTTPException } = require('hono/http-exception')
      throw new HTTPException(422, { message: answer.error.message, cause: answer.error })
    }
    return c.json(answer.body, answer.status)
  }
}

// Assigned one by one: the form every CommonJS named-export detector reads (Node's, Deno's, Bun's).
exports.pompelmiMiddleware = pompelmiMiddleware
exports.pompelmi = pompelmiMiddleware
