'use strict'
// scanDirectory and scanDirectory.stream: every regular file below a directory, scanned with
// bounded concurrency; files that cannot be stat'ed (broken links, link loops) land in `errors`.

const fs = require('node:fs')
const { walk } = require('./core/walk.js')
const inputErrors = require('./core/input-errors.js')
const { scan } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { resolveTarget, nonNegative, NOFOLLOW } = require('./core/options.js')

/**
 * The files to scan, each as `{ file, target }` (`target`: the path opened, without following
 * a symlink in its last component, so a file swapped for a link after the walk is refused),
 * and what cannot be scanned, with reasons.
 */
async function listFiles(dirPath, options) {
  if (typeof dirPath !== 'string') throw inputErrors.notAString('dirPath')
  if (!fs.existsSync(dirPath)) throw inputErrors.directoryNotFound(dirPath)
  const { files, problems } = await walk(dirPath, { followSymlinks: Boolean(options && options.followSymlinks) })
  return { files: files.map((f) => ({ file: f.path, target: f.real || f.path })), unreadable: problems }
}

function scanOne({ target }, options) {
  const { followSymlinks: _f, concurrency: _c, ...rest } = options || {}
  return scan(target, { ...rest, [NOFOLLOW]: true })
}

function concurrencyOf(options) {
  const fallback = resolveTarget(options).local ? 1 : 8 // each clamscan loads the whole database
  return Math.max(1, Math.floor(nonNegative(options || {}, 'concurrency', fallback)))
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

async function scanDirectory(dirPath, options) {
  const concurrency = concurrencyOf(options)
  const { files, unreadable } = await listFiles(dirPath, options)
  const verdicts = Array.from({ length: files.length })
  let next = 0
  async function worker() {
    while (next < files.length) {
      const i = next++
      verdicts[i] = await scanOne(files[i], options).catch(() => null)
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
 * consumer asks for more: a slow consumer holds the walk back.
 */
scanDirectory.stream = async function* stream(dirPath, options) {
  const concurrency = concurrencyOf(options)
  const { files, unreadable } = await listFiles(dirPath, options)
  const total = files.length + unreadable.length
  const summary = newSummary()
  const inFlight = new Map()
  let next = 0
  let scanned = 0
  while (next < files.length || inFlight.size) {
    while (next < files.length && inFlight.size < concurrency) {
      const entry = files[next++]
      const file = entry.file
      const done = scanOne(entry, options).then(
        (verdict) => ({ file, verdict }),
        () => ({ file, verdict: null }),
      )
      inFlight.set(file, done)
    }
    const { file, verdict } = await Promise.race(inFlight.values())
    inFlight.delete(file)
    sort(summary, file, verdict)
    yield { type: 'progress', scanned: ++scanned, total, file }
    yield { type: 'result', file, verdict }
  }
  for (const problem of unreadable) {
    const file = problem.path
    addProblems(summary, [problem])
    yield { type: 'progress', scanned: ++scanned, total, file }
    yield { type: 'result', file, verdict: null }
  }
  yield { type: 'complete', summary }
}

module.exports = scanDirectory
