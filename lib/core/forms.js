'use strict'
// scanFormData / inspectFormData: every File entry of a FormData (what `request.formData()` gives
// in Next.js, Hono, Bun and Deno), each scanned as a Blob. Loaded on first use.

const { Verdict } = require('./verdict.js')
const errors = require('./errors.js')

/** Malicious over ScanError over Clean; a form without files is Clean. */
function worstVerdict(files) {
  if (files.some((f) => f.report.verdict === Verdict.Malicious)) return Verdict.Malicious
  if (files.some((f) => f.report.verdict !== Verdict.Clean)) return Verdict.ScanError
  return Verdict.Clean
}

/** A file whose scan failed (clamd down, a timeout, an abort): a ScanError with the error's code. */
function failedReport(err) {
  return {
    verdict: Verdict.ScanError,
    viruses: [],
    reply: '',
    reason: (err && err.code) || 'scan-failed',
    limit: null,
    endpoint: (err && err.endpoint) || null,
    bytes: 0,
    durationMs: 0,
  }
}

/**
 * `{ verdict, files: [{ field, name, type, size, report }] }` for every File of `formData`,
 * scanned at once through `inspectBlob(file)`. Only a `formData` that is not a FormData rejects.
 */
async function scanForm(formData, inspectBlob) {
  if (typeof FormData !== 'function' || !(formData instanceof FormData)) throw errors.notAFormData()
  const entries = []
  for (const [field, value] of formData) if (typeof value !== 'string') entries.push([field, value])
  const files = await Promise.all(
    entries.map(async ([field, file]) => ({
      field,
      name: file.name,
      type: file.type,
      size: file.size,
      report: await inspectBlob(file).catch(failedReport),
    })),
  )
  return { verdict: worstVerdict(files), files }
}

module.exports = { scanForm }
