'use strict'
// Scans a clean file and the EICAR test file with scan, scanBuffer and scanStream, the web shapes
// (a Uint8Array, a web ReadableStream, a File) and the scanning tee, over TCP, the UNIX socket and
// local clamscan, against the private clamd started by scripts/demo.sh.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { scan, scanBuffer, scanStream, scanBlob, passthrough } = require('..')

const root = path.join(__dirname, '..')
const env = Object.fromEntries(
  execFileSync('bash', [path.join(__dirname, 'clamd.sh'), 'env', 'main'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.split('=')),
)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-demo-'))
const samples = {
  'clean.txt': path.join(root, 'testdata', 'clean.txt'),
  'eicar.com': path.join(dir, 'eicar.com'),
}
// The EICAR test string, assembled here so that no file in the repository trips a scanner.
fs.writeFileSync(samples['eicar.com'], 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')

const modes = {
  tcp: { host: '127.0.0.1', port: Number(env.CLAMD_PORT) },
  unix: { socket: env.CLAMD_SOCKET },
  local: { database: path.join(root, 'testdata', 'signatures') },
}
const calls = {
  scan: (file, opts) => scan(file, opts),
  scanBuffer: (file, opts) => scanBuffer(fs.readFileSync(file), opts),
  scanStream: (file, opts) => scanStream(fs.createReadStream(file), opts),
  'scanBuffer(Uint8Array)': (file, opts) => scanBuffer(new Uint8Array(fs.readFileSync(file)), opts),
  'scanStream(web stream)': (file, opts) => scanStream(new Blob([fs.readFileSync(file)]).stream(), opts),
  'scanBlob(File)': async (file, opts) => scanBlob(await fs.openAsBlob(file), opts),
  'passthrough() tee': teeVerdict,
}

/** The scanning tee in a pipeline: Clean lets the end through; anything else fails it with the report. */
async function teeVerdict(file, opts) {
  const tee = passthrough(opts)
  const discard = new Writable({ write: (_chunk, _enc, done) => done() })
  try {
    await pipeline(fs.createReadStream(file), tee, discard)
  } catch (err) {
    if (!err.report) throw err
  }
  return (await tee.report).verdict
}

async function main() {
  console.log(`clamd: tcp://127.0.0.1:${env.CLAMD_PORT} and unix:${env.CLAMD_SOCKET}; local: clamscan\n`)
  const rows = []
  for (const [mode, opts] of Object.entries(modes)) {
    for (const [fn, call] of Object.entries(calls)) {
      for (const [name, file] of Object.entries(samples)) {
        const started = process.hrtime.bigint()
        const verdict = await call(file, opts)
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        rows.push({ mode, function: fn, file: name, verdict: verdict.description, ms: ms.toFixed(1) })
      }
    }
  }
  console.table(rows)
  fs.rmSync(dir, { recursive: true, force: true })
  const wrong = rows.filter((r) => (r.file === 'clean.txt') !== (r.verdict === 'Clean'))
  if (wrong.length) {
    console.error('unexpected verdicts:', wrong)
    process.exit(1)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
