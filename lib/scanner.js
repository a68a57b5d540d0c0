'use strict'
// createScanner: an EventEmitter over scan(). Emits 'clean'(path), 'malicious'(path, viruses),
// 'scanError'(path, report), 'error'(err, path). Fixed from 1.x: 'malicious' carries the virus
// names, and a missing 'error' listener does not crash the process.

const { EventEmitter } = require('node:events')
const fs = require('node:fs')

const { walk, walkedTarget } = require('./core/walk.js')
const errors = require('./core/errors.js')
const { invalidOption } = errors
const { inspect } = require('./core/shared.js')
const { Verdict } = require('./core/verdict.js')
const { WALKED, own, resolveTarget } = require('./core/options.js')

module.exports = function createScanner(scannerOptions) {
  const { followSymlinks = false, ...options } = own(scannerOptions)
  if (typeof followSymlinks !== 'boolean') throw invalidOption('followSymlinks', 'a boolean', followSymlinks)
  resolveTarget(options) // bad connection options throw now, not on every file
  const emitter = new EventEmitter()
  const fail = (err, file) => {
    // EventEmitter throws on 'error' without a listener; inside a promise that would become an
    // unhandled rejection that can take the process down. Unheard errors are dropped instead.
    if (emitter.listenerCount('error') > 0) emitter.emit('error', err, file)
  }
  async function scanOne(file, target = file, walked = undefined) {
    try {
      const report = await inspect(target, walked ? { ...options, [WALKED]: walked } : options)
      if (report.verdict === Verdict.Clean) emitter.emit('clean', file)
      else if (report.verdict === Verdict.Malicious) emitter.emit('malicious', file, report.viruses)
      else emitter.emit('scanError', file, report)
    } catch (err) {
      fail(err, file)
    }
  }
  emitter.scan = (file) => {
    void scanOne(file)
  }
  emitter.scanDirectory = (dir) => {
    // Every failure becomes an 'error' event (or is dropped without a listener): nothing here
    // may reject unhandled, whatever `dir` is.
    ;(async () => {
      if (typeof dir !== 'string' || !fs.existsSync(dir)) return fail(errors.directoryNotFound(dir), dir)
      if (!(await fs.promises.stat(dir)).isDirectory()) return fail(errors.coded(`Not a directory: ${dir}`, 'ENOTDIR'), dir)
      const { root, files, problems } = await walk(dir, { followSymlinks })
      for (const { path: file, reason } of problems) fail(Object.assign(new Error(`${reason}: ${file}`), { code: 'ERR_WALK', reason }), file)
      for (const f of files) await scanOne(f.path, f.real || f.path, walkedTarget(root, f))
      emitter.emit('complete', dir)
    })().catch((err) => fail(err, dir))
  }
  return emitter
}
