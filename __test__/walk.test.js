'use strict'
// The directory walker and what is opened from it: names as bytes (a name that is not UTF-8 is
// an error, never another file's verdict), files opened below the walk's root without following
// links and only while they are the inode the walk listed, and local mode never scanning half a
// directory. Real clamd and real clamscan.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd, SIGNATURES } = require('./helpers/clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const UNIX = { socket: clamd.socket }
const TCP = { port: clamd.port }
const LOCAL = { database: SIGNATURES }

/** EICAR under a name that is not UTF-8, beside a clean decoy whose name is its lossy decoding. */
function lossyPair(dir) {
  const raw = Buffer.concat([Buffer.from(`${dir}/a`), Buffer.from([0xff]), Buffer.from('.txt')])
  fs.writeFileSync(raw, EICAR)
  const decoy = writeFile(dir, 'a\uFFFD.txt', 'a harmless decoy')
  return { decoy, shown: path.join(dir, 'a\\xff.txt') }
}

for (const [mode, options] of Object.entries({ UNIX, TCP, local: LOCAL })) {
  test(`${mode}: a name that is not UTF-8 is an error in every walk, never the decoy's Clean`, async (t) => {
    const dir = tempDir(t)
    const { decoy, shown } = lossyPair(dir)
    const summary = await pompelmi.scanDirectory(dir, options)
    assert.deepEqual(summary.clean, [decoy])
    assert.deepEqual(summary.errors, [shown])
    assert.equal(summary.reasons[shown], 'unrepresentable-name')
    const events = []
    for await (const e of pompelmi.scanDirectory.stream(dir, options)) events.push(e)
    assert.deepEqual(events.at(-1).summary.errors, [shown])
    assert.deepEqual(events.filter((e) => e.type === 'result').map((e) => [e.file, e.verdict ? e.verdict.description : null, e.reason]), [
      [decoy, 'Clean', undefined],
      [shown, null, 'unrepresentable-name'],
    ])
    const scanner = pompelmi.createScanner(options)
    const seen = { clean: [], error: [] }
    scanner.on('clean', (f) => seen.clean.push(f))
    scanner.on('error', (err, f) => seen.error.push([f, err.reason]))
    await new Promise((resolve) => {
      scanner.on('complete', resolve)
      scanner.scanDirectory(dir)
    })
    assert.deepEqual(seen, { clean: [decoy], error: [[shown, 'unrepresentable-name']] })
  })
}

test('watch: a new file whose name is not UTF-8 is reported through onError, and its decoy is scanned as itself', async (t) => {
  const dir = tempDir(t)
  const seen = { clean: [], malicious: [], error: [] }
  const watcher = pompelmi.watch(dir, TCP, {
    onClean: (f) => seen.clean.push(f),
    onMalicious: (f) => seen.malicious.push(f),
    onError: (err, f) => seen.error.push([f, err.code]),
  })
  t.after(() => watcher.close())
  await new Promise((r) => setTimeout(r, 200))
  const { decoy, shown } = lossyPair(dir)
  for (let i = 0; i < 100 && (seen.clean.length === 0 || seen.error.length === 0); i++) await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(seen.clean, [decoy])
  assert.ok(seen.error.some(([f, code]) => f === shown && code === 'ERR_UNREPRESENTABLE_NAME'), JSON.stringify(seen.error))
  assert.deepEqual(seen.malicious, [])
})

/**
 * A tree where `sub/z.txt` is EICAR, and an outside directory of clean files with the same
 * names. Runs `scanDirectory.stream` one file at a time and calls `swap` after the first result
 * (the walk is done; the next scan has not started).
 */
async function scanWithSwap(t, options, swap) {
  const dir = tempDir(t)
  const outside = tempDir(t)
  writeFile(dir, 'a.txt', 'first, clean')
  writeFile(dir, 'sub/z.txt', EICAR)
  writeFile(outside, 'sub/z.txt', 'outside, clean')
  writeFile(outside, 'clean.txt', 'outside, clean')
  const results = []
  for await (const e of pompelmi.scanDirectory.stream(dir, { ...options, concurrency: 1 })) {
    if (e.type !== 'result') continue
    results.push(e)
    if (results.length === 1) swap(dir, outside)
  }
  return results.find((r) => r.file === path.join(dir, 'sub', 'z.txt'))
}

for (const [mode, options] of Object.entries({ UNIX, TCP, local: LOCAL })) {
  test(`${mode}: a parent directory swapped for a link out of the tree after the walk is an error, never the outside file's Clean`, async (t) => {
    const result = await scanWithSwap(t, options, (dir, outside) => {
      fs.renameSync(path.join(dir, 'sub'), path.join(dir, 'was'))
      fs.symlinkSync(path.join(outside, 'sub'), path.join(dir, 'sub'))
    })
    assert.equal(result.verdict, null)
    assert.ok(['ELOOP', 'ENOTDIR'].includes(result.error.code), result.error.message)
  })

  test(`${mode}: a listed file swapped for a link out of the tree, or for another file, is an error, never that file's Clean`, async (t) => {
    const linked = await scanWithSwap(t, options, (dir, outside) => {
      fs.rmSync(path.join(dir, 'sub', 'z.txt'))
      fs.symlinkSync(path.join(outside, 'clean.txt'), path.join(dir, 'sub', 'z.txt'))
    })
    assert.equal(linked.verdict, null)
    assert.equal(linked.error.code, 'ELOOP', linked.error.message)
    const replaced = await scanWithSwap(t, options, (dir) => {
      fs.renameSync(path.join(dir, 'sub', 'z.txt'), path.join(dir, 'sub', 'old'))
      fs.writeFileSync(path.join(dir, 'sub', 'z.txt'), 'a clean newcomer')
    })
    assert.equal(replaced.verdict, null)
    assert.equal(replaced.error.code, 'ERR_FILE_CHANGED', replaced.error.message)
  })
}

test('local mode given a directory rejects EISDIR everywhere (clamscan without recursion said Clean for EICAR in a subdirectory)', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'sub/eicar.com', EICAR)
  await assert.rejects(pompelmi.scan(dir, LOCAL), { code: 'EISDIR' })
  await assert.rejects(pompelmi.inspect(dir, LOCAL), { code: 'EISDIR' })
  await assert.rejects(pompelmi.createCache().scan(dir, LOCAL), { code: 'EISDIR' })
  const multi = await pompelmi.createMultiEngine({ engines: [{ type: 'clamav', ...LOCAL }] }).scan(dir)
  assert.equal(multi.verdict, Verdict.ScanError)
  const scanner = pompelmi.createScanner(LOCAL)
  const outcome = await new Promise((resolve) => {
    scanner.on('clean', () => resolve('clean'))
    scanner.on('error', (err) => resolve(err.code))
    scanner.scan(dir)
  })
  assert.equal(outcome, 'EISDIR')
  // What scans a tree: scanDirectory finds it.
  assert.deepEqual((await pompelmi.scanDirectory(dir, LOCAL)).malicious, [path.join(dir, 'sub', 'eicar.com')])
})

test('scanDirectory: a link out of the tree is not followed (an error with its reason) unless followSymlinks', async (t) => {
  const outside = tempDir(t)
  const secret = writeFile(outside, 'secret.txt', EICAR)
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'hello')
  fs.symlinkSync(secret, path.join(dir, 'link.txt'))
  writeFile(dir, 'in/real.txt', EICAR)
  fs.symlinkSync(path.join(dir, 'in', 'real.txt'), path.join(dir, 'inner-link.txt'))
  const result = await pompelmi.scanDirectory(dir, TCP)
  assert.deepEqual(result.errors, [path.join(dir, 'link.txt')])
  assert.deepEqual(result.reasons, { [path.join(dir, 'link.txt')]: 'symlink-outside' })
  assert.deepEqual(result.malicious, [path.join(dir, 'in', 'real.txt')], 'a link inside the tree to a file already listed is not scanned twice')
  const followed = await pompelmi.scanDirectory(dir, { ...TCP, followSymlinks: true })
  assert.deepEqual(followed.malicious.sort(), [path.join(dir, 'in', 'real.txt'), path.join(dir, 'link.txt')].sort())
})

test('directory walks visit each file once: a link to an ancestor and links to "." never loop (scanDirectory, createScanner, CLI)', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'a.txt', 'one')
  writeFile(dir, 'sub/b.txt', EICAR)
  fs.symlinkSync('..', path.join(dir, 'sub', 'up'))
  fs.symlinkSync('.', path.join(dir, 'self1'))
  fs.symlinkSync('.', path.join(dir, 'self2'))
  const result = await pompelmi.scanDirectory(dir, TCP)
  assert.deepEqual([result.clean, result.malicious, result.errors], [[path.join(dir, 'a.txt')], [path.join(dir, 'sub', 'b.txt')], []])
  const scanner = pompelmi.createScanner(TCP)
  const seen = []
  scanner.on('clean', (f) => seen.push(f))
  scanner.on('malicious', (f) => seen.push(f))
  await new Promise((resolve) => {
    scanner.on('complete', resolve)
    scanner.scanDirectory(dir)
  })
  assert.equal(seen.length, 2)
  const cli = require('node:child_process').spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pompelmi.js'), 'scan', dir, '--port', String(clamd.port)], { encoding: 'utf8' })
  assert.equal(cli.status, 1)
  assert.match(cli.stdout, /Scanned 2 file\(s\)/)
})
