'use strict'
// pompelmi/testing: mock scanners for an application's own tests, with the package's surface and
// its own Verdict symbols, that never need clamd. As in pompelmi's @pompelmi/testing:
// createMockScanner({ verdict, byName, byContent }), mockClean(), mockInfected(virusName),
// mockScanError(reason). Each mock records its calls in `calls`.

const fs = require('node:fs')
const path = require('node:path')

const { Verdict } = require('../core/verdict.js')
const { BUFFER, STREAM, BLOB, checkInput, openStream, chunkBytes, assertFile } = require('../core/inputs.js')
const { scanForm } = require('../core/forms.js')
const { invalidOption } = require('../core/errors.js')
const { middlewareWith } = require('../middleware.js')

const VERDICTS = new Set(Object.values(Verdict))
const DEFAULT_VIRUS = 'Mock-Test-Signature'

function verdictOption(name, value) {
  if (!VERDICTS.has(value)) throw invalidOption(name, 'a Verdict (Verdict.Clean, .Malicious or .ScanError)', value)
  return value
}

/** All of a checked stream source's bytes (mocks read what they are given, as a scan would). */
async function readAll(source) {
  const { stream, release } = openStream(source)
  const chunks = []
  try {
    for await (const chunk of stream) chunks.push(chunkBytes(chunk, stream))
  } finally {
    release()
  }
  return Buffer.concat(chunks)
}

/**
 * A mock scanner. `verdict` (default Clean) is what every scan gives unless `byName` (an object
 * from file name to Verdict, or a function of the name) or `byContent` (a function of the bytes)
 * returns a Verdict for it: `byName` first, then `byContent`. `virusName` names a Malicious
 * report's virus, `reason` a ScanError's. Inputs are checked like the real functions' (same
 * messages and codes). `calls` lists `{ fn, name, bytes }`.
 */
function createMockScanner(options = {}) {
  const { verdict = Verdict.Clean, byName, byContent, virusName = DEFAULT_VIRUS, reason = 'clamd-error' } = options
  verdictOption('verdict', verdict)
  if (byName !== undefined && typeof byName !== 'function' && (byName === null || typeof byName !== 'object')) throw invalidOption('byName', 'an object or a function', byName)
  if (byContent !== undefined && typeof byContent !== 'function') throw invalidOption('byContent', 'a function', byContent)
  const calls = []

  function decide(bytes, name) {
    const named = name === undefined || byName === undefined ? undefined : typeof byName === 'function' ? byName(name) : Object.hasOwn(byName, name) ? byName[name] : undefined
    if (named !== undefined) return verdictOption(`byName(${JSON.stringify(name)})`, named)
    const found = byContent === undefined ? undefined : byContent(bytes)
    if (found !== undefined) return verdictOption('byContent()', found)
    return verdict
  }

  function report(fn, bytes, name) {
    calls.push({ fn, name, bytes: bytes.length })
    const v = decide(bytes, name)
    return {
      verdict: v,
      viruses: v === Verdict.Malicious ? [virusName] : [],
      reply: v === Verdict.Clean ? 'stream: OK' : v === Verdict.Malicious ? `stream: ${virusName} FOUND` : `${reason} ERROR`,
      reason: v === Verdict.ScanError ? reason : null,
      limit: null,
      endpoint: 'mock',
      bytes: bytes.length,
      durationMs: 0,
    }
  }

  // `name`: the upload's name when the middleware scans a multer file (its path is a random one).
  const inspectors = {
    async inspect(filePath, _options, name = typeof filePath === 'string' ? path.basename(filePath) : undefined) {
      await assertFile(filePath)
      return report('inspect', await fs.promises.readFile(filePath), name)
    },
    async inspectBuffer(buffer, _options, name) {
      return report('inspectBuffer', checkInput(BUFFER, buffer), name)
    },
    async inspectStream(stream, _options, name) {
      return report('inspectStream', await readAll(checkInput(STREAM, stream)), name)
    },
    async inspectBlob(blob) {
      const checked = checkInput(BLOB, blob)
      return report('inspectBlob', await readAll(checked), checked.name)
    },
    inspectFormData(formData) {
      return scanForm(formData, (file) => inspectors.inspectBlob(file))
    },
  }
  const verdictOf = (inspectFn) => async (input) => (await inspectFn(input)).verdict
  return {
    ...inspectors,
    scan: verdictOf(inspectors.inspect),
    scanBuffer: verdictOf(inspectors.inspectBuffer),
    scanStream: verdictOf(inspectors.inspectStream),
    scanBlob: verdictOf(inspectors.inspectBlob),
    scanFormData: inspectors.inspectFormData,
    /** The Express middleware (same options, answers and `req.pompelmi`), over this mock. */
    middleware: middlewareWith(inspectors),
    Verdict,
    calls,
  }
}

const mockClean = () => createMockScanner({ verdict: Verdict.Clean })
const mockInfected = (virusName = DEFAULT_VIRUS) => createMockScanner({ verdict: Verdict.Malicious, virusName })
const mockScanError = (reason = 'clamd-error') => createMockScanner({ verdict: Verdict.ScanError, reason })

exports.createMockScanner = createMockScanner
exports.mockClean = mockClean
exports.mockInfected = mockInfected
exports.mockScanError = mockScanError
exports.Verdict = Verdict
