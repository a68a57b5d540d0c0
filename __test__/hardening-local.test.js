'use strict'
// Local mode (clamscan) under hostile conditions (issue 11): a hung clamscan, a killed node,
// endless output, file names that try to write clamscan's output, and cache keys.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { SIGNATURES } = require('./helpers/clamd.js')
const { useFakeClamscan, FAKE_BIN, REAL_PATH } = require('./helpers/fake-clamscan.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

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

test('createCache keys come from the resolved target: {} (clamscan) and { port: null } (clamd at 127.0.0.1:3310) never share', async (t) => {
  useFakeClamscan(t, 'exit:0')
  const cache = pompelmi.createCache()
  assert.equal(await cache.scanBuffer(EICAR, {}), Verdict.Clean) // the fake clamscan says clean
  // Another target: a miss, asked for real (nothing listens on 3310 here, or a clamd that finds EICAR).
  const other = await cache.scanBuffer(EICAR, { port: null, timeout: 2000 }).catch((e) => e)
  assert.notEqual(other, Verdict.Clean)
  assert.deepEqual([cache.stats().hits, cache.stats().misses], [0, 2])
  // The same target written differently is one entry.
  await cache.scanBuffer(EICAR, { database: undefined })
  assert.equal(cache.stats().hits, 1)
})
