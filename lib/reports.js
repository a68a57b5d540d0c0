'use strict'
// generateDashboard (a self-contained HTML report) and generateShareCard (an SVG badge), from
// rows `{ file, verdict: 'clean' | 'infected' | 'error', viruses? }` or a DirectoryScanResult.

const fs = require('node:fs')

const VERSION = require('../package.json').version

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

function toRows(input) {
  if (Array.isArray(input)) return input
  const r = input || {}
  return [
    ...(r.clean || []).map((file) => ({ file, verdict: 'clean' })),
    ...(r.malicious || []).map((file) => ({ file, verdict: 'infected', viruses: [] })),
    ...(r.errors || []).map((file) => ({ file, verdict: 'error' })),
  ]
}

/** Rows by verdict; any row that is neither clean nor infected counts as an error. */
function counts(rows) {
  const clean = rows.filter((r) => r.verdict === 'clean').length
  const infected = rows.filter((r) => r.verdict === 'infected').length
  return { total: rows.length, clean, infected, errors: rows.length - clean - infected }
}

/**
 * The one-line result and its tone. "All clean" only when every row is clean: a scan that
 * failed (clamd unreachable, a limit) is never reported as clean.
 */
function headline(c) {
  if (c.infected) return { status: 'infected', text: `${c.infected} infected file${c.infected === 1 ? '' : 's'} found`, short: `${c.infected} infected` }
  if (c.errors) {
    const text = `${c.errors} file${c.errors === 1 ? '' : 's'} could not be scanned`
    return { status: 'error', text, short: `${c.errors} scan error${c.errors === 1 ? '' : 's'}` }
  }
  if (c.total === 0) return { status: 'error', text: 'No files scanned', short: 'No files scanned' }
  return { status: 'clean', text: 'All clean', short: 'All clean' }
}

function generateDashboard(input, options) {
  const { elapsed, clamdVersion, host, port, socket, outputPath } = options || {}
  const rows = toRows(input)
  const c = counts(rows)
  const { status, text } = headline(c)
  const target = socket ? `unix:${socket}` : host || port ? `tcp://${host || '127.0.0.1'}:${port || 3310}` : 'clamscan (local)'
  const tableRows = rows
    .map(
      (r) =>
        `<tr class="${escape(r.verdict)}"><td>${escape(r.file)}</td><td>${escape(r.verdict)}</td><td>${escape((r.viruses || []).join(', '))}</td></tr>`,
    )
    .join('\n')
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pompelmi scan report</title>
<style>
  :root { --bg: #ffffff; --fg: #1b1b1b; --muted: #666; --card: #f4f4f5; --ok: #15803d; --bad: #b91c1c; --warn: #b45309; }
  @media (prefers-color-scheme: dark) { :root { --bg: #111113; --fg: #ececec; --muted: #a1a1aa; --card: #1f1f23; --ok: #4ade80; --bad: #f87171; --warn: #fbbf24; } }
  body { background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, sans-serif; margin: 2rem; }
  .banner { padding: 1rem 1.25rem; border-radius: 8px; font-weight: 600; margin-bottom: 1.5rem; }
  .banner.clean { background: color-mix(in srgb, var(--ok) 18%, transparent); color: var(--ok); }
  .banner.infected { background: color-mix(in srgb, var(--bad) 18%, transparent); color: var(--bad); }
  .banner.error { background: color-mix(in srgb, var(--warn) 18%, transparent); color: var(--warn); }
  .stats { display: flex; gap: 1rem; margin-bottom: 1.5rem; flex-wrap: wrap; }
  .stat { background: var(--card); border-radius: 8px; padding: 0.75rem 1rem; min-width: 8rem; }
  .stat b { display: block; font-size: 1.6rem; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--card); word-break: break-all; }
  tr.infected td { color: var(--bad); } tr.error td { color: var(--warn); }
  footer { margin-top: 2rem; color: var(--muted); font-size: 0.85rem; }
  @media print { body { margin: 0; color: #000; background: #fff; } .banner { border: 1px solid #000; } a { color: #000; } }
</style>
</head>
<body>
<div class="banner ${status}">${escape(text)}</div>
<div class="stats">
  <div class="stat" id="total"><b>${c.total}</b>scanned</div>
  <div class="stat" id="clean"><b>${c.clean}</b>clean</div>
  <div class="stat" id="infected"><b>${c.infected}</b>infected</div>
  <div class="stat" id="errors"><b>${c.errors}</b>errors</div>
</div>
<table>
<thead><tr><th>File</th><th>Verdict</th><th>Viruses</th></tr></thead>
<tbody>
${tableRows}
</tbody>
</table>
<footer>Scanned with ${escape(target)}${clamdVersion ? ` (${escape(clamdVersion)})` : ''}${elapsed != null ? ` in ${escape(elapsed)} ms` : ''} · pompelmi ${VERSION} · <a href="https://pompelmi.app">pompelmi.app</a></footer>
</body>
</html>
`
  if (outputPath) fs.writeFileSync(outputPath, html)
  return html
}

function generateShareCard(input, options) {
  const { outputPath } = options || {}
  const c = counts(toRows(input))
  const { status, short } = headline(c)
  const color = { infected: '#b91c1c', error: '#b45309', clean: '#15803d' }[status]
  const date = new Date().toISOString().slice(0, 10)
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="560" height="200" viewBox="0 0 560 200" role="img" aria-label="pompelmi: ${escape(short)}">
  <rect width="560" height="200" rx="16" fill="#111113"/>
  <text x="32" y="56" font-family="system-ui, sans-serif" font-size="22" fill="#f9a8d4" font-weight="700">pompelmi</text>
  <text x="32" y="120" font-family="system-ui, sans-serif" font-size="44" fill="${color}" font-weight="700">${escape(short)}</text>
  <text x="32" y="164" font-family="system-ui, sans-serif" font-size="16" fill="#a1a1aa">${c.total} files scanned · ${date} · v${VERSION}</text>
</svg>
`
  if (outputPath) fs.writeFileSync(outputPath, svg)
  return svg
}

module.exports = { generateDashboard, generateShareCard }
