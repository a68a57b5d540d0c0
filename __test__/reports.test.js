'use strict'
// generateDashboard, generateShareCard and generateScorecard. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const pompelmi = require('..')
const { tempDir } = require('./helpers/samples.js')


test('generateDashboard and generateShareCard: counts, virus names, escaped paths, dark mode, print CSS', (t) => {
  const rows = [
    { file: '/up/<script>alert(1)</script>.txt', verdict: 'clean' },
    { file: '/up/eicar.com', verdict: 'infected', viruses: ['Eicar-Test-Signature'] },
    { file: '/up/broken', verdict: 'error' },
  ]
  const out = path.join(tempDir(t), 'report.html')
  const html = pompelmi.generateDashboard(rows, { outputPath: out, elapsed: 1234, clamdVersion: 'ClamAV 1.4.6', port: 3310 })
  assert.ok(html.startsWith('<!DOCTYPE html>'))
  assert.equal(fs.readFileSync(out, 'utf8'), html)
  for (const needle of ['banner infected', 'Eicar-Test-Signature', '&lt;script&gt;', 'prefers-color-scheme', '@media print', 'pompelmi.app', '<b>3</b>scanned', '<b>1</b>infected']) assert.ok(html.includes(needle), needle)
  assert.ok(!html.includes('<script>alert'), 'paths are escaped')
  assert.ok(pompelmi.generateDashboard({ clean: ['/a'], malicious: [], errors: [] }).includes('banner clean'))
  const svg = pompelmi.generateShareCard(rows)
  assert.ok(svg.startsWith('<svg') && svg.trim().endsWith('</svg>'))
  assert.match(svg, /3 files scanned — 1 infected/)
  // Each count is an element of its own, over its label, as in 1.x.
  assert.match(svg, /<text id="infected"[^>]*>1<\/text>\s*<text[^>]*>INFECTED<\/text>/)
  assert.match(svg, /<text id="total"[^>]*>3<\/text>\s*<text[^>]*>TOTAL<\/text>/)
  assert.match(svg, /<text id="clean"[^>]*>1<\/text>\s*<text[^>]*>CLEAN<\/text>/)
  assert.match(svg, new RegExp(String(new Date().getFullYear())))
  assert.match(pompelmi.generateShareCard({ clean: ['/a', '/b'], malicious: [], errors: [] }), /2 files scanned — All clean/)
})

test('generateScorecard: same checks, weights, grades, labels and recommendations as 1.x', async () => {
  const full = await pompelmi.generateScorecard({ scanEnabled: true, mimeTypeAllowlist: ['image/png'], fileSizeLimit: 1e6, diskWriteBeforeScan: false, scanErrorBehavior: 'reject', clamdUnavailableBehavior: 'reject', tlsEnabled: true })
  assert.deepEqual([full.grade, full.score, full.recommendations], ['A', 100, []])
  const empty = await pompelmi.generateScorecard({})
  assert.deepEqual([empty.grade, empty.score, empty.recommendations.length], ['F', 0, 7])
  const b = await pompelmi.generateScorecard({ scanEnabled: true, mimeTypeAllowlist: ['a/b'], fileSizeLimit: 1, diskWriteBeforeScan: false, scanErrorBehavior: 'allow', clamdUnavailableBehavior: 'reject' })
  assert.deepEqual([b.grade, b.score, b.recommendations.length], ['B', 85, 2])
  assert.deepEqual(b.findings[0], { check: 'Virus scanning enabled', status: 'pass', weight: 30, key: 'scanEnabled' })
  assert.equal(b.findings.reduce((s, f) => s + f.weight, 0), 100)
  // 1.x's labels and recommendation texts, exactly, in 1.x's order.
  assert.deepEqual(empty.findings.map((f) => [f.key, f.check]), [
    ['scanEnabled', 'Virus scanning enabled'],
    ['mimeTypeAllowlist', 'MIME type allowlist'],
    ['fileSizeLimit', 'File size limit'],
    ['diskWriteBeforeScan', 'No disk write before scan'],
    ['scanErrorBehavior', 'Scan error behavior is reject'],
    ['clamdUnavailableBehavior', 'clamd unavailable behavior is reject'],
    ['tlsEnabled', 'TLS enabled on upload endpoint'],
  ])
  assert.deepEqual(b.recommendations, [
    'Set scanErrorBehavior to "reject" — failing open on scan errors is a security risk.',
    'Enable TLS (HTTPS) on your upload endpoint to protect files in transit.',
  ])
  assert.deepEqual(empty.recommendations.slice(0, 4), [
    'Enable virus scanning by integrating pompelmi into your upload handler.',
    'Define an explicit MIME type allowlist to reject unexpected file types.',
    'Set a maximum file size limit to prevent resource exhaustion.',
    'Scan files in-memory before writing to disk to avoid storing malware even temporarily.',
  ])
  assert.equal(empty.recommendations[5], 'Set clamdUnavailableBehavior to "reject" — if clamd is down, deny uploads rather than allowing them through.')
})
