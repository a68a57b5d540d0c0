#!/usr/bin/env node
'use strict'
// `npm pack` (prepack): writes index.bundle.js and its source map: index.js and the scanning core
// that it loads, as one file. Node's loader pays for each file it resolves, reads and compiles; as
// one file, these nine took 0.7–1.9 ms less of `require('pompelmi')` from `node -e`, and 0.3–0.6 ms
// less from an entry file (2026-12-07; README, "Cold start"). Each core module is still a Module in
// `require.cache` under its own path, so a feature module or adapter loaded later gets the same
// ones, and the source map points stack traces at the sources (`node --enable-source-maps`).
//
// `node scripts/bundle.js [packageDir]` writes the bundle; `--clean` (postpack) removes it. A
// checkout has none: the sources are what the tests run, and a fast-tier test fails on a leftover.

const fs = require('node:fs')
const path = require('node:path')

const BUNDLE = 'index.bundle.js'
/** index.js, then what `require('pompelmi')` loads besides it (a test keeps this list exact). */
const MODULES = [
  'index.js',
  'lib/core/verdict.js',
  'lib/core/client.js',
  'lib/core/binding.js',
  'lib/core/options.js',
  'lib/core/errors.js',
  'lib/core/inputs.js',
  'lib/core/diagnostics.js',
  'lib/core/shared.js',
]
/**
 * index.js's first statement hands over to the bundle when Node's own loader loads it (another
 * module system, such as jest's registry, would not share the core the bundle puts in
 * require.cache); inside the bundle it is left out.
 */
const HANDOVER = "if (module instanceof require('node:module') && require('node:fs').existsSync(`${__dirname}/index.bundle.js`)) return void (module.exports = require('./index.bundle.js'))"

// Runs the modules as Node's loader would: each core module is a Module in require.cache under its
// own path; a relative require of another bundled module loads it from here, and anything else
// goes through that module's own `require`, as if it had been loaded from its file. index.js runs
// as this file's own module (same directory), so its exports are the package's.
const LOADER = `
const Module = require('node:module')
const path = require('node:path')

function run(name, module) {
  const filename = path.join(__dirname, name)
  const dirname = path.dirname(filename)
  const localRequire = (id) => {
    if (id[0] === '.') {
      const local = path.posix.join(path.posix.dirname(name), id)
      if (Object.hasOwn(modules, local)) return load(local, module)
    }
    return module.require(id)
  }
  localRequire.resolve = (request, options) => Module._resolveFilename(request, module, false, options)
  localRequire.cache = Module._cache
  localRequire.main = require.main
  modules[name].call(module.exports, module.exports, localRequire, module, filename, dirname)
}

function load(name, parent) {
  const filename = path.join(__dirname, name)
  const cached = Module._cache[filename]
  if (cached) return cached.exports
  const module = new Module(filename, parent)
  module.filename = filename
  module.paths = Module._nodeModulePaths(path.dirname(filename))
  Module._cache[filename] = module
  try {
    run(name, module)
  } catch (err) {
    delete Module._cache[filename]
    throw err
  }
  module.loaded = true
  return module.exports
}

run('index.js', module)
`

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** A source map's base64 VLQ of one signed integer. */
function vlq(value) {
  let rest = value < 0 ? (-value << 1) | 1 : value << 1
  let out = ''
  do {
    let digit = rest & 31
    rest >>>= 5
    if (rest > 0) digit |= 32
    out += BASE64[digit]
  } while (rest > 0)
  return out
}

/** The bundle's text and its source map, from the sources in `packageDir`. */
function bundle(packageDir) {
  const lines = [
    "'use strict'",
    '// Made by scripts/bundle.js when the package is packed: index.js and the modules of lib/core/',
    '// that it loads, as one file (README, "Cold start"). The sources are beside it.',
    'const modules = {',
  ]
  const mappings = lines.map(() => '')
  let previous = { source: 0, line: 0, column: 0 }
  MODULES.forEach((name, source) => {
    let text = fs.readFileSync(path.join(packageDir, name), 'utf8').replace(/\n$/, '')
    // ASCII only: Node reads an ASCII file fastest, and V8 keeps a source with any character past
    // Latin-1 as two bytes per character, the whole bundle at twice the memory for as long as the
    // process runs (the seven arrows and ellipses the sources had cost 0.02-0.1 ms per require).
    const wide = text.search(/[\u0080-\uffff]/)
    if (wide !== -1) {
      const line = text.slice(0, wide).split('\n').length
      const char = text.codePointAt(wide)
      throw new Error(`${name}:${line}: the bundled sources are ASCII (found U+${char.toString(16).toUpperCase().padStart(4, '0')}, ${String.fromCodePoint(char)}): write it with ASCII characters`)
    }
    if (name === 'index.js') {
      if (text.split('\n').filter((line) => line.trimEnd() === HANDOVER).length !== 1) throw new Error(`index.js must hand over to the bundle with exactly this line:\n${HANDOVER}`)
      text = text.replace(HANDOVER, '')
    }
    lines.push(`${JSON.stringify(name)}: function (exports, require, module, __filename, __dirname) {`)
    mappings.push('')
    text.split('\n').forEach((line, n) => {
      lines.push(line)
      // A segment where each word starts; lines are copied as they are, so a stack frame maps to
      // its own line and column.
      const segments = []
      let column = 0
      for (const word of line.matchAll(/[\w$]+/g)) {
        segments.push(vlq(word.index - column) + vlq(source - previous.source) + vlq(n - previous.line) + vlq(word.index - previous.column))
        column = word.index
        previous = { source, line: n, column }
      }
      mappings.push(segments.join(','))
    })
    lines.push('},')
    mappings.push('')
  })
  lines.push('}', ...LOADER.trim().split('\n'))
  const map = { version: 3, file: BUNDLE, sources: MODULES, names: [], mappings: mappings.join(';') }
  return { code: `${lines.join('\n')}\n//# sourceMappingURL=${BUNDLE}.map\n`, map: `${JSON.stringify(map)}\n` }
}

/** Writes the bundle and its source map into `packageDir`. */
function writeBundle(packageDir) {
  const { code, map } = bundle(packageDir)
  fs.writeFileSync(path.join(packageDir, BUNDLE), code)
  fs.writeFileSync(path.join(packageDir, `${BUNDLE}.map`), map)
}

/**
 * For the bench and the tests: what `npm pack` puts in the tarball (package.json and its `files`),
 * copied from `root` to `dest`, with the binary built in place so that the copy loads.
 */
function copyPackage(root, dest) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  fs.mkdirSync(dest, { recursive: true })
  for (const entry of ['package.json', ...pkg.files.filter((f) => !f.startsWith(BUNDLE)), ...fs.readdirSync(root).filter((f) => f.endsWith('.node'))]) {
    fs.cpSync(path.join(root, entry), path.join(dest, entry), { recursive: true })
  }
  return dest
}

/** The shipped form: the package copied as `npm pack` ships it, then bundled. */
function stagePackage(root, dest) {
  copyPackage(root, dest)
  writeBundle(dest)
  return dest
}

function main(argv) {
  const packageDir = path.resolve(argv.find((a) => !a.startsWith('--')) || path.join(__dirname, '..'))
  const out = path.join(packageDir, BUNDLE)
  if (argv.includes('--clean')) {
    fs.rmSync(out, { force: true })
    fs.rmSync(`${out}.map`, { force: true })
    return
  }
  writeBundle(packageDir)
}

module.exports = { BUNDLE, MODULES, HANDOVER, bundle, copyPackage, stagePackage }

if (require.main === module) main(process.argv.slice(2))
