'use strict'
// The CLI, run as a real process against the private clamd and the fakes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')

const { startClamd } = require('./helpers/clamd.js')
const { startFakeClamd, closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, CLEAN_FILE, tempDir, writeFile } = require('./helpers/samples.js')

const BIN = path.join(__dirname, '..', 'bin', 'pompelmi.js')
const clamd = startClamd('main')
const limited = startClamd('limit')

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('scan: exit 0 for clean, 1 for infected, with virus names', (t) => {
  const clean = cli('scan', CLEAN_FILE, '--port', String(clamd.port))
  assert.equal(clean.code, 0, clean.err)
  assert.match(clean.out, /clean {5}.*clean\.txt/)
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'fine')
  writeFile(dir, 'sub/eicar.com', EICAR)
  const bad = cli('scan', dir, '--socket', clamd.socket)
  assert.equal(bad.code, 1)
  assert.match(bad.out, /INFECTED {2}.*eicar\.com {2}\(Eicar-Test-Signature\.UNOFFICIAL\)/)
  assert.match(bad.out, /Scanned 2 file\(s\) in [\d.]+s: 1 clean, 1 infected, 0 error\(s\)/)
})

test('scan --json: counts, time and results with viruses', (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'fine')
  writeFile(dir, 'b.txt', EICAR)
  const r = cli('scan', dir, '--port', String(clamd.port), '--json', '--concurrency', '2')
  assert.equal(r.code, 1)
  const report = JSON.parse(r.out)
  assert.equal(report.scanned, 2)
  assert.equal(report.infected, 1)
  assert.equal(report.errors, 0)
  assert.equal(typeof report.time, 'number')
  assert.deepEqual(report.results, [
    { file: path.join(dir, 'a.txt'), verdict: 'clean' },
    { file: path.join(dir, 'b.txt'), verdict: 'infected', viruses: ['Eicar-Test-Signature.UNOFFICIAL'] },
  ])
})

test('scan: exit 2 for scan errors, --quiet prints only problems', (t) => {
  const big = writeFile(tempDir(t), 'big.bin', Buffer.alloc(2 * 1024 * 1024))
  const r = cli('scan', big, '--port', String(limited.port), '--quiet')
  assert.equal(r.code, 2)
  assert.match(r.out, /^ERROR {5}.*big\.bin {2}\(ScanError \(size-limit\)/)
  assert.doesNotMatch(r.out, /Scanned/)
})

test('exit 3 when clamd is unreachable: refused, and timed out (1.x exited 2 there)', async (t) => {
  const port = await closedPort()
  const refused = cli('scan', CLEAN_FILE, '--port', String(port))
  assert.equal(refused.code, 3)
  assert.match(refused.out, /ECONNREFUSED/)
  const silent = await startFakeClamd(() => {})
  t.after(() => silent.close())
  const timedOut = cli('scan', CLEAN_FILE, '--port', String(silent.port), '--timeout', '200')
  assert.equal(timedOut.code, 3)
  assert.match(timedOut.out, /timed out after 200ms/)
  assert.equal(cli('ping', '--port', String(port)).code, 3)
})

test('ping, version, help, usage errors', () => {
  const ping = cli('ping', '--socket', clamd.socket)
  assert.deepEqual([ping.code, ping.out.trim()], [0, 'PONG'])
  const version = cli('version', '--port', String(clamd.port))
  assert.equal(version.code, 0)
  assert.match(version.out, /^pompelmi \d+\.\d+\.\d+\nclamd: ClamAV \d/)
  assert.match(cli('help').out, /Usage: pompelmi <command>/)
  assert.equal(cli().code, 0)
  const missing = cli('scan', '/no/such/path')
  assert.deepEqual([missing.code, missing.err.trim()], [2, 'Error: path not found: /no/such/path'])
  assert.equal(cli('scan').code, 2)
  assert.equal(cli('scan', CLEAN_FILE, '--bogus').code, 2)
  assert.equal(cli('frobnicate').code, 2)
})

test('local mode with --database', () => {
  const r = cli('scan', CLEAN_FILE, '--database', path.join(__dirname, '..', 'testdata', 'signatures'))
  assert.equal(r.code, 0, r.out + r.err)
})

test('a progress bar on a TTY for several files, none when piped', (t) => {
  const dir = tempDir(t)
  for (let i = 0; i < 5; i++) writeFile(dir, `f${i}.txt`, `file ${i}`)
  const piped = cli('scan', dir, '--port', String(clamd.port))
  assert.doesNotMatch(piped.err, /\[#/)
  // `script` gives the CLI a pseudo-terminal, as an interactive shell would.
  const tty = execFileSync('script', ['-qec', `${process.execPath} ${BIN} scan ${dir} --port ${clamd.port}`, '/dev/null'], { encoding: 'utf8' })
  assert.match(tty, /\[####################\] 5\/5 files/)
})

test('scan --report and --share-card write the HTML dashboard and the SVG card', (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'ok.txt', 'fine')
  writeFile(dir, 'bad.com', EICAR)
  const out = tempDir(t)
  const r = cli('scan', dir, '--port', String(clamd.port), '--report', path.join(out, 'r.html'), '--share-card', path.join(out, 'c.svg'))
  assert.equal(r.code, 1)
  const html = fs.readFileSync(path.join(out, 'r.html'), 'utf8')
  assert.ok(html.includes('banner infected') && html.includes('Eicar-Test-Signature.UNOFFICIAL'))
  assert.match(fs.readFileSync(path.join(out, 'c.svg'), 'utf8'), /1 infected/)
})
