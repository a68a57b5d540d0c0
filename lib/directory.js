'use strict'
// scanDirectory and scanDirectory.stream: every regular file below a directory, scanned with
// bounded concurrency; files that cannot be stat'ed (broken links, link loops) land in `errors`.

const fs = require('node:fs')
const { walk, walkedTarget } = require('./core/walk.js')
const errors = require('./core/errors.js')
const { invalidOption } = errors
const { inspect } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { resolveTarget, nonNegative, own, WALKED } = require('./core/options.js')

/**
 * The files to scan, each as `{ file, target, walked }` (`target`: the path named to the
 * scanner; `walked`: how it is opened, below the walk's root without following any link, and
 * which inode it must be), and what cannot be scanned, with reasons.
 */
async function listFiles(dirPath, options) {
  if (typeof dirPath !== 'string') throw errors.notAString('dirPath')
  if (!fs.existsSync(dirPath)) throw errors.directoryNotFound(dirPath)
  const { root, files, problems } = await walk(dirPath, { followSymlinks: options.followSymlinks === true })
  return { files: files.map((f) => ({ file: f.path, target: f.real || f.path, walked: walkedTarget(root, f) })), unreadable: problems }
}

/** Resolves `{ report }` or `{ error }`: one file's scan never rejects the walk. */
function scanOne({ target, walked }, options) {
  const { followSymlinks: _f, concurrency: _c, ...rest } = options
  return inspect(target, { ...rest, [WALKED]: walked }).then(
    (report) => ({ report }),
    (error) => ({ error }),
  )
}

/** The options, own properties only, checked before anything is walked. */
function resolve(options) {
  const opts = own(options)
  const local = resolveTarget(opts).local
  // Each clamscan loads the whole database: one at a time by default.
  const concurrency = nonNegative(opts, 'concurrency', local ? 1 : 8, { integer: true, min: 1 })
  if (opts.followSymlinks !== undefined && typeof opts.followSymlinks !== 'boolean') {
    throw invalidOption('followSymlinks', 'a boolean', opts.followSymlinks)
  }
  return { opts, concurrency }
}

function sort(summary, file, verdict) {
  if (verdict === Verdict.Clean) summary.clean.push(file)
  else if (verdict === Verdict.Malicious) summary.malicious.push(file)
  else summary.errors.push(file)
}

/** Files that could not be walked land in `errors`, with their reason in `reasons`. */
function addProblems(summary, problems) {
  for (const { path, reason } of problems) {
    summary.errors.push(path)
    summary.reasons[path] = reason
  }
}

// pompelmi 1.x's shape exactly; `reasons` (path → why it could not be walked) is an addition
// that stays out of JSON and deepEqual.
const newSummary = () => Object.defineProperty({ clean: [], malicious: [], errors: [] }, 'reasons', { value: {} })

const verdictOf = ({ report }) => (report ? report.verdict : null)

async function scanDirectory(dirPath, options) {
  const { opts, concurrency } = resolve(options)
  const { files, unreadable } = await listFiles(dirPath, opts)
  const verdicts = Array.from({ length: files.length })
  let next = 0
  async function worker() {
    while (next < files.length) {
      const i = next++
      verdicts[i] = verdictOf(await scanOne(files[i], opts))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker))
  const summary = newSummary()
  files.forEach((f, i) => sort(summary, f.file, verdicts[i]))
  addProblems(summary, unreadable)
  return summary
}

/**
 * Scans `concurrency` files at once, like scanDirectory, and yields each file's progress and
 * result as its scan completes (so in completion order). A new scan starts only when the
 * consumer asks for more: a slow consumer holds the walk back. Each result also carries the
 * file's `report` (as `inspect` gives it) or the `error` its scan rejected with (for a file that
 * could not be walked: `reason`).
 */
scanDirectory.stream = async function* stream(dirPath, options) {
  const { opts, concurrency } = resolve(options)
  const { files, unreadable } = await listFiles(dirPath, opts)
  const total = files.length + unreadable.length
  const summary = newSummary()
  const inFlight = new Map()
  let next = 0
  let scanned = 0
  while (next < files.length || inFlight.size) {
    while (next < files.length && inFlight.size < concurrency) {
      const entry = files[next++]
      const file = entry.file
      inFlight.set(file, scanOne(entry, opts).then((result) => ({ file, ...result })))
    }
    const { file, report, error } = await Promise.race(inFlight.values())
    inFlight.delete(file)
    const verdict = verdictOf({ report })
    sort(summary, file, verdict)
    yield { type: 'progress', scanned: ++scanned, total, file }
    yield { type: 'result', file, verdict, report: report ?? null, error: error ?? null }
  }
  for (const problem of unreadable) {
    const file = problem.path
    addProblems(summary, [problem])
    yield { type: 'progress', scanned: ++scanned, total, file }
    yield { type: 'result', file, verdict: null, report: null, error: null, reason: problem.reason }
  }
  yield { type: 'complete', summary }
}

module.exports = scanDirectory
