'use strict'
// The CLI, run as a real process against the private clamd and the fakes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync, execFileSync } = require('node:child_process')

const pompelmi = require('..')
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

// -- pompelmi 1.x's commands and flags --------------------------------------------------------

function cliIn(cwd, ...args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, cwd })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Runs the CLI on a pseudo-terminal (`script`), answering `answer` once `prompt` shows. */
function onTerminal(args, prompt, answer) {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (prompt && out.includes(prompt)) {
        prompt = null
        child.stdin.write(typeof answer === 'function' ? answer() : answer)
      }
    })
    child.on('close', (code) => resolve({ code, out }))
  })
}

test('watch <dir> --quarantine: a dropped file ends in quarantine with its sidecar; SIGTERM and SIGINT exit 0', async (t) => {
  const dir = tempDir(t)
  const quarantine = path.join(tempDir(t), 'q')
  const child = spawn(process.execPath, [BIN, 'watch', dir, '--port', String(clamd.port), '--quarantine', quarantine])
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const until = async (predicate) => {
    for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 50))
    return predicate()
  }
  assert.ok(await until(() => err.includes('Watching')), err)
  writeFile(dir, 'evil.com', EICAR)
  writeFile(dir, 'fine.txt', 'fine')
  assert.ok(await until(() => out.includes('INFECTED') && out.includes('clean ')), out)
  assert.match(out, /INFECTED {2}.*evil\.com {2}\(Eicar-Test-Signature\.UNOFFICIAL\) {2}quarantined: .*evil\.com\.quarantined/)
  assert.match(out, /clean {5}.*fine\.txt/)
  const sidecar = JSON.parse(fs.readFileSync(path.join(quarantine, 'evil.com.quarantined.json'), 'utf8'))
  assert.deepEqual([sidecar.virus, sidecar.originalPath], ['Eicar-Test-Signature.UNOFFICIAL', path.join(dir, 'evil.com')])
  assert.equal(fs.existsSync(path.join(dir, 'evil.com')), false)
  child.kill('SIGTERM')
  assert.equal(await new Promise((r) => child.on('exit', r)), 0)
  const second = spawn(process.execPath, [BIN, 'watch', dir, '--port', String(clamd.port)])
  let secondErr = ''
  second.stderr.on('data', (d) => (secondErr += d))
  assert.ok(await until(() => secondErr.includes('Watching')), secondErr)
  second.kill('SIGINT')
  assert.equal(await new Promise((r) => second.on('exit', r)), 0)
  assert.equal(cli('watch').code, 2)
  assert.deepEqual([cli('watch', '/no/such/dir').code, cli('watch', '/no/such/dir').err.trim()], [2, 'Error: directory not found: /no/such/dir'])
})

test('scorecard --config <file.json>: grade, score, 1.x findings and recommendations; --json the raw result', (t) => {
  const dir = tempDir(t)
  const config = writeFile(dir, 'upload.json', JSON.stringify({ scanEnabled: true, mimeTypeAllowlist: ['image/png'], fileSizeLimit: 1, diskWriteBeforeScan: false, scanErrorBehavior: 'allow', clamdUnavailableBehavior: 'reject' }))
  const r = cli('scorecard', '--config', config)
  assert.equal(r.code, 0, r.err)
  assert.match(r.out, /Grade: B {3}Score: 85\/100/)
  assert.match(r.out, /PASS {2}Virus scanning enabled +\(weight: 30\)/)
  assert.match(r.out, /FAIL {2}Scan error behavior is reject +\(weight: 10\)/)
  assert.match(r.out, /Enable TLS \(HTTPS\) on your upload endpoint to protect files in transit\./)
  const json = JSON.parse(cli('scorecard', '--config', config, '--json').out)
  assert.deepEqual([json.grade, json.score, json.findings.length, json.recommendations.length], ['B', 85, 7, 2])
  assert.equal(JSON.parse(cli('scorecard', '--json').out).grade, 'F')
  const missing = cli('scorecard', '--config', path.join(dir, 'none.json'))
  assert.deepEqual([missing.code, missing.err.trim()], [2, `Error: config file not found: ${path.join(dir, 'none.json')}`])
})

test('scan --delete: without a terminal nothing is removed unless --yes; on a terminal it asks [y/N]', async (t) => {
  const dir = tempDir(t)
  const bad = writeFile(dir, 'bad.com', EICAR)
  const ok = writeFile(dir, 'ok.txt', 'fine')
  const refused = cli('scan', dir, '--port', String(clamd.port), '--delete')
  assert.equal(refused.code, 1)
  assert.match(refused.err, /Not deleting 1 infected file\(s\): no terminal to confirm on \(add --yes/)
  assert.ok(fs.existsSync(bad))
  const no = await onTerminal(['scan', dir, '--port', String(clamd.port), '--delete'], '[y/N]', 'n\r')
  assert.equal(no.code, 1)
  assert.match(no.out, /Nothing deleted/)
  assert.ok(fs.existsSync(bad))
  const yes = await onTerminal(['scan', dir, '--port', String(clamd.port), '--delete'], '[y/N]', 'y\r')
  assert.equal(yes.code, 1)
  assert.match(yes.out, /Deleted: .*bad\.com/)
  assert.equal(fs.existsSync(bad), false)
  writeFile(dir, 'bad.com', EICAR)
  const forced = cli('scan', dir, '--port', String(clamd.port), '--delete', '--yes')
  assert.equal(forced.code, 1)
  assert.equal(fs.existsSync(bad), false)
  assert.ok(fs.existsSync(ok), 'a clean file is never removed')
})

test('--output <file>: .svg writes the share card, anything else the report; --report alone writes pompelmi-report.html', (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'bad.com', EICAR)
  const out = tempDir(t)
  assert.equal(cli('scan', dir, '--port', String(clamd.port), '--output', path.join(out, 'card.svg')).code, 1)
  assert.match(fs.readFileSync(path.join(out, 'card.svg'), 'utf8'), /^<svg[\s\S]*1 file scanned — 1 infected/)
  assert.equal(cli('scan', dir, '--port', String(clamd.port), '--output', path.join(out, 'r.html')).code, 1)
  assert.match(fs.readFileSync(path.join(out, 'r.html'), 'utf8'), /banner infected/)
  // 1.x's boolean forms, with its default file names, and -r / --recursive accepted.
  assert.equal(cliIn(out, 'scan', dir, '--report', '--share-card', '-r', '--port', String(clamd.port)).code, 1)
  assert.ok(fs.existsSync(path.join(out, 'pompelmi-report.html')))
  assert.ok(fs.existsSync(path.join(out, 'pompelmi-scan-card.svg')))
  assert.equal(cli('scan', dir, '--recursive', '--port', String(clamd.port)).code, 1)
})

test('--config <file> supplies defaults for every flag; the command line wins', (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'bad.com', EICAR)
  const config = writeFile(tempDir(t), 'pompelmi.json', JSON.stringify({ port: clamd.port, json: true, timeout: 5000 }))
  const r = cli('scan', dir, '--config', config)
  assert.equal(r.code, 1, r.err)
  assert.equal(JSON.parse(r.out).infected, 1)
  const port = cli('scan', dir, '--config', config, '--port', '1')
  assert.equal(port.code, 3, 'the flag on the command line wins')
})

test('scan --delete removes only the inodes that were scanned: a parent swapped for a link, or a file replaced, is refused', async (t) => {
  const dir = tempDir(t)
  const outside = tempDir(t)
  writeFile(dir, 'sub/evil.com', EICAR)
  const top = writeFile(dir, 'top.com', EICAR)
  const victim = writeFile(outside, 'sub/evil.com', 'an outside file that was never scanned')
  const r = await onTerminal(['scan', dir, '--port', String(clamd.port), '--delete'], '[y/N]', () => {
    // While the CLI asks: the parent becomes a link out of the tree, the infected file a clean one.
    fs.renameSync(path.join(dir, 'sub'), path.join(dir, 'was'))
    fs.symlinkSync(path.join(outside, 'sub'), path.join(dir, 'sub'))
    fs.renameSync(top, path.join(dir, 'old.com'))
    fs.writeFileSync(top, 'a clean replacement')
    return 'y\r'
  })
  assert.equal(r.code, 1, r.out)
  assert.equal(fs.readFileSync(victim, 'utf8'), 'an outside file that was never scanned')
  assert.equal(fs.readFileSync(top, 'utf8'), 'a clean replacement')
  assert.equal((r.out.match(/Failed to delete/g) || []).length, 2, r.out)
  assert.match(r.out, /changed since it was scanned/)
  // Unchanged, the scanned file is deleted.
  const again = writeFile(dir, 'again.com', EICAR)
  const yes = cli('scan', again, '--port', String(clamd.port), '--delete', '--yes')
  assert.equal(yes.code, 1)
  assert.match(yes.err, /Deleted: /)
  assert.equal(fs.existsSync(again), false)
})

test('scan of a FIFO without a writer: the file error and exit 2, not "clamd unreachable" (3)', (t) => {
  const fifo = path.join(tempDir(t), 'pipe')
  execFileSync('mkfifo', [fifo])
  const r = cli('scan', fifo, '--socket', clamd.socket, '--timeout', '400')
  assert.equal(r.code, 2, r.out + r.err)
  assert.match(r.out, /ERROR .*pipe .*waiting for data from/)
})

test('scan of a tree with a name that is not UTF-8: reported as an error (exit 2), never the decoy as the only file', (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/a`), Buffer.from([0xff]), Buffer.from('.txt')]), EICAR)
  writeFile(dir, 'a\uFFFD.txt', 'decoy')
  const r = cli('scan', dir, '--port', String(clamd.port))
  assert.equal(r.code, 2, r.out + r.err)
  assert.match(r.out, /ERROR {5}.*a\\xff\.txt .*not UTF-8/)
})

test('the CLI escapes control characters in file names; reports say "All clean" only when every row is', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'x\r\x1b[2Kclean ok.txt', EICAR)
  const cli = path.join(__dirname, '..', 'bin', 'pompelmi.js')
  const res = await new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'scan', dir, '--port', String(clamd.port)])
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })
  assert.equal(res.code, 1)
  assert.ok(!res.out.includes('\r') && !res.out.includes('\x1b'), 'no raw CR or ESC')
  assert.match(res.out, /INFECTED {2}.*x\\x0d\\x1b\[2Kclean ok\.txt/)
  // Every row an error (clamd unreachable): no "All clean" anywhere.
  const errors = [{ file: 'a', verdict: 'error' }, { file: 'b', verdict: 'error' }]
  assert.doesNotMatch(pompelmi.generateDashboard(errors), /All clean/)
  assert.match(pompelmi.generateDashboard(errors), /2 files could not be scanned/)
  assert.doesNotMatch(pompelmi.generateShareCard(errors), /All clean/)
  assert.doesNotMatch(pompelmi.generateShareCard({ clean: ['a'], malicious: [], errors: ['b'] }), /All clean/)
  assert.match(pompelmi.generateShareCard([{ file: 'a', verdict: 'clean' }]), /All clean/)
  const report = path.join(dir, 'report.html')
  const unreachable = spawn(process.execPath, [cli, 'scan', dir, '--port', '1', '--report', report])
  assert.equal(await new Promise((r) => unreachable.on('close', r)), 3)
  assert.doesNotMatch(fs.readFileSync(report, 'utf8'), /All clean/)
})
