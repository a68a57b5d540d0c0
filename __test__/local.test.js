'use strict'
// Local mode: clamscan, both the real one (with the project's signatures through `database`) and
// a fake one first on PATH for exit codes, signals and the temp-file contract.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { scan, scanBuffer, scanStream, inspect, Verdict } = pompelmi
const { SIGNATURES } = require('./helpers/clamd.js')
const { useFakeClamscan, FAKE_BIN, REAL_PATH } = require('./helpers/fake-clamscan.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE, tempDir, writeFile, pompelmiTempEntries } = require('./helpers/samples.js')

const FD_PATH = '/proc/self/fd/3'

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(predicate, ms = 3000) {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 20))
  }
  return true
}

test('real clamscan with the test signatures: Clean, Malicious, hash signatures', async (t) => {
  const dir = tempDir(t)
  const eicar = writeFile(dir, 'eicar.txt', EICAR)
  const opts = { database: SIGNATURES }
  assert.equal(await scan(CLEAN_FILE, opts), Verdict.Clean)
  assert.equal(await scan(eicar, opts), Verdict.Malicious)
  assert.equal(await scan(MD5_SAMPLE, opts), Verdict.Malicious)
  assert.equal(await scanBuffer(EICAR, opts), Verdict.Malicious)
  assert.equal(await scanBuffer(Buffer.from('clean bytes'), opts), Verdict.Clean)
  assert.equal(await scanStream(Readable.from([EICAR]), opts), Verdict.Malicious)
  assert.equal(await scanStream(fs.createReadStream(CLEAN_FILE), opts), Verdict.Clean)
})

test('real clamscan: a path starting with "-" is a path, not an option', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, '-eicar.txt', EICAR)
  const cwd = process.cwd()
  process.chdir(dir)
  t.after(() => process.chdir(cwd))
  assert.equal(await scan('-eicar.txt', { database: SIGNATURES }), Verdict.Malicious)
})

test('exit codes 0/1/2 map to Clean/Malicious/ScanError for all three entry points', async (t) => {
  for (const [code, verdict] of [[0, Verdict.Clean], [1, Verdict.Malicious], [2, Verdict.ScanError]]) {
    useFakeClamscan(t, `exit:${code}`)
    assert.equal(await scan(CLEAN_FILE), verdict)
    assert.equal(await scanBuffer(Buffer.from('x'), {}), verdict)
    assert.equal(await scanStream(Readable.from(['x']), null), verdict)
  }
})

test('limit alerts from clamscan are ScanError limits-exceeded; other heuristics stay Malicious', async (t) => {
  useFakeClamscan(t, 'found:Heuristics.Limits.Exceeded.MaxScanSize')
  const limited = await inspect(CLEAN_FILE)
  assert.deepEqual([limited.verdict, limited.reason, limited.limit, limited.viruses], [Verdict.ScanError, 'limits-exceeded', 'MaxScanSize', []])
  assert.equal(await scanBuffer(Buffer.from('x')), Verdict.ScanError)
  useFakeClamscan(t, 'found:Heuristics.Encrypted.Zip')
  const encrypted = await inspect(CLEAN_FILE)
  assert.deepEqual([encrypted.verdict, encrypted.viruses, encrypted.reason], [Verdict.Malicious, ['Heuristics.Encrypted.Zip'], null])
})

test('another exit code rejects "Unexpected exit code: N"', async (t) => {
  useFakeClamscan(t, 'exit:99')
  await assert.rejects(scan(CLEAN_FILE), { message: 'Unexpected exit code: 99' })
})

test('a signal rejects "Process killed by signal: SIGTERM"', async (t) => {
  useFakeClamscan(t, 'signal:TERM')
  await assert.rejects(scan(CLEAN_FILE), { message: 'Process killed by signal: SIGTERM' })
  useFakeClamscan(t, 'signal:KILL')
  await assert.rejects(scanBuffer(Buffer.from('x')), { message: 'Process killed by signal: SIGKILL' })
})

test('a missing clamscan rejects with the spawn error (ENOENT)', async (t) => {
  process.env.PATH = tempDir(t)
  t.after(() => (process.env.PATH = REAL_PATH))
  await assert.rejects(scan(CLEAN_FILE), (err) => {
    assert.equal(err.message, 'spawn clamscan ENOENT')
    assert.equal(err.code, 'ENOENT')
    assert.equal(err.errno, -2)
    assert.equal(err.syscall, 'spawn clamscan')
    assert.equal(err.path, 'clamscan')
    assert.deepEqual(err.spawnargs, ['--no-summary', '--alert-exceeds-max=yes', '--', FD_PATH])
    return true
  })
})

test('arguments: --no-summary, --alert-exceeds-max=yes, --database when given, then -- and the file by descriptor', async (t) => {
  const fake = useFakeClamscan(t, 'exit:0')
  await scan(CLEAN_FILE, { database: '/some/db' })
  assert.deepEqual(fake.args(), ['--no-summary', '--alert-exceeds-max=yes', '--database=/some/db', '--', FD_PATH])
  // The descriptor is the file that was named.
  assert.equal(fake.link(), fs.realpathSync(CLEAN_FILE))
  assert.equal(fake.stat()[1], String(fs.statSync(CLEAN_FILE).size))
  await scan(CLEAN_FILE, { retries: 3 }) // clamd-only options do not leave local mode
  assert.deepEqual(fake.args(), ['--no-summary', '--alert-exceeds-max=yes', '--', FD_PATH])
})

test('loud clamscan output is drained (no pipe deadlock)', async (t) => {
  useFakeClamscan(t, 'noisy')
  assert.equal(await scan(CLEAN_FILE), Verdict.Clean)
})

test('buffers and streams go to an anonymous temp file (mode 0600, no name on disk)', async (t) => {
  const before = pompelmiTempEntries()
  const fake = useFakeClamscan(t, 'exit:0')
  await scanBuffer(Buffer.alloc(1234, 1))
  assert.deepEqual(fake.stat(), ['600', '1234'])
  assert.equal(fake.args().at(-1), FD_PATH)
  // While clamscan ran, the file already had no name: O_TMPFILE shows as "/tmp/#123 (deleted)".
  assert.match(fake.link(), / \(deleted\)$/)
  assert.ok(fake.link().startsWith(require('node:os').tmpdir()))
  await scanStream(Readable.from([Buffer.alloc(1000), Buffer.alloc(500)]))
  assert.deepEqual(fake.stat(), ['600', '1500'])
  useFakeClamscan(t, 'exit:99')
  await assert.rejects(scanBuffer(Buffer.from('x')), /Unexpected exit code/)
  assert.deepEqual(pompelmiTempEntries(), before)
})

test('a failing source stream rejects with its error and leaves no temp file', async (t) => {
  const before = pompelmiTempEntries()
  useFakeClamscan(t, 'exit:0')
  const source = new Readable({
    read() {
      this.push(Buffer.from('partial'))
      this.destroy(new Error('stream read error'))
    },
  })
  await assert.rejects(scanStream(source), { message: 'stream read error' })
  assert.deepEqual(pompelmiTempEntries(), before)
})

test('local mode honours timeout: a hung clamscan is killed and the call rejects ETIMEDOUT', async (t) => {
  const fake = useFakeClamscan(t, 'sleep:30')
  const started = Date.now()
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { timeout: 300 }), { code: 'ETIMEDOUT', message: 'clamscan timed out after 300ms' })
  assert.ok(Date.now() - started < 2000)
  assert.ok(await until(() => !alive(fake.pid())), 'clamscan still runs')
  await assert.rejects(pompelmi.scan(path.join(__dirname, 'helpers', 'samples.js'), { timeout: 200 }), { code: 'ETIMEDOUT' })
})

test('node SIGKILLed mid-scan: clamscan dies with it and no temp file is left', async (t) => {
  const tmp = tempDir(t)
  const log = path.join(tempDir(t), 'clamscan.log')
  const script = `require(${JSON.stringify(path.join(__dirname, '..'))}).scanBuffer(Buffer.alloc(1 << 20, 1)).then(console.log, console.error)`
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, TMPDIR: tmp, PATH: `${FAKE_BIN}${path.delimiter}${REAL_PATH}`, FAKE_CLAMSCAN: 'sleep:30', FAKE_CLAMSCAN_LOG: log },
    stdio: 'ignore',
  })
  assert.ok(await until(() => fs.existsSync(`${log}.pid`) && fs.readFileSync(`${log}.pid`, 'utf8').trim() !== ''), 'clamscan never started')
  const pid = Number(fs.readFileSync(`${log}.pid`, 'utf8'))
  assert.ok(alive(pid))
  // While clamscan runs, the upload has no name in TMPDIR.
  assert.deepEqual(fs.readdirSync(tmp), [])
  child.kill('SIGKILL')
  await new Promise((r) => child.on('exit', r))
  assert.ok(await until(() => !alive(pid)), 'clamscan outlived node')
  assert.deepEqual(fs.readdirSync(tmp), [])
})

test('clamscan output is capped: 200 MB of it is drained, not buffered', async (t) => {
  useFakeClamscan(t, 'loud:200000000')
  const before = process.memoryUsage().rss
  const report = await pompelmi.inspectBuffer(Buffer.from('x'))
  assert.equal(report.verdict, Verdict.Clean)
  assert.ok(report.reply.length <= 1024 * 1024, `reply of ${report.reply.length} chars`)
  const grown = (process.memoryUsage().rss - before) / 1024 / 1024
  assert.ok(grown < 120, `RSS grew ${grown.toFixed(0)} MiB`)
})

test('a file name cannot inject a virus name into clamscan output (real clamscan)', async (t) => {
  const dir = tempDir(t)
  const file = writeFile(dir, 'a: Fake.Injected FOUND\nb.txt', EICAR)
  const report = await pompelmi.inspect(file, { database: SIGNATURES })
  assert.equal(report.verdict, Verdict.Malicious)
  assert.deepEqual(report.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  const clean = writeFile(dir, 'c: Fake.Injected FOUND\nd.txt', 'harmless')
  assert.equal(await pompelmi.scan(clean, { database: SIGNATURES }), Verdict.Clean)
})

test('a FIFO in local mode is read as a stream into an anonymous temp file (real clamscan)', async (t) => {
  const p = path.join(tempDir(t), 'pipe')
  require('node:child_process').execFileSync('mkfifo', [p])
  const feed = new Promise((resolve) => fs.createWriteStream(p).end(EICAR, resolve))
  const [verdict] = await Promise.all([pompelmi.scan(p, { database: SIGNATURES }), feed])
  assert.equal(verdict, Verdict.Malicious)
  const idle = path.join(tempDir(t), 'idle')
  require('node:child_process').execFileSync('mkfifo', [idle])
  await assert.rejects(pompelmi.scan(idle, { database: SIGNATURES, timeout: 300 }), { code: 'ETIMEDOUT' })
})
