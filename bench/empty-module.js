'use strict'
// A module with nothing in it: what requiring any module costs in a fresh Node process (the
// cold-start bound).
module.exports = {}
