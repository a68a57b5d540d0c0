#!/usr/bin/env node
'use strict'
// The pompelmi CLI: scan files and directories, ping clamd, print versions.
// Exit codes: 0 clean, 1 infected, 2 scan errors (or usage errors), 3 clamd unreachable.

const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const pompelmi = require('..')
const { isUnreachable: unreachable } = require('../lib/core/errors.js')
const { removeScanned } = require('../lib/core/scanned.js')

const { Verdict } = pompelmi
const VERSION = require('../package.json').version

const HELP = `Usage: pompelmi <command> [options]

Commands:
  scan <file|dir>   scan a file, or every file below a directory (always recursive)
  watch <dir>       scan files as they appear below a directory, until Ctrl-C
  scorecard         grade an upload configuration (--config <file.json>)
  ping              check that clamd answers (needs --host, --port or --socket)
  version           print pompelmi's version (and clamd's, given a clamd)
  help              show this help

Options:
  --host <host>         clamd TCP host
  --port <port>         clamd TCP port (alone: 127.0.0.1)
  --socket <path>       clamd UNIX socket
  --timeout <ms>        idle timeout (default 15000)
  --retries <n>         retries after connection failures (default 0)
  --concurrency <n>     files scanned at once (default 8 with clamd, 1 with clamscan)
  --max-file-size <n>   larger files are scan errors, not sent (bytes, or 100M, 2G; default
                        100M, clamd's MaxFileSize; 0 turns the guard off)
  --database <dir>      local mode: signature directory for clamscan
  --json                print a JSON report (scorecard: the raw result)
  --report [file.html]  write an HTML dashboard of the scan (default pompelmi-report.html)
  --share-card [file.svg]  write an SVG share card (default pompelmi-scan-card.svg)
  --output <file>       write the share card if <file> ends in .svg, the HTML report otherwise
  --delete              remove infected files after the scan: asks [y/N] on a terminal;
                        without one, only together with --yes
  --yes, -y             with --delete: do not ask
  --quarantine <dir>    watch: move infected files there, with a JSON sidecar
  --config <file>       JSON (or .js) with defaults for every option (e.g. { "port": 3310 });
                        for scorecard, the upload configuration to grade
  -r, --recursive       accepted for pompelmi 1.x; scanning is always recursive
  -q, --quiet           print only infected files and errors

Without --host, --port or --socket, files are scanned by the local clamscan.
Exit codes: 0 clean, 1 infected, 2 scan errors, 3 clamd unreachable.`

// Flags that take a value, and those that may (a file name with the right ending).
const VALUE_FLAGS = new Set(['host', 'port', 'socket', 'timeout', 'retries', 'concurrency', 'database', 'max-file-size', 'quarantine', 'config', 'output'])
const OPTIONAL_VALUE = { report: /\.html?$/i, 'share-card': /\.svg$/i }
const BOOLEAN_FLAGS = new Set(['json', 'quiet', 'recursive', 'delete', 'yes'])
const SHORT = { '-q': 'quiet', '-r': 'recursive', '-y': 'yes', '-h': 'help' }
const DEFAULT_OUTPUT = { report: 'pompelmi-report.html', 'share-card': 'pompelmi-scan-card.svg' }

function parse(argv) {
  const args = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const short = SHORT[a]
    if (short === 'help' || a === '--help') args._.unshift('help')
    else if (short) args[short] = true
    else if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s)
      if (BOOLEAN_FLAGS.has(name)) {
        if (inline !== undefined) throw new Error(`--${name} takes no value`)
        args[name] = true
      } else if (OPTIONAL_VALUE[name]) {
        const next = argv[i + 1]
        if (inline !== undefined) args[name] = inline
        else if (next !== undefined && OPTIONAL_VALUE[name].test(next)) args[name] = argv[++i]
        else args[name] = true
      } else if (VALUE_FLAGS.has(name)) {
        const value = inline !== undefined ? inline : argv[++i]
        if (value === undefined) throw new Error(`--${name} needs a value`)
        args[name] = value
      } else throw new Error(`unknown option --${name}`)
    } else args._.push(a)
  }
  return args
}

/** Option defaults from --config: a JSON (or .js) object whose keys are flag names. */
function loadConfig(file) {
  const abs = path.resolve(file)
  if (!fs.existsSync(abs)) {
    const err = new Error(`config file not found: ${abs}`)
    err.code = 'ENOENT'
    throw err
  }
  const config = /\.(c?js|mjs)$/.test(abs) ? require(abs) : JSON.parse(fs.readFileSync(abs, 'utf8'))
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error(`config file ${abs} must hold an object`)
  return config
}

/** Flags from the command line over those from --config (camelCase keys accepted). */
function withConfig(args, config) {
  const merged = { ...args }
  for (const [key, value] of Object.entries(config)) {
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    if (!VALUE_FLAGS.has(name) && !BOOLEAN_FLAGS.has(name) && !OPTIONAL_VALUE[name]) continue
    if (merged[name] === undefined) merged[name] = VALUE_FLAGS.has(name) ? String(value) : value
  }
  return merged
}

function options(args) {
  const opts = {}
  if (args.host !== undefined) opts.host = args.host
  if (args.port !== undefined) opts.port = Number(args.port)
  if (args.socket !== undefined) opts.socket = args.socket
  if (args.timeout !== undefined) opts.timeout = Number(args.timeout)
  if (args.retries !== undefined) opts.retries = Number(args.retries)
  if (args.database !== undefined) opts.database = args.database
  if (args['max-file-size'] !== undefined) opts.maxFileSize = parseSize(args['max-file-size'])
  return opts
}

/** Where the report and the share card go, if anywhere: --report / --share-card / --output. */
function outputs(args) {
  const out = {}
  for (const kind of ['report', 'share-card']) {
    if (args[kind] === true) out[kind] = DEFAULT_OUTPUT[kind]
    else if (typeof args[kind] === 'string') out[kind] = args[kind]
  }
  if (args.output !== undefined) out[/\.svg$/i.test(args.output) ? 'share-card' : 'report'] = args.output
  return out
}

/** A size as clamd.conf writes it: bytes, or with a K, M or G suffix (1M = 1048576). */
function parseSize(text) {
  const m = /^(\d+)([kmg]?)$/i.exec(String(text).trim())
  if (!m) throw new Error(`--max-file-size must be a size such as 104857600 or 100M, not ${JSON.stringify(text)}`)
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase())
}

/**
 * A name as it may reach a terminal: control characters (a `\r` or an escape sequence could
 * redraw the line as a clean one) and bidirectional overrides become visible escapes.
 */
function printable(text) {
  // oxlint-disable-next-line no-control-regex -- matching control characters is the point
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.codePointAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

function progressBar(done, total, infected) {
  const width = 20
  const filled = total === 0 ? width : Math.round((done / total) * width)
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} files${infected ? `, ${infected} infected` : ''}`
}

async function scanCommand(args) {
  const target = args._[1]
  if (!target) {
    console.error('Usage: pompelmi scan <file|dir> [options]')
    return 2
  }
  const abs = path.resolve(target)
  if (!fs.existsSync(abs)) {
    console.error(`Error: path not found: ${abs}`)
    return 2
  }
  const opts = options(args)
  if (args.concurrency !== undefined) opts.concurrency = args.concurrency
  const showProgress = process.stderr.isTTY && !args.json && !args.quiet
  const started = Date.now()
  // The library's directory scan, so the CLI walks, opens and routes exactly as scanDirectory.
  const results = []
  let infected = 0
  for await (const event of pompelmi.scanDirectory.stream(abs, opts)) {
    if (event.type === 'progress' && showProgress && event.total > 1) process.stderr.write(progressBar(event.scanned, event.total, infected))
    if (event.type !== 'result') continue
    if (event.report && event.report.verdict === Verdict.Malicious) infected++
    results.push({ file: event.file, report: event.report, error: event.error || (event.reason && new Error(PROBLEMS[event.reason] || event.reason)) })
  }
  if (showProgress && results.length > 1) process.stderr.write('\n')
  results.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
  const rows = results.map(({ file, report, error }) => {
    if (error) return { file, verdict: 'error', error: error.message, unreachable: unreachable(error) }
    if (report.verdict === Verdict.Malicious) return { file, verdict: 'infected', viruses: report.viruses, report }
    if (report.verdict === Verdict.Clean) return { file, verdict: 'clean' }
    const reason = report.limit ? `${report.reason}: ${report.limit}` : report.reason
    return { file, verdict: 'error', error: `ScanError (${reason})${report.reply ? `: ${report.reply}` : ''}` }
  })
  const summary = {
    scanned: rows.length,
    infected: rows.filter((r) => r.verdict === 'infected').length,
    errors: rows.filter((r) => r.verdict === 'error').length,
    time: Math.round((Date.now() - started) / 100) / 10,
  }
  const reportRows = rows.map(({ file, verdict, viruses }) => ({ file, verdict, viruses }))
  const written = outputs(args)
  if (written.report) pompelmi.generateDashboard(reportRows, { outputPath: written.report, elapsed: Date.now() - started, ...opts })
  if (written['share-card']) pompelmi.generateShareCard(reportRows, { outputPath: written['share-card'] })
  if (args.json) {
    const report = rows.map(({ unreachable: _u, report: _r, ...row }) => row)
    console.log(JSON.stringify({ ...summary, results: report }, null, 2))
  } else {
    for (const r of rows) {
      if (r.verdict === 'infected') console.log(`INFECTED  ${printable(r.file)}  (${printable(r.viruses.join(', '))})`)
      else if (r.verdict === 'error') console.log(`ERROR     ${printable(r.file)}  (${printable(r.error)})`)
      else if (!args.quiet) console.log(`clean     ${printable(r.file)}`)
    }
    if (!args.quiet) {
      console.log(`\nScanned ${summary.scanned} file(s) in ${summary.time}s: ${summary.scanned - summary.infected - summary.errors} clean, ${summary.infected} infected, ${summary.errors} error(s)`)
    }
  }
  if (args.delete) await deleteInfected(rows.filter((r) => r.verdict === 'infected'), args)
  if (rows.some((r) => r.unreachable)) return 3
  if (summary.infected) return 1
  if (summary.errors) return 2
  return 0
}

/** Why a path could not be walked, as the CLI says it. */
const PROBLEMS = {
  'symlink-outside': 'a symlink out of the directory (not followed)',
  'unrepresentable-name': 'a name that is not UTF-8 (cannot be named to the scanner)',
  unreadable: 'cannot be read',
}

/**
 * --delete: on a terminal, asks before removing the infected files; without one it removes
 * nothing unless --yes says so (a script must not delete files by surprise). Only the inode that
 * was scanned is removed, resolved without following links (a path changed since is refused).
 */
async function deleteInfected(infected, args) {
  const files = infected.map((r) => r.file)
  if (files.length === 0) return
  const say = (line) => process.stderr.write(`${line}\n`)
  let confirmed = args.yes === true
  if (!confirmed) {
    if (!process.stdin.isTTY) {
      say(`Not deleting ${files.length} infected file(s): no terminal to confirm on (add --yes to delete without asking).`)
      return
    }
    say(`\nFound ${files.length} infected file(s):`)
    for (const file of files) say(`  ${printable(file)}`)
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr })
    const answer = await new Promise((resolve) => rl.question('Delete these files? [y/N] ', resolve))
    rl.close()
    confirmed = /^(y|yes)$/i.test(answer.trim())
  }
  if (!confirmed) return say('Nothing deleted.')
  for (const { file, report } of infected) {
    try {
      await removeScanned(report, file)
      say(`Deleted: ${printable(file)}`)
    } catch (err) {
      say(`Failed to delete ${printable(file)}: ${err.message}`)
    }
  }
}

/** watch <dir>: one line per scanned file until SIGINT/SIGTERM, which exit 0. */
async function watchCommand(args) {
  const target = args._[1]
  if (!target) {
    console.error('Usage: pompelmi watch <dir> [options]')
    return 2
  }
  const abs = path.resolve(target)
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
    console.error(`Error: directory not found: ${abs}`)
    return 2
  }
  const opts = options(args)
  if (args.quarantine !== undefined) opts.quarantine = path.resolve(args.quarantine)
  const watcher = pompelmi.watch(abs, opts, {
    onClean: (file) => args.quiet || console.log(`clean     ${printable(file)}`),
    onMalicious: (file, viruses, moved) =>
      console.log(`INFECTED  ${printable(file)}  (${printable(viruses.join(', '))})${moved ? `  quarantined: ${printable(moved)}` : ''}`),
    onError: (err, file) => console.log(`ERROR     ${printable(file)}  (${printable(err.message)})`),
  })
  // The handlers are in place before "Watching" is printed: a signal after it always exits 0.
  const stopped = new Promise((resolve) => {
    const stop = () => {
      watcher.close()
      resolve(0)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  process.stderr.write(`Watching ${printable(abs)}${opts.quarantine ? `, quarantine ${printable(opts.quarantine)}` : ''} (Ctrl-C to stop)\n`)
  return stopped
}

/** scorecard: grade, score, findings and recommendations of --config's upload configuration. */
async function scorecardCommand(args, config) {
  const result = await pompelmi.generateScorecard(config)
  if (args.json) {
    console.log(JSON.stringify(result, null, 2))
    return 0
  }
  console.log(`Upload Security Scorecard\n\nGrade: ${result.grade}   Score: ${result.score}/100\n`)
  for (const f of result.findings) console.log(`  ${f.status === 'pass' ? 'PASS' : 'FAIL'}  ${f.check.padEnd(40)} (weight: ${f.weight})`)
  if (result.recommendations.length) {
    console.log('\nRecommendations:')
    for (const r of result.recommendations) console.log(`  - ${r}`)
  }
  return 0
}

async function main(argv) {
  let args
  let config = {}
  try {
    args = parse(argv)
    if (args.config !== undefined) {
      config = loadConfig(args.config)
      args = withConfig(args, config)
    }
    options(args) // flag values are checked before any command runs
  } catch (err) {
    if (err.code === 'ENOENT') console.error(`Error: ${err.message}`)
    else console.error(`Error: ${err.message}\n\n${HELP}`)
    return 2
  }
  const command = args._[0]
  switch (command) {
    case 'scan':
      return scanCommand(args)
    case 'watch':
      return watchCommand(args)
    case 'scorecard':
      return scorecardCommand(args, config)
    case 'ping':
      try {
        await pompelmi.ping({ timeout: 5000, ...options(args) })
        if (!args.quiet) console.log('PONG')
        return 0
      } catch (err) {
        console.error(`clamd unreachable: ${err.message}`)
        return 3
      }
    case 'version': {
      console.log(`pompelmi ${VERSION}`)
      const opts = options(args)
      if (opts.host !== undefined || opts.port !== undefined || opts.socket !== undefined) {
        try {
          console.log(`clamd: ${await pompelmi.version(opts)}`)
        } catch (err) {
          console.error(`clamd unreachable: ${err.message}`)
          return 3
        }
      }
      return 0
    }
    case undefined:
    case 'help':
      console.log(HELP)
      return 0
    default:
      console.error(`Error: unknown command ${command}\n\n${HELP}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(err)
    process.exitCode = 2
  },
)
