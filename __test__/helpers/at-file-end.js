'use strict'
// Stops what a helper started (a dnsmasq, a stunnel) when the test file ends: at the file's
// root `after` hook (a hook made inside a test would run with that test instead), or, should the
// process end without its hooks (process.exit, an uncaught exception), on its `exit`.
const test = require('node:test')

const stops = new Set()
const stopAll = () => {
  for (const stop of stops) stop()
  stops.clear()
}
test.after(stopAll)
process.on('exit', stopAll)

/** Runs the synchronous `stop` once, when the test file ends. */
function atFileEnd(stop) {
  stops.add(stop)
}

module.exports = { atFileEnd }
