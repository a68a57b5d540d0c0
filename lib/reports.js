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

/**
 * A 560×200 SVG card, laid out as pompelmi 1.x's: the headline (`3 files scanned — All clean`,
 * `— 1 infected`, or here `— 2 scan errors`), then each count as a text element of its own over
 * its label (TOTAL, CLEAN, INFECTED, and ERRORS), then the date and version.
 */
function generateShareCard(input, options) {
  const { outputPath } = options || {}
  const c = counts(toRows(input))
  const { status, short } = headline(c)
  const title = c.total === 0 ? short : `${c.total} file${c.total === 1 ? '' : 's'} scanned — ${short}`
  const tone = {
    clean: { bg: '#f0fdf4', line: '#86efac', ink: '#15803d' },
    infected: { bg: '#fff1f2', line: '#fca5a5', ink: '#b91c1c' },
    error: { bg: '#fffbeb', line: '#fcd34d', ink: '#b45309' },
  }[status]
  const date = new Date().toISOString().slice(0, 10)
  const font = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
  const stat = (id, x, value, label, ink) =>
    `  <text id="${id}" x="${x}" y="145" ${font} font-size="28" font-weight="800" fill="${ink}" text-anchor="middle">${value}</text>
  <text x="${x}" y="162" ${font} font-size="11" fill="#64748b" text-anchor="middle">${label}</text>`
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="560" height="200" viewBox="0 0 560 200" role="img" aria-label="pompelmi scan result: ${escape(title)}">
  <rect width="560" height="200" rx="14" fill="${tone.bg}" stroke="${tone.line}" stroke-width="2"/>
  <text x="24" y="42" ${font} font-size="15" font-weight="700" fill="#0f172a">pompelmi</text>
  <text x="24" y="58" ${font} font-size="11" fill="#64748b">Virus scan report</text>
  <line x1="24" y1="76" x2="536" y2="76" stroke="${tone.line}" stroke-width="1.5"/>
  <text id="headline" x="280" y="112" ${font} font-size="20" font-weight="700" fill="${tone.ink}" text-anchor="middle">${escape(title)}</text>
${stat('total', 100, c.total, 'TOTAL', '#2563eb')}
${stat('clean', 220, c.clean, 'CLEAN', '#15803d')}
${stat('infected', 340, c.infected, 'INFECTED', '#b91c1c')}
${stat('errors', 460, c.errors, 'ERRORS', '#b45309')}
  <line x1="24" y1="178" x2="536" y2="178" stroke="${tone.line}" stroke-width="1"/>
  <text x="24" y="193" ${font} font-size="11" fill="#94a3b8">${date}</text>
  <text x="536" y="193" ${font} font-size="11" fill="#94a3b8" text-anchor="end">pompelmi v${escape(VERSION)} • pompelmi.app</text>
</svg>
`
  if (outputPath) fs.writeFileSync(outputPath, svg)
  return svg
}

module.exports = { generateDashboard, generateShareCard }
