'use strict'
// The published package's bundle (scripts/bundle.js, written by `npm pack`): index.js and the
// eager core as one file, checked offline in a copy of the package staged as npm ships it. In the
// fast tier.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { BUNDLE, MODULES, HANDOVER, bundle, stagePackage } = require('../scripts/bundle.js')
const { tempDir } = require('./helpers/samples.js')

const ROOT = path.join(__dirname, '..')

test('the shipped bundle (scripts/bundle.js, made by npm pack): no core file read apart, one copy of each core module for every feature and adapter, the same exports, stack traces mapped to the sources', (t) => {
  assert.ok(!fs.existsSync(path.join(ROOT, BUNDLE)), `a checkout carries no ${BUNDLE} (npm pack's postpack removes it): the tests run the sources`)
  const dir = stagePackage(ROOT, path.join(tempDir(t), 'pompelmi'))
  const script = `
    const Module = require('node:module')
    const path = require('node:path')
    const dir = ${JSON.stringify(dir)}
    const compiled = []
    const compile = Module.prototype._compile
    Module.prototype._compile = function (content, filename) {
      compiled.push(path.relative(dir, filename))
      return compile.apply(this, arguments)
    }
    const p = require(dir)
    const core = ${JSON.stringify(MODULES.slice(1))}.map((f) => path.join(dir, f))
    const atRequire = core.map((f) => require.cache[f] && require.cache[f].exports)
    const compiledAtRequire = [...compiled]
    for (const key of Object.keys(p)) void p[key]
    for (const adapter of ['fastify', 'koa', 'hono', 'next', 'multer', 'testing', 'prometheus']) require(path.join(dir, 'lib', 'adapters', adapter + '.js'))
    p.scanBuffer(5).catch((err) => console.log(JSON.stringify({
      keys: Object.keys(p),
      compiledAtRequire,
      registered: atRequire.every((e) => e && typeof e === 'object'),
      same: core.every((f, i) => require.cache[f].exports === atRequire[i]),
      coreCompiledLater: compiled.filter((f) => ${JSON.stringify(MODULES)}.includes(f)),
      code: err.code,
      frame: err.stack.split('\\n')[1].trim(),
    })))`
  const run = (args) => {
    // The adapters' frameworks are peer dependencies: the checkout's node_modules has them.
    const r = spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } })
    assert.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout)
  }
  const plain = run([])
  assert.deepEqual(plain.compiledAtRequire, ['index.js', BUNDLE], 'the core came from the bundle, not from its files')
  assert.ok(plain.registered, 'each core module is in require.cache under its own path')
  assert.ok(plain.same, 'features and adapters loaded later use the same core modules')
  assert.deepEqual(plain.coreCompiledLater, ['index.js'], 'no core module was loaded a second time')
  assert.deepEqual(plain.keys, Object.keys(require('..')))
  assert.equal(plain.code, 'ERR_INVALID_ARG_TYPE')
  assert.match(plain.frame, /^at coded \(.+:\d+:\d+\)$/)
  assert.ok(plain.frame.startsWith(`at coded (${path.join(dir, BUNDLE)}:`), plain.frame)
  // With source maps on, the frame is the source's own line and column.
  const lines = fs.readFileSync(path.join(ROOT, 'lib', 'core', 'errors.js'), 'utf8').split('\n')
  const line = lines.indexOf('  const err = new Error(message)')
  assert.ok(line > 0)
  const mapped = run(['--enable-source-maps'])
  assert.equal(mapped.frame, `at coded (${path.join(dir, 'lib', 'core', 'errors.js')}:${line + 1}:${lines[line].indexOf('new Error') + 1})`)
})

test('scripts/bundle.js leaves out index.js\'s handover line (LF or CRLF line ends), and refuses an index.js without it', (t) => {
  const dir = tempDir(t)
  for (const f of MODULES) fs.cpSync(path.join(ROOT, f), path.join(dir, f))
  const index = fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8')
  assert.equal(index.split('\n').filter((l) => l === HANDOVER).length, 1)
  for (const text of [index, index.replace(/\n/g, '\r\n')]) {
    fs.writeFileSync(path.join(dir, 'index.js'), text)
    const { code } = bundle(dir)
    assert.ok(code.includes('run(\'index.js\', module)'))
    assert.ok(!code.includes(HANDOVER), 'the bundle\'s copy of index.js does not hand over again')
  }
  fs.writeFileSync(path.join(dir, 'index.js'), index.replace(HANDOVER, ''))
  assert.throws(() => bundle(dir), /index\.js must hand over to the bundle/)
})

test('the bundle is ASCII, so that V8 holds it one byte per character; scripts/bundle.js names the first wider character in a bundled source', (t) => {
  const { code } = bundle(ROOT)
  assert.ok(!/[\u0080-\uffff]/.test(code), 'the bundle is ASCII')
  const dir = tempDir(t)
  for (const f of MODULES) fs.cpSync(path.join(ROOT, f), path.join(dir, f))
  const errors = fs.readFileSync(path.join(ROOT, 'lib', 'core', 'errors.js'), 'utf8').split('\n')
  errors.splice(3, 0, '// a native error \u2192 a Node-style one')
  fs.writeFileSync(path.join(dir, 'lib', 'core', 'errors.js'), errors.join('\n'))
  assert.throws(() => bundle(dir), { message: 'lib/core/errors.js:4: the bundled sources are ASCII (found U+2192, \u2192): write it with ASCII characters' })
})

test("under jest (another module system), the packaged package loads its sources: pompelmi/testing's verdicts are pompelmi's own Verdict symbols", (t) => {
  // jest runs each test file in its own module registry and realm. The bundle registers the core
  // in Node's require.cache, which jest's registry never reads, so index.js hands over to it only
  // when Node's own loader loads index.js; here the sources load and every module shares them.
  const project = tempDir(t)
  stagePackage(ROOT, path.join(project, 'node_modules', 'pompelmi'))
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"app","version":"1.0.0","private":true}')
  fs.writeFileSync(
    path.join(project, 'verdicts.test.js'),
    `const { Verdict, MaliciousUploadError } = require('pompelmi')
    const { mockInfected, mockClean } = require('pompelmi/testing')
    test('the mock verdicts are the Verdict symbols', async () => {
      expect(await mockInfected('Win.Test').scanBuffer(Buffer.from('x'))).toBe(Verdict.Malicious)
      expect(await mockClean().scanBuffer(Buffer.from('x'))).toBe(Verdict.Clean)
      expect(MaliciousUploadError).toBe(require(require.resolve('pompelmi').replace(/index\\.js$/, 'lib/core/errors.js')).MaliciousUploadError)
    })`,
  )
  const jest = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js')
  const r = spawnSync(process.execPath, [jest, '--rootDir', project, '--ci', '--watchman=false', '--color=false'], { cwd: project, encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stderr, /Tests: {7}1 passed, 1 total/)
})
