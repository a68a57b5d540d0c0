'use strict'
// One contender scans a generated stream of N MiB; prints { growthMiB, verdict, seconds }.
// Runs in a child process of bench.js, so that each contender starts from a clean heap.
// Contenders: this package's scanStream, its scanning tee piped into a file, the pure-JS client.
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Readable } = require('node:stream')
const { pipeline } = require('node:stream/promises')

const [contender, transport, mb] = process.argv.slice(2)
const opts = transport === 'unix' ? { socket: process.env.CLAMD_SOCKET } : { host: '127.0.0.1', port: Number(process.env.CLAMD_PORT) }
// The guard off: the whole stream goes to clamd, as with the pure-JS client (like for like).
const ours = { ...opts, timeout: 120000, maxFileSize: 0 }

/** The tee into a file: every byte written to disk and scanned; the file removed afterwards. */
async function teeToFile(source) {
  const tee = require('..').passthrough(ours)
  const out = path.join(os.tmpdir(), `pompelmi-bench-tee-${process.pid}`)
  try {
    await pipeline(source, tee, fs.createWriteStream(out))
    return (await tee.report).verdict.description
  } finally {
    fs.rmSync(out, { force: true })
  }
}

const scanners = {
  'pompelmi (native)': (s) => require('..').scanStream(s, ours).then((v) => v.description),
  'pompelmi tee → file': teeToFile,
  'pure-JS, 1.x style': (s) => require('./pompelmi1x.js').scanStream(s, { ...opts, timeout: 120000 }),
}
const scanStream = scanners[contender]

function generated(totalMiB) {
  // Unique content without the cost of random bytes per chunk: a random block, counter-stamped.
  const block = crypto.randomBytes(64 * 1024)
  let sent = 0
  const total = totalMiB * 16
  return new Readable({
    read() {
      if (sent === total) return this.push(null)
      const chunk = Buffer.from(block)
      chunk.writeUInt32BE(sent++, 0)
      this.push(chunk)
    },
  })
}

async function main() {
  await scanStream(generated(1)) // warm up: load the addon, open a session
  global.gc?.()
  const base = process.memoryUsage().rss
  let peak = base
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
  const started = Date.now()
  const verdict = await scanStream(generated(Number(mb)))
  // Only a scan of every byte counts: a limit reply (ScanError) would be a measure of nothing.
  if (verdict !== 'Clean') throw new Error(`${contender}: ${verdict}, not Clean: clamd did not scan the whole stream`)
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  console.log(JSON.stringify({ growthMiB: (peak - base) / 2 ** 20, verdict, seconds: (Date.now() - started) / 1000 }))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
