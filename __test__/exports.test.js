'use strict'
// pompelmi 1.x's export object. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')

const pompelmi = require('..')


test('the export object has pompelmi 1.x\'s 17 names', () => {
  const names = ['scan', 'scanBuffer', 'scanStream', 'scanDirectory', 'Verdict', 'middleware', 'scanS3', 'createPool', 'watch', 'notify', 'createScanner', 'generateDashboard', 'generateShareCard', 'generateScorecard', 'createCache', 'createPolicy', 'createMultiEngine']
  for (const name of names) assert.ok(name in pompelmi, name)
})
