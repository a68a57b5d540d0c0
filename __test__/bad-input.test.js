'use strict'
// Bad input against a real clamd: each case gets a clear rejection or a correct verdict.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const { Readable } = require('node:stream')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const UNIX = { socket: clamd.socket }

test('every scanning function rejects wrong argument types with its message', async () => {
  const cases = [
    ['scan', [null], 'filePath must be a string'],
    ['scan', [Buffer.from('/etc/hosts')], 'filePath must be a string'],
    ['inspect', [{}], 'filePath must be a string'],
    ['scanBuffer', ['text'], 'buffer must be a Buffer'],
    ['inspectBuffer', [[1, 2, 3]], 'buffer must be a Buffer'],
    ['inspectBuffer', [new ArrayBuffer(0)], 'buffer is empty'],
    ['scanBlob', [Buffer.from('x')], 'blob must be a Blob'],
    ['inspectBlob', [null], 'blob must be a Blob'],
    ['scanFormData', [{}], 'formData must be a FormData'],
    ['inspectBuffer', [Buffer.alloc(0)], 'buffer is empty'],
    ['scanStream', [fs.createWriteStream('/dev/null')], 'stream must be a Readable'],
    ['inspectStream', [null], 'stream must be a Readable'],
    ['scanDirectory', [undefined], 'dirPath must be a string'],
  ]
  for (const [fn, args, message] of cases) {
    for (const options of [undefined, null, TCP]) {
      await assert.rejects(pompelmi[fn](...args, options), { message }, `${fn} with ${JSON.stringify(options)}`)
    }
  }
})

test('option errors reject (scans, commands) or throw (constructors), naming the option', async () => {
  for (const bad of [{ port: -1 }, { port: 'abc' }, { port: 1.5 }, { port: 0 }]) {
    await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), bad), { code: 'ERR_SOCKET_BAD_PORT' })
    await assert.rejects(pompelmi.ping(bad), { code: 'ERR_SOCKET_BAD_PORT' })
    assert.throws(() => pompelmi.createClient(bad), { code: 'ERR_SOCKET_BAD_PORT' })
  }
  for (const [name, value] of [['timeout', -1], ['timeout', 'soon'], ['retries', -2], ['retries', 'x'], ['retryDelay', NaN], ['maxConnections', 1.2]]) {
    await assert.rejects(pompelmi.scan('/dev/null', { ...TCP, [name]: value }), { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`"${name}"`) })
    await assert.rejects(pompelmi.version({ ...TCP, [name]: value }), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  await assert.rejects(pompelmi.ready({ ...TCP, interval: -5 }), { message: /"interval"/ })
  await assert.rejects(pompelmi.scanDirectory('.', { ...TCP, concurrency: 'many' }), { message: /"concurrency"/ })
  await assert.rejects(pompelmi.scanBuffer(Buffer.from('x'), { endpoints: 'tcp://x:1' }), { message: /"endpoints"/ })
})

test('null and undefined options mean {} (local mode)', async (t) => {
  const bin = tempDir(t)
  fs.writeFileSync(path.join(bin, 'clamscan'), '#!/bin/sh\nexit 1\n', { mode: 0o755 })
  const before = process.env.PATH
  process.env.PATH = `${bin}${path.delimiter}${before}`
  t.after(() => (process.env.PATH = before))
  assert.equal(await pompelmi.scanBuffer(Buffer.from('x'), null), Verdict.Malicious)
  assert.equal(await pompelmi.scanBuffer(Buffer.from('x'), undefined), Verdict.Malicious)
  assert.equal(await pompelmi.scanBuffer(Buffer.from('x'), { host: undefined, port: undefined, socket: undefined }), Verdict.Malicious)
})

test('paths with spaces, a leading "-", and unicode are scanned over TCP and UNIX', async (t) => {
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o755)
  const names = ['with space.txt', '-leading-dash.txt', 'ünïcødé ✓.txt']
  for (const name of names) writeFile(dir, name, EICAR)
  const cwd = process.cwd()
  process.chdir(dir)
  t.after(() => process.chdir(cwd))
  for (const opts of [TCP, UNIX]) {
    for (const name of names) {
      assert.equal(await pompelmi.scan(name, opts), Verdict.Malicious, `${name} ${JSON.stringify(opts)}`)
      assert.equal(await pompelmi.scan(path.join(dir, name), opts), Verdict.Malicious)
    }
  }
})

test('a file name that is not valid UTF-8 lands in scanDirectory errors, never Clean', async (t) => {
  const dir = tempDir(t)
  const raw = Buffer.concat([Buffer.from(dir + '/bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')])
  fs.writeFileSync(raw, EICAR)
  writeFile(dir, 'fine.txt', 'hello')
  const result = await pompelmi.scanDirectory(dir, TCP)
  assert.deepEqual(result.clean, [path.join(dir, 'fine.txt')])
  assert.equal(result.malicious.length + result.errors.length, 1, JSON.stringify(result))
  assert.ok(!result.clean.some((f) => f.includes('bad-')))
})

test('a FIFO over TCP is read like a stream', async (t) => {
  const fifo = path.join(tempDir(t), 'pipe')
  execFileSync('mkfifo', [fifo])
  const writer = spawn('sh', ['-c', `printf '%s' "$0" > "$1"`, EICAR.toString(), fifo])
  const done = new Promise((resolve) => writer.on('close', resolve))
  assert.equal(await pompelmi.scan(fifo, { ...TCP, timeout: 5000 }), Verdict.Malicious)
  assert.equal(await done, 0)
})

test('a directory: clamd mode rejects EISDIR for scan(), scanDirectory walks it', async (t) => {
  const dir = tempDir(t)
  writeFile(dir, 'sub/x.txt', EICAR)
  // Shaped like Node's fs errors, over TCP and UNIX, with and without descriptor passing.
  const eisdir = { code: 'EISDIR', syscall: 'read', message: 'EISDIR: illegal operation on a directory, read' }
  await assert.rejects(pompelmi.inspect(dir, TCP), eisdir)
  await assert.rejects(pompelmi.scan(dir, UNIX), eisdir)
  await assert.rejects(pompelmi.scan(dir, { ...UNIX, fdpass: false }), eisdir)
  assert.deepEqual((await pompelmi.scanDirectory(dir, UNIX)).malicious, [path.join(dir, 'sub', 'x.txt')])
})

test('streams: strings (any encoding), Uint8Arrays, an empty stream, and one that errors mid-way', async () => {
  assert.equal(await pompelmi.scanStream(Readable.from(['plain ', 'text']), TCP), Verdict.Clean)
  assert.equal(await pompelmi.scanStream(Readable.from([EICAR.toString('base64')]).setEncoding('utf8'), TCP), Verdict.Clean)
  const b64 = Readable.from([EICAR])
  b64.setEncoding('base64')
  assert.equal(await pompelmi.scanStream(b64, UNIX), Verdict.Malicious)
  assert.equal(await pompelmi.scanStream(Readable.from([new Uint8Array(EICAR)]), UNIX), Verdict.Malicious)
  assert.equal(await pompelmi.scanStream(Readable.from([]), UNIX), Verdict.Clean)
  let n = 0
  const failing = new Readable({
    read() {
      if (++n > 3) return this.destroy(Object.assign(new Error('disk on fire'), { code: 'EIO' }))
      this.push(Buffer.alloc(70_000, n))
    },
  })
  await assert.rejects(pompelmi.scanStream(failing, TCP), { message: 'disk on fire', code: 'EIO' })
  await assert.rejects(pompelmi.scanStream(Readable.from([1, 2, 3]), TCP), { code: 'ERR_INVALID_ARG_TYPE' })
})
