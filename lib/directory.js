'use strict'
// scanDirectory and scanDirectory.stream: every regular file below a directory, scanned with
// bounded concurrency; files that cannot be stat'ed (broken links, link loops) land in `errors`.

const fs = require('node:fs')
const path = require('node:path')

module.exports = function directory({ scan, Verdict, resolveTarget, nonNegative }) {
  async function listFiles(dirPath) {
    if (typeof dirPath !== 'string') throw new Error('dirPath must be a string')
    if (!fs.existsSync(dirPath)) throw new Error(`Directory not found: ${dirPath}`)
    const entries = await fs.promises.readdir(dirPath, { recursive: true })
    const files = []
    const unreadable = []
    for (const entry of entries.sort()) {
      const p = path.join(dirPath, entry)
      try {
        if ((await fs.promises.stat(p)).isFile()) files.push(p)
      } catch {
        unreadable.push(p)
      }
    }
    return { files, unreadable }
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

  async function scanDirectory(dirPath, options) {
    const { files, unreadable } = await listFiles(dirPath)
    const concurrency = concurrencyOf(options)
    const verdicts = new Array(files.length)
    let next = 0
    async function worker() {
      while (next < files.length) {
        const i = next++
        verdicts[i] = await scan(files[i], options).catch(() => null)
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker))
    const summary = { clean: [], malicious: [], errors: [] }
    files.forEach((file, i) => sort(summary, file, verdicts[i]))
    summary.errors.push(...unreadable)
    return summary
  }

  /**
   * Scans `concurrency` files at once, like scanDirectory, and yields each file's progress and
   * result as its scan completes (so in completion order). A new scan starts only when the
   * consumer asks for more: a slow consumer holds the walk back.
   */
  scanDirectory.stream = async function* stream(dirPath, options) {
    const { files, unreadable } = await listFiles(dirPath)
    const concurrency = concurrencyOf(options)
    const total = files.length + unreadable.length
    const summary = { clean: [], malicious: [], errors: [] }
    const inFlight = new Map()
    let next = 0
    let scanned = 0
    while (next < files.length || inFlight.size) {
      while (next < files.length && inFlight.size < concurrency) {
        const file = files[next++]
        const done = scan(file, options).then(
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
    for (const file of unreadable) {
      sort(summary, file, null)
      yield { type: 'progress', scanned: ++scanned, total, file }
      yield { type: 'result', file, verdict: null }
    }
    yield { type: 'complete', summary }
  }

  return scanDirectory
}
