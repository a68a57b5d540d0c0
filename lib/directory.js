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

  scanDirectory.stream = async function* stream(dirPath, options) {
    const { files, unreadable } = await listFiles(dirPath)
    const total = files.length + unreadable.length
    const summary = { clean: [], malicious: [], errors: [] }
    let scanned = 0
    for (const [file, readable] of [...files.map((f) => [f, true]), ...unreadable.map((f) => [f, false])]) {
      yield { type: 'progress', scanned: ++scanned, total, file }
      const verdict = readable ? await scan(file, options).catch(() => null) : null
      sort(summary, file, verdict)
      yield { type: 'result', file, verdict }
    }
    yield { type: 'complete', summary }
  }

  return scanDirectory
}
