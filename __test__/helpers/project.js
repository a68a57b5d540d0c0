'use strict'
// A throwaway project that has this package "installed" (linked as node_modules/pompelmi), with
// any of the repository's own dev dependencies linked beside it: for running examples and
// snippets as an application would, through the package's exports map.
const fs = require('node:fs')
const path = require('node:path')
const { tempDir } = require('./samples.js')

const ROOT = path.join(__dirname, '..', '..')

/** A temp dir (removed when `t` ends) with package.json (`type`) and the linked packages. */
function linkedProject(t, { type = 'commonjs', packages = [] } = {}) {
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true })
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'pompelmi'))
  for (const name of packages) {
    fs.mkdirSync(path.dirname(path.join(dir, 'node_modules', name)), { recursive: true })
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(dir, 'node_modules', name))
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type }))
  return dir
}

module.exports = { linkedProject, ROOT }
