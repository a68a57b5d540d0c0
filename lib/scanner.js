'use strict'
// createScanner: an EventEmitter over scan(). Emits 'clean'(path), 'malicious'(path, viruses),
// 'scanError'(path, report), 'error'(err, path). Fixed from 1.x: 'malicious' carries the virus
// names, and a missing 'error' listener does not crash the process.

const { EventEmitter } = require('node:events')
const fs = require('node:fs')
const path = require('node:path')

module.exports = function scannerFactory({ inspect, Verdict }) {
  return function createScanner(options) {
    const emitter = new EventEmitter()
    const fail = (err, file) => {
      // EventEmitter throws on 'error' without a listener; inside a promise that would become an
      // unhandled rejection that can take the process down. Unheard errors are dropped instead.
      if (emitter.listenerCount('error') > 0) emitter.emit('error', err, file)
    }
    async function scanOne(file) {
      try {
        const report = await inspect(file, options)
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
      void (async () => {
        if (typeof dir !== 'string' || !fs.existsSync(dir)) return fail(new Error(`Directory not found: ${dir}`), dir)
        const files = (await fs.promises.readdir(dir, { recursive: true })).map((e) => path.join(dir, e)).sort()
        for (const file of files) {
          const stat = await fs.promises.stat(file).catch(() => null)
          if (stat && stat.isFile()) await scanOne(file)
        }
        emitter.emit('complete', dir)
      })()
    }
    return emitter
  }
}
