'use strict'
// The Verdict symbols, and the native verdict names they map from.

// Plain, unregistered Symbols created once per JS realm: the same instances from CJS, ESM, every
// call, and even from a second copy of this package (pompelmi 1.x made new ones per copy).
const VERDICT_KEY = Symbol.for('pompelmi.Verdict')
if (!globalThis[VERDICT_KEY]) {
  Object.defineProperty(globalThis, VERDICT_KEY, {
    value: Object.freeze({ Clean: Symbol('Clean'), Malicious: Symbol('Malicious'), ScanError: Symbol('ScanError') }),
  })
}
const Verdict = globalThis[VERDICT_KEY]
const VERDICT_BY_NAME = { clean: Verdict.Clean, malicious: Verdict.Malicious, error: Verdict.ScanError }

module.exports = { Verdict, VERDICT_BY_NAME }
