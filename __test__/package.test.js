'use strict'
// The published shape: `npm pack` of the main package (with its prepack/postpack scripts, which
// bundle index.js and the core) and of the linux-x64-gnu binary package, both installed into a fresh
// project without network, then require('pompelmi') scans there from the bundle. Without the
// platform package, require() names the platform and the package it needs.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const { startClamd } = require('./helpers/clamd.js')
const { tempDir, EICAR } = require('./helpers/samples.js')
const { BUNDLE, copyPackage } = require('../scripts/bundle.js')

const ROOT = path.join(__dirname, '..')
const TRIPLE = 'linux-x64-gnu'
const clamd = startClamd('main')
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } })

function pack(dir, into) {
  const out = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', into, dir], ROOT))
  return { tarball: path.join(into, out[0].filename), files: out[0].files.map((f) => f.path) }
}

/** The main package packed as `npm publish` packs it: in a copy of the checkout, with its scripts. */
function packMain(work) {
  const src = copyPackage(ROOT, path.join(work, 'src'))
  fs.cpSync(path.join(ROOT, 'scripts', 'bundle.js'), path.join(src, 'scripts', 'bundle.js'))
  const out = JSON.parse(npm(['pack', '--json', '--pack-destination', work], src))
  assert.deepEqual(fs.readdirSync(src).filter((f) => f.startsWith(BUNDLE)), [], 'postpack removed the bundle')
  return { tarball: path.join(work, out[0].filename), files: out[0].files.map((f) => f.path) }
}

function runIn(project, script) {
  return spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8', timeout: 20_000 })
}

test(`npm pack + offline install of pompelmi and pompelmi-${TRIPLE}: require('pompelmi') scans`, { skip: `${process.platform}-${process.arch}` !== 'linux-x64' && 'the prebuilt package tested here is linux-x64-gnu' }, (t) => {
  const work = tempDir(t)
  // The platform package gets the binary that `npm run build` produced, as CI's artifacts step does.
  const platformDir = path.join(work, TRIPLE)
  fs.cpSync(path.join(ROOT, 'npm', TRIPLE), platformDir, { recursive: true })
  fs.copyFileSync(path.join(ROOT, `pompelmi.${TRIPLE}.node`), path.join(platformDir, `pompelmi.${TRIPLE}.node`))
  const main = packMain(work)
  const native = pack(platformDir, work)
  assert.ok(!main.files.some((f) => f.endsWith('.node')), 'the main package carries no binary')
  for (const f of ['index.js', BUNDLE, `${BUNDLE}.map`, 'index.mjs', 'index.d.ts', 'binding.js', 'bin/pompelmi.js', 'lib/core/client.js', 'lib/middleware.js']) assert.ok(main.files.includes(f), f)
  assert.ok(!main.files.some((f) => f.startsWith('scripts/')), 'the packing script stays out of the package')
  assert.deepEqual(native.files.sort(), ['README.md', 'package.json', `pompelmi.${TRIPLE}.node`])

  const project = path.join(work, 'app')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"app","version":"1.0.0","private":true}')
  npm(['install', '--offline', '--no-save', main.tarball, native.tarball], project)
  const r = runIn(
    project,
    `const p = require('pompelmi')
    const fromBundle = Object.keys(require.cache).some((f) => f.endsWith(${JSON.stringify(`${path.sep}pompelmi${path.sep}${BUNDLE}`)}))
    Promise.all([p.scanBuffer(Buffer.from('hello'), { port: ${clamd.port} }), p.scanBuffer(Buffer.from(${JSON.stringify(EICAR.toString('base64'))}, 'base64'), { socket: ${JSON.stringify(clamd.socket)} }), p.scanBuffer(Buffer.from('hello'), { port: 1 }).catch((e) => e.code)])
      .then((v) => console.log(fromBundle, v[0].description, v[1].description, v[2]))`,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'true Clean Malicious ECONNREFUSED')
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', `import { Verdict, ping } from 'pompelmi'; console.log(await ping({ socket: ${JSON.stringify(clamd.socket)} }), typeof Verdict.Clean)`], { cwd: project, encoding: 'utf8' })
  assert.equal(esm.stdout.trim(), 'true symbol', esm.stderr)
  const cli = spawnSync(path.join(project, 'node_modules', '.bin', 'pompelmi'), ['ping', '--port', String(clamd.port)], { encoding: 'utf8' })
  assert.equal(cli.stdout.trim(), 'PONG', cli.stderr)

  // The same install without the platform package: a clear error naming what is missing.
  const bare = path.join(work, 'bare')
  fs.mkdirSync(bare)
  fs.writeFileSync(path.join(bare, 'package.json'), '{"name":"bare","version":"1.0.0","private":true}')
  npm(['install', '--offline', '--no-save', main.tarball], bare)
  const missing = runIn(bare, `try { require('pompelmi') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`)
  const err = JSON.parse(missing.stdout)
  assert.equal(err.code, 'ERR_POMPELMI_NO_BINARY')
  assert.match(err.message, new RegExp(`\\(${TRIPLE}\\)`))
  assert.match(err.message, new RegExp(`pompelmi-${TRIPLE} is not installed`))
})

test('every npm/ platform package matches a napi target and is an optional dependency', () => {
  const pkg = require('../package.json')
  const dirs = fs.readdirSync(path.join(ROOT, 'npm')).sort()
  assert.deepEqual(dirs, ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-arm64-musl', 'linux-x64-gnu', 'linux-x64-musl', 'win32-arm64-msvc', 'win32-x64-msvc'])
  for (const dir of dirs) {
    const sub = require(path.join(ROOT, 'npm', dir, 'package.json'))
    assert.equal(sub.name, `pompelmi-${dir}`)
    assert.equal(sub.version, pkg.version)
    assert.equal(sub.main, `pompelmi.${dir}.node`)
    assert.equal(pkg.optionalDependencies[sub.name], pkg.version)
  }
})

test('the release workflow is valid YAML that builds, tests and publishes every target', () => {
  const yaml = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path.join(ROOT, '.github', 'workflows', 'release.yml')], { encoding: 'utf8' })
  assert.equal(yaml.status, 0, yaml.stderr)
  const wf = JSON.parse(yaml.stdout)
  const targets = wf.jobs.build.strategy.matrix.settings.map((s) => s.target)
  // Exactly the napi targets of package.json.
  assert.deepEqual(targets.sort(), [...require('../package.json').napi.targets].sort())
  assert.ok(targets.includes('aarch64-unknown-linux-musl') && targets.includes('aarch64-pc-windows-msvc'))
  assert.ok(wf.jobs.test && wf.jobs.publish, 'test and publish jobs')
  // Every binary built is tested on a runner that can run it: the suite, or the smoke test.
  const tested = wf.jobs.test.strategy.matrix.settings
  assert.deepEqual(tested.map((s) => s.target).sort(), targets.sort())
  for (const s of tested) assert.match(s.run, s.target === 'x86_64-unknown-linux-gnu' ? /npm test/ : /node scripts\/smoke\.js/)
  assert.deepEqual(wf.jobs.publish.needs.sort(), ['build', 'test'])
  // The main package is published with its scripts, so that prepack bundles it.
  const publish = wf.jobs.publish.steps.find((s) => /npm publish --access/.test(s.run || '')).run
  assert.match(publish, /^\s*npm publish --access public --provenance\s*$/m)
  assert.doesNotMatch(publish, /--ignore-scripts/)
})

test('scripts/smoke.js (what the release workflow runs for every other binary) passes here', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'smoke.js')], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /clamd client ok, local mode ok/)
})
