'use strict'
// pompelmi/next: Next.js App Router route handlers. `withScan(handler, options)` returns a route
// handler `(request, context)` that reads `await request.formData()`, scans every File, answers
// 403 (Malicious) or 422 (a ScanError, a failed scan, a body that is not a form) itself with the
// Express middleware's bodies, and otherwise calls `handler(request, context, { formData,
// pompelmi })` and returns the handler's own Response. Needs the Node.js runtime
// (`export const runtime = 'nodejs'`) and `serverExternalPackages: ['pompelmi']`: a native addon
// cannot be bundled, and the Edge runtime has no sockets. `formData()` buffers the whole body:
// put a body-size limit in front of it.

const { Verdict } = require('../core/verdict.js')
const { FORM_TYPE, adapterOptions, checkUploads, blobUploads } = require('../upload-check.js')

const NO_FILES = Object.freeze({ verdict: Verdict.Clean, files: Object.freeze([]) })

/**
 * `withScan(handler, options)`: the scan options; `onScanError: 'next'` throws the 422 error (Next
 * answers 500) instead of answering it. A request without a body (GET, HEAD) goes to the handler
 * with `formData: null`.
 */
function withScan(handler, options) {
  if (typeof handler !== 'function') throw Object.assign(new TypeError('withScan(handler, options): handler must be a function'), { code: 'ERR_INVALID_ARG_TYPE' })
  const { onScanError, scanOptions } = adapterOptions(options)
  return async function pompelmiRoute(request, context) {
    if (request.method === 'GET' || request.method === 'HEAD') return handler(request, context, { formData: null, pompelmi: NO_FILES })
    let formData
    try {
      if (!FORM_TYPE.test(request.headers.get('content-type') || '')) throw Object.assign(new Error('not a form'), { code: 'ERR_INVALID_FORM' })
      formData = await request.formData()
    } catch (error) {
      // A body that is not a form cannot be shown clean.
      return Response.json({ error: 'File could not be scanned', reason: error.code || 'ERR_INVALID_FORM' }, { status: 422 })
    }
    const { pompelmi, answer } = await checkUploads(blobUploads(formData, scanOptions))
    if (answer) {
      if (answer.status === 422 && onScanError === 'next') throw answer.error
      return Response.json(answer.body, { status: answer.status })
    }
    return handler(request, context, { formData, pompelmi })
  }
}

// The names of pompelmi's @pompelmi/next adapter, for a switch by changing the import.
exports.withScan = withScan
exports.withPompelmi = withScan
exports.withPompelmiHandler = withScan
