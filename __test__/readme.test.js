'use strict'
// The README's "Upload shapes" and "Frameworks" sections are run: each block with `// prints:`
// comments runs against the private clamd and must print exactly those lines; every other block
// must be, verbatim, part of a file in examples/ (which the tests run).
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { startClamd } = require('./helpers/clamd.js')
const { tempDir } = require('./helpers/samples.js')

const ROOT = path.join(__dirname, '..')
const clamd = startClamd('main')

function section(title) {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf(`\n## ${title}\n`)
  assert.ok(start >= 0, `README has a "${title}" section`)
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end)
}

const blocks = ['Upload shapes', 'Frameworks'].flatMap((title) => [...section(title).matchAll(/```(?:js|ts)\n([\s\S]*?)```/g)].map((m) => m[1]))
const examples = fs
  .readdirSync(path.join(ROOT, 'examples'), { recursive: true })
  .filter((f) => /\.(js|mjs|ts)$/.test(f) && !f.includes('node_modules'))
  .map((f) => fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'))

test('the sections have runnable blocks and excerpts', () => {
  assert.ok(blocks.filter((b) => b.includes('// prints:')).length >= 5)
  assert.ok(blocks.filter((b) => !b.includes('// prints:')).length >= 8)
})

blocks.forEach((block, i) => {
  const first = block.split('\n').find((line) => line.trim() && !line.startsWith('//'))
  if (!block.includes('// prints:')) {
    test(`block ${i + 1} (${first}) is part of a file in examples/`, () => {
      assert.ok(examples.some((source) => source.includes(block)), 'copied verbatim from examples/')
    })
    return
  }
  test(`block ${i + 1} (${first}) prints what it says`, (t) => {
    const dir = tempDir(t)
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'pompelmi'))
    const code = block.replaceAll("'/run/clamav/clamd.ctl'", JSON.stringify(clamd.socket))
    fs.writeFileSync(path.join(dir, 'example.js'), `(async () => {\n${code}\n})().catch((err) => { console.error(err); process.exit(1) })\n`)
    const r = spawnSync(process.execPath, [path.join(dir, 'example.js')], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, r.stderr)
    const expected = [...block.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1])
    assert.deepEqual(r.stdout.trim().split('\n'), expected)
  })
})
