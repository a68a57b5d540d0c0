'use strict'
// The dashboard rendered by a real browser (Debian's headless Chromium, installed by
// scripts/setup.sh): the screenshot is produced and the rendered page shows the counts.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { generateDashboard } = require('..')
const { tempDir } = require('./helpers/samples.js')

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p))

function chromium(dir, ...args) {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(dir, 'profile')}`]
  return spawnSync(CHROMIUM, [...flags, ...args], { encoding: 'utf8', timeout: 60_000 })
}

test('headless Chromium renders the dashboard: a screenshot, and the counts on the page', (t) => {
  assert.ok(CHROMIUM, 'chromium is installed (scripts/setup.sh installs it)')
  const dir = tempDir(t)
  const html = path.join(dir, 'report.html')
  generateDashboard(
    [
      { file: '/uploads/a.pdf', verdict: 'clean' },
      { file: '/uploads/b.pdf', verdict: 'clean' },
      { file: '/uploads/eicar.com', verdict: 'infected', viruses: ['Eicar-Test-Signature'] },
      { file: '/uploads/broken.zip', verdict: 'error' },
    ],
    { outputPath: html, port: 3310, clamdVersion: 'ClamAV 1.4.6' },
  )
  const png = path.join(dir, 'report.png')
  const shot = chromium(dir, `--screenshot=${png}`, '--window-size=1000,700', `file://${html}`)
  assert.ok(fs.existsSync(png), shot.stderr)
  const bytes = fs.readFileSync(png)
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG')
  assert.ok(bytes.length > 5000, `a real picture (${bytes.length} bytes)`)
  if (process.env.POMPELMI_KEEP_SCREENSHOT) fs.copyFileSync(png, process.env.POMPELMI_KEEP_SCREENSHOT)
  const dom = chromium(dir, '--dump-dom', `file://${html}`).stdout
  const stat = (id) => new RegExp(`id="${id}"><b>(\\d+)</b>`).exec(dom)[1]
  assert.deepEqual([stat('total'), stat('clean'), stat('infected'), stat('errors')], ['4', '2', '1', '1'])
  assert.match(dom, /1 infected file found/)
  assert.match(dom, /Eicar-Test-Signature/)
})
