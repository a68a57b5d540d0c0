'use strict'
// `npm run bench`: this package against its peers, side by side, in one run, on one private
// clamd (DisableCache yes; every payload is unique random data). Prints a table and writes
// bench/results.json. Usage: node bench/bench.js (after scripts/bench.sh started clamd).

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, execFileSync, spawnSync } = require('node:child_process')
const { Readable } = require('node:stream')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const pompelmi = require('..')
const pureJs = require('./pompelmi1x.js')
const clamdjs = require('clamdjs')
const NodeClam = require('clamscan')
const { stagePackage } = require('../scripts/bundle.js')

const env = Object.fromEntries(
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'clamd.sh'), 'env', 'bench'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split('=')),
)
const TCP = { host: '127.0.0.1', port: Number(env.CLAMD_PORT) }
const UNIX = { socket: env.CLAMD_SOCKET }
const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = QUICK ? 1 : 7
const FILE_ROUNDS = QUICK ? 1 : 7
const BUFFERS = QUICK ? 300 : 2000
const CONCURRENCY = 16
const FILE_MB = QUICK ? 20 : 100
const STUB_SCANS = QUICK ? 2000 : 20000
const STREAM_MB = QUICK ? 64 : 512

const FLEET_SIZES = [1, 2, 4, 8]
const FLEET_SERVICE_MS = 2
const FLEET_SLOTS = 2
const COLD_STARTS = QUICK ? 7 : 20
const FLOOR_BIN = path.join(__dirname, 'floor', 'target', 'release', 'clamd-floor')
const { floorScans } = require('./floor-js.js')
const ADDON_FLOOR_LIB = path.join(__dirname, 'floor-addon', 'target', 'release', 'libclamd_floor_addon.so')
// Today's build before issue 18, when scripts/bench.sh built it (BENCH_BASELINE=1): a contender.
const BASELINE_DIR = process.env.BENCH_BASELINE_DIR
const baseline = BASELINE_DIR && fs.existsSync(path.join(BASELINE_DIR, 'index.js')) ? require(BASELINE_DIR) : null
const BASELINE = 'pompelmi before issue 18 (37673d5)'
const FLOOR = 'floor: minimal pipelined client (Rust)'
const NODE_FLOOR = 'floor: minimal pipelined client (Node, node:net)'
const ADDON_FLOOR = 'floor: minimal pipelined client (Node addon, replies read on the JS thread)'
const BARE_FILDES = 'bound: one bare FILDES (bench/floor)'
const BARE_INSTREAM = 'bound: one bare INSTREAM (bench/floor)'
const OURS = 'pompelmi (native)'
const TEE = 'pompelmi tee → file'
/** The same scans with the pompelmi:scan tracing check taken out, and with one subscriber. */
const NO_TRACE_CHECK = 'pompelmi (native), tracing check removed'
const TRACED = 'pompelmi (native), one pompelmi:scan subscriber'
/** Contenders that are not peers: ratios "vs the best peer" leave them out. */
const notPeers = new Set([OURS, TEE, NO_TRACE_CHECK, TRACED, FLOOR, NODE_FLOOR, ADDON_FLOOR, BARE_FILDES, BARE_INSTREAM, BASELINE, 'clamd'])
const PURE_JS = 'pure-JS, 1.x style'
/** Rounds of the large single-payload runs (the 512 MiB stream, the 100 MiB Blob). */
const STREAM_ROUNDS = QUICK ? 1 : 3
const LOOP_DELAY_ROUNDS = QUICK ? 2 : 5

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * The Rust floor over `target` (unix:/path or tcp:host:port), at the package's concurrency
 * (4 sessions × 4 in flight = 16): scans/s, timed by the floor itself (payloads made first), and
 * its own CPU per scan over the same part (µs).
 */
function floorRun(target, count) {
  const child = spawnSync(FLOOR_BIN, [target, String(count), '4096', '4', '4'], { encoding: 'utf8' })
  if (child.status !== 0) throw new Error(`floor: ${child.stderr || child.error}`)
  const { scans, seconds, cpuSeconds } = JSON.parse(child.stdout)
  return { rate: scans / seconds, cpuUs: (cpuSeconds * 1e6) / scans }
}

/** bench/floor-addon, built by scripts/bench.sh (a cdylib: loaded by path, whatever its name). */
function loadAddonFloor() {
  const mod = { exports: {} }
  process.dlopen(mod, ADDON_FLOOR_LIB)
  return mod.exports
}

/**
 * The Node addon floor over `target`, in this process and with this package's harness (16
 * concurrent awaits, a promise per scan): scans/s; `cpu` gets this process's CPU µs per scan.
 */
async function addonFloorRun(addonFloor, target, cpu) {
  addonFloor.open(target, 4)
  try {
    return await buffersPerSecond((b) => addonFloor.scan(b).then((ok) => (ok ? 'Clean' : 'ScanError')), BUFFERS, cpu)
  } finally {
    addonFloor.close()
  }
}

/** `list` starting at its `r`-th entry: each round another contender goes first (no place favours one). */
function rotated(list, r) {
  const k = r % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

/** A full collection between rounds (scripts/bench.sh runs node with --expose-gc). */
function collectGarbage() {
  if (typeof global.gc === 'function') global.gc()
}

/** CPU time (µs) a process has used so far, from /proc (Linux). */
function cpuOfPid(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
}

async function nodeClam(opts) {
  return new NodeClam().init({
    removeInfected: false,
    preference: 'clamdscan',
    clamscan: { active: false },
    clamdscan: { ...opts, timeout: 120000, localFallback: false, active: true, bypassTest: true, multiscan: false },
  })
}

const verdictOf = {
  clamscan: (r) => (r.isInfected === false ? 'Clean' : r.isInfected === true ? 'Malicious' : 'ScanError'),
  clamdjs: (reply) => (clamdjs.isCleanReply(reply) ? 'Clean' : 'Malicious'),
}

/** Contenders per transport: name → { buffer(buf), file(path), stream(readable) } → verdict string. */
async function contenders(transport, target) {
  const opts = target || (transport === 'unix' ? UNIX : TCP)
  const nc = await nodeClam(transport === 'unix' ? { socket: opts.socket } : { host: opts.host, port: opts.port })
  const list = {
    [OURS]: {
      buffer: (b) => pompelmi.scanBuffer(b, opts).then((v) => v.description),
      file: (p) => pompelmi.scan(p, opts).then((v) => v.description),
      stream: (s) => pompelmi.scanStream(s, opts).then((v) => v.description),
    },
    ...(baseline && {
      [BASELINE]: { buffer: (b) => baseline.scanBuffer(b, opts).then((v) => v.description) },
    }),
    'pure-JS, 1.x style': {
      buffer: (b) => pureJs.scanBuffer(b, opts),
      file: (p) => pureJs.scan(p, opts),
      stream: (s) => pureJs.scanStream(s, opts),
    },
    'clamscan (npm)': {
      buffer: (b) => nc.scanStream(Readable.from([b])).then(verdictOf.clamscan),
      file: (p) => nc.scanStream(fs.createReadStream(p, { highWaterMark: 65536 })).then(verdictOf.clamscan),
      stream: (s) => nc.scanStream(s).then(verdictOf.clamscan),
    },
  }
  if (transport === 'unix') {
    // clamscan's isInfected() sends the path (SCAN): clamd opens the file itself.
    list['clamscan (npm), path SCAN'] = { file: (p) => nc.isInfected(p).then(verdictOf.clamscan) }
    // What clamd's descriptor scan costs with no client around it: the bound for this package's
    // files over UNIX, which it passes as descriptors.
    list[BARE_FILDES] = { file: (p) => floorFile(['fildes', opts.socket, p]) }
  } else {
    const scanner = clamdjs.createScanner(opts.host, opts.port)
    list['clamdjs (npm)'] = {
      buffer: (b) => scanner.scanBuffer(b, 120000, 65536).then(verdictOf.clamdjs),
      file: (p) => scanner.scanFile(p, 120000, 65536).then(verdictOf.clamdjs),
      stream: (s) => scanner.scanStream(s, 120000).then(verdictOf.clamdjs),
    }
    // What receiving and scanning the file costs clamd with a client that adds nothing: the
    // bound for every INSTREAM client's file over TCP.
    list[BARE_INSTREAM] = { file: (p) => floorFile(['instream', `tcp:${opts.host}:${opts.port}`, p]) }
  }
  return list
}

/** scans/s for `count` unique 4 KiB buffers, CONCURRENCY at a time; `cpu` gets the client's CPU µs per scan. */
function buffersPerSecond(scanBuffer, count = BUFFERS, cpu = null) {
  return timedScans(count, cpu, async (payloads) => {
    let next = 0
    let wrong = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < payloads.length) {
          if ((await scanBuffer(payloads[next++])) !== 'Clean') wrong++
        }
      }),
    )
    if (wrong) throw new Error(`${wrong} wrong verdicts`)
  })
}

/**
 * scans/s of `scanAll(payloads)` over `count` unique 4 KiB buffers made first; `cpu` gets this
 * process's CPU µs per scan over the same part.
 */
async function timedScans(count, cpu, scanAll) {
  const payloads = Array.from({ length: count }, () => crypto.randomBytes(4096))
  const cpu0 = process.cpuUsage()
  const started = process.hrtime.bigint()
  await scanAll(payloads)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (cpu) {
    const used = process.cpuUsage(cpu0)
    cpu.us = (used.user + used.system) / count
  }
  return count / seconds
}

async function startStub(socket) {
  const { fork } = require('node:child_process')
  const child = fork(path.join(__dirname, 'stub-clamd.js'), [socket], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('message', resolve))
  return { child, socket }
}

function randomFile(dir, mb) {
  const file = path.join(dir, `random-${mb}M-${process.hrtime.bigint()}.bin`)
  const fd = fs.openSync(file, 'w', 0o644)
  for (let i = 0; i < mb; i++) fs.writeSync(fd, crypto.randomBytes(1024 * 1024))
  fs.closeSync(fd)
  return file
}

/** One bare request of the floor's binary (`fildes` or `instream`) for a file → a verdict string. */
function floorFile(args) {
  return new Promise((resolve, reject) =>
    execFile(FLOOR_BIN, args, { encoding: 'utf8' }, (err, out) => (err ? reject(err) : resolve(out.trim().endsWith(': OK') ? 'Clean' : out.trim()))),
  )
}

async function timeFile(scanFile, file) {
  const started = process.hrtime.bigint()
  const verdict = await scanFile(file)
  if (verdict !== 'Clean') throw new Error(`verdict ${verdict}`)
  return Number(process.hrtime.bigint() - started) / 1e9
}

/** The event loop's p99 delay during one scan of `file`. */
async function loopDelayP99(scanFile, file) {
  collectGarbage()
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  await scanFile(file)
  h.disable()
  return h.percentile(99) / 1e6
}

/** Peak RSS growth while scanning a generated stream, measured in a child process. */
function streamRssGrowth(contender, transport) {
  const child = spawnSync(process.execPath, [path.join(__dirname, 'stream-rss.js'), contender, transport, String(STREAM_MB)], {
    encoding: 'utf8',
    env: { ...process.env, CLAMD_PORT: env.CLAMD_PORT, CLAMD_SOCKET: env.CLAMD_SOCKET },
    maxBuffer: 1 << 20,
  })
  if (child.status !== 0) throw new Error(`stream-rss ${contender}: ${child.stderr}`)
  return JSON.parse(child.stdout)
}

/**
 * The ${STREAM_MB} MiB generated stream: scanStream and the scanning tee into a file (issue 19),
 * each in its own process, rounds alternating; peak RSS growth and throughput. The pure-JS client
 * once, for its RSS.
 */
async function streamsAndTee(rows) {
  const runs = {}
  const names = [OURS, TEE]
  for (let r = 0; r < STREAM_ROUNDS; r++) {
    for (const name of rotated(names.map((n) => [n]), r).map(([n]) => n)) (runs[name] ||= []).push(streamRssGrowth(name, 'unix'))
  }
  runs[PURE_JS] = [streamRssGrowth(PURE_JS, 'unix')]
  for (const [name, values] of Object.entries(runs)) {
    const growth = values.map((v) => v.growthMiB)
    const scenario = name === TEE ? `${STREAM_MB} MiB generated stream, passthrough() tee into a file` : `${STREAM_MB} MiB generated stream, scanStream()`
    rows.push({ scenario, transport: 'unix', contender: name, value: Math.max(...growth), unit: 'MiB peak RSS growth (max of rounds)', better: 'lower', rounds: growth })
    if (name !== PURE_JS) {
      const rates = values.map((v) => STREAM_MB / v.seconds)
      rows.push({ scenario: `${STREAM_MB} MiB generated stream: throughput`, transport: 'unix', contender: name, value: median(rates), unit: 'MiB/s', better: 'higher', rounds: rates })
    }
    console.error(`stream ${name}: +${Math.max(...growth).toFixed(1)} MiB, ${values.map((v) => `${v.seconds.toFixed(1)} s`).join(' ')} (${values[0].verdict})`)
  }
  const tee = rows.find((r) => r.contender === TEE && r.unit === 'MiB/s')
  const stream = rows.find((r) => r.contender === OURS && r.scenario === tee.scenario)
  tee.vsScanStream = median(tee.rounds.map((v, i) => v / stream.rounds[i]))
}

/** scanBlob of a ${FILE_MB} MiB Blob against scanBuffer of the same bytes (issue 19), interleaved. */
async function blobVsBuffer(rows) {
  const bytes = crypto.randomBytes(FILE_MB * 1024 * 1024)
  const blob = new Blob([bytes])
  const opts = { socket: env.CLAMD_SOCKET, maxFileSize: 0, timeout: 120000 }
  const contenders = { [`${OURS}: scanBuffer`]: () => pompelmi.scanBuffer(bytes, opts), [`${OURS}: scanBlob`]: () => pompelmi.scanBlob(blob, opts) }
  const seconds = {}
  for (let r = 0; r < STREAM_ROUNDS; r++) {
    for (const [name, run] of rotated(Object.entries(contenders), r)) {
      collectGarbage()
      const started = process.hrtime.bigint()
      const verdict = await run()
      if (verdict !== pompelmi.Verdict.Clean) throw new Error(`${name}: ${verdict.description}`)
      ;(seconds[name] ||= []).push(Number(process.hrtime.bigint() - started) / 1e9)
    }
  }
  for (const [name, values] of Object.entries(seconds)) {
    const rates = values.map((s) => FILE_MB / s)
    rows.push({ scenario: `one ${FILE_MB} MiB Blob vs the same bytes as a Buffer`, transport: 'unix', contender: name, value: median(rates), unit: 'MiB/s', better: 'higher', rounds: rates })
    console.error(`${name}: ${median(rates).toFixed(0)} MiB/s`)
  }
  const [buffer, blobRow] = rows.slice(-2)
  blobRow.vsScanBuffer = median(blobRow.rounds.map((v, i) => v / buffer.rounds[i]))
}

function machine() {
  let clamd = ''
  try {
    clamd = execFileSync('/usr/sbin/clamd', ['--version'], { encoding: 'utf8' }).trim()
  } catch {}
  return {
    cpu: os.cpus()[0].model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    clamd,
    date: new Date().toISOString(),
    quick: QUICK,
  }
}

/**
 * Fleet scaling: K stub endpoints, each serving FLEET_SLOTS requests at a time for
 * FLEET_SERVICE_MS each (a CPU-bound clamd with that many threads), behind one client.
 */
async function fleetScaling(dir, rows) {
  const paths = Array.from({ length: Math.max(...FLEET_SIZES) }, (_, i) => path.join(dir, `fleet-${i}.sock`))
  const { fork } = require('node:child_process')
  const child = fork(path.join(__dirname, 'stub-clamd.js'), ['--service-ms', String(FLEET_SERVICE_MS), '--slots', String(FLEET_SLOTS), ...paths], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('message', resolve))
  try {
    const rates = {}
    for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
      for (const k of FLEET_SIZES) {
        const client = pompelmi.createClient({ endpoints: paths.slice(0, k).map((socket) => ({ socket })), timeout: 60000 })
        const scans = (QUICK ? 300 : 1000) * k
        const payloads = Array.from({ length: scans }, () => crypto.randomBytes(4096))
        let next = 0
        const started = process.hrtime.bigint()
        await Promise.all(
          Array.from({ length: 16 * k }, async () => {
            while (next < scans) if ((await client.scanBuffer(payloads[next++])) !== pompelmi.Verdict.Clean) throw new Error('fleet: wrong verdict')
          }),
        )
        ;(rates[k] ||= []).push(scans / (Number(process.hrtime.bigint() - started) / 1e9))
        await client.close()
      }
    }
    const one = median(rates[1])
    for (const k of FLEET_SIZES) {
      const row = {
        scenario: `fleet scaling: ${FLEET_SERVICE_MS} ms per scan, ${FLEET_SLOTS} slots per endpoint, 16 callers per endpoint`,
        transport: 'unix',
        contender: `${k} endpoint${k > 1 ? 's' : ''}`,
        value: median(rates[k]),
        unit: 'scans/s',
        better: 'higher',
        rounds: rates[k],
        endpoints: k,
        vsLinear: median(rates[k]) / (k * one),
      }
      rows.push(row)
      console.error(`fleet ${k}: ${row.value.toFixed(0)} scans/s, ${row.vsLinear.toFixed(2)} of ${k} × one`)
    }
  } finally {
    child.kill()
  }
}

/**
 * Cold start in fresh processes: `require('pompelmi')`, and the first scanBuffer over UNIX after
 * it returns (connection included). Medians of COLD_STARTS runs, each contender in turn. Each is
 * timed twice: from `node -e` (the target's measure), where this is the process's first
 * `require` and pays for Node's loader warming up, and from an entry file, the way a server or a
 * serverless handler loads it (its own file has warmed the loader).
 */
const EMPTY_MODULE = 'bound: an empty module'
const ADDON_ALONE = 'bound: the native addon alone'
const SOURCES = 'this package from its sources (a checkout, unbundled)'

function coldStart(rows, dir) {
  const script = (mod, scanFirst) => `
    const t0 = process.hrtime.bigint()
    const p = require(${JSON.stringify(mod)})
    const t1 = process.hrtime.bigint()
    Promise.resolve(${scanFirst ? 'p.scanBuffer(Buffer.from("cold start"), { socket: process.env.CLAMD_SOCKET })' : 'null'}).then(() => {
      const t2 = process.hrtime.bigint()
      console.log(JSON.stringify({ require: Number(t1 - t0) / 1e6, first: Number(t2 - t1) / 1e6 }))
    })`
  // This package as npm ships it: what `npm pack` puts in the tarball, bundled by its prepack
  // script (scripts/bundle.js). Beside it, the sources as a checkout loads them, and two bounds:
  // an empty module (Node's own cost of a first require), and the native addon alone
  // (lib/core/binding.js loading the .node).
  const shipped = stagePackage(path.join(__dirname, '..'), path.join(dir, 'shipped'))
  const contenders = {
    [OURS]: path.join(shipped, 'index.js'),
    [SOURCES]: require.resolve('..'),
    'pure-JS, 1.x style': path.join(__dirname, 'pompelmi1x.js'),
    [EMPTY_MODULE]: path.join(__dirname, 'empty-module.js'),
    [ADDON_ALONE]: require.resolve('../lib/core/binding.js'),
  }
  timeColdStarts(rows, dir, contenders, script)
}

/** Each contender in turn, COLD_STARTS times: from `node -e`, and from an entry file in `dir`. */
function timeColdStarts(rows, dir, contenders, script) {
  const runs = {}
  const fromFile = {}
  const entries = Object.fromEntries(
    Object.entries(contenders).map(([name, mod], i) => {
      const file = path.join(dir, `cold-start-${i}.js`)
      fs.writeFileSync(file, script(mod, false))
      return [name, file]
    }),
  )
  const spawn = (name, args) => {
    const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, CLAMD_SOCKET: env.CLAMD_SOCKET } })
    if (child.status !== 0) throw new Error(`cold start ${name}: ${child.stderr}`)
    return JSON.parse(child.stdout)
  }
  for (let i = 0; i < COLD_STARTS; i++) {
    for (const [name, mod] of Object.entries(contenders)) {
      ;(runs[name] ||= []).push(spawn(name, ['-e', script(mod, name === OURS)]))
      ;(fromFile[name] ||= []).push(spawn(name, [entries[name]]).require)
    }
  }
  for (const [name, req] of Object.entries(fromFile)) {
    rows.push({ scenario: `cold start: require() from an entry file, fresh process, median of ${COLD_STARTS}`, transport: '-', contender: name, value: median(req), unit: 'ms', better: 'lower', rounds: req })
    console.error(`cold start ${name}: require from an entry file ${median(req).toFixed(2)} ms`)
  }
  for (const [name, values] of Object.entries(runs)) {
    const req = values.map((v) => v.require)
    rows.push({ scenario: `cold start: require(), fresh process, median of ${COLD_STARTS}`, transport: '-', contender: name, value: median(req), unit: 'ms', better: 'lower', rounds: req })
    console.error(`cold start ${name}: require ${median(req).toFixed(2)} ms`)
    if (name === OURS) {
      const first = values.map((v) => v.first)
      rows.push({ scenario: `cold start: first scanBuffer over UNIX after require() returns, median of ${COLD_STARTS}`, transport: 'unix', contender: name, value: median(first), unit: 'ms', better: 'lower', rounds: first })
      console.error(`cold start ${name}: first scan ${median(first).toFixed(2)} ms`)
    }
  }
}

/** Issue 18's targets, each with what was measured and whether it is met. */
function checkTargets(rows) {
  const find = (scenario, transport, contender = OURS) => rows.find((r) => r.scenario.startsWith(scenario) && r.transport === transport && r.contender === contender)
  const targets = []
  const add = (target, value, met, fmt = (v) => v.toFixed(2)) => targets.push({ target, measured: value === undefined ? 'not measured' : fmt(value), met: value === undefined ? null : met(value) })
  const x = (v) => `${v.toFixed(2)}×`
  /** `a`'s rounds over `b`'s, round by round (median). */
  const paired = (a, b) => median(a.rounds.map((v, i) => v / b.rounds[i]))
  /** For times: the fastest of `peers` over `row`, round by round (median). */
  const timeVsBest = (row, peers) => median(row.rounds.map((v, i) => Math.min(...peers.map((r) => r.rounds[i])) / v))
  const buffers = `${BUFFERS} × 4 KiB buffers`
  for (const transport of ['unix', 'tcp']) {
    const row = find(buffers, transport)
    add(`4 KiB buffers over ${transport.toUpperCase()}: ≥ 0.95× the floor`, row && row.vsFloor, (v) => v >= 0.95, x)
    // What CPU alone predicts: on two busy cores a scan costs clamd's CPU plus the client's, so
    // the ratio cannot pass (clamd + floor) / (clamd + this package) by much.
    const cpuOf = (contender) => find(`client's own CPU per 4 KiB scan`, transport, contender)
    const clamdOurs = find(`clamd's own CPU per 4 KiB scan (while ${OURS}`, transport, 'clamd')
    const clamdFloor = find(`clamd's own CPU per 4 KiB scan (while the floor`, transport, 'clamd')
    const [ours, floor] = [cpuOf(OURS), cpuOf(FLOOR)]
    if (ours && floor && clamdOurs && clamdFloor) {
      targets.push({
        target: '  bound: what CPU alone predicts, (clamd + floor) / (clamd + this package), per scan',
        measured: `${x((clamdFloor.value + floor.value) / (clamdOurs.value + ours.value))} (client ${ours.value.toFixed(1)} vs ${floor.value.toFixed(1)} µs, clamd ${clamdOurs.value.toFixed(0)} vs ${clamdFloor.value.toFixed(0)} µs)`,
        met: null,
      })
    }
    // What a client inside Node pays: each Node floor against the Rust floor, and this package
    // against it (round by round). The node:net client (bench/floor-js.js) is what a bare socket
    // costs; the addon (bench/floor-addon) reads replies on the JS thread, as this package does.
    const rustFloor = find(buffers, transport, FLOOR)
    for (const [name, what, source] of [
      [NODE_FLOOR, 'the minimal Node client', 'bench/floor-js.js'],
      [ADDON_FLOOR, 'the minimal Node addon reading on the JS thread', 'bench/floor-addon'],
    ]) {
      const nodeFloor = find(buffers, transport, name)
      if (!row || !nodeFloor || !rustFloor) continue
      const cpu = cpuOf(name)
      targets.push({ target: `  bound: ${what} (${source}) vs the Rust floor`, measured: `${x(paired(nodeFloor, rustFloor))}${cpu ? ` (client ${cpu.value.toFixed(1)} µs per scan)` : ''}`, met: null })
      targets.push({ target: `  this package vs ${what.replace(' reading on the JS thread', '')}`, measured: x(paired(row, nodeFloor)), met: null })
    }
  }
  const unix = find(buffers, 'unix')
  add('4 KiB buffers over UNIX: ≥ 1.25× the best peer', unix && unix.vsBestPeer, (v) => v >= 1.25, x)
  const cpu = find('client overhead', 'unix')
  const cpuRow = rows.find((r) => r.scenario.startsWith('client overhead') && r.scenario.endsWith('client process') && r.contender === OURS)
  add('stub clamd: CPU per scan ≤ 15 µs', cpuRow && cpuRow.value, (v) => v <= 15, (v) => `${v.toFixed(1)} µs`)
  add('stub clamd: throughput ≥ 2× the build before issue 18', cpu && cpu.vsBaseline, (v) => v >= 2, x)
  // Issue 21: tracing with no subscriber costs nothing measurable (within this machine's noise).
  add('stub clamd: tracing with no subscriber ≥ 0.95× the same with the check removed', cpu && cpu.vsNoTraceCheck, (v) => v >= 0.95, x)
  const traced = rows.find((r) => r.scenario === (cpu && cpu.scenario) && r.contender === TRACED)
  if (traced && cpu) targets.push({ target: '  for scale: with one pompelmi:scan subscriber (no target)', measured: x(median(cpu.rounds.map((v, i) => traced.rounds[i] / v))), met: null })
  for (const k of FLEET_SIZES.slice(1)) {
    const row = rows.find((r) => r.endpoints === k)
    add(`fleet: ${k} endpoints ≥ 0.9 × ${k} × one endpoint`, row && row.vsLinear, (v) => v >= 0.9)
  }
  const req = find('cold start: require(), fresh process', '-')
  add('require(\'pompelmi\') ≤ 8 ms (median, fresh processes)', req && req.value, (v) => v <= 8, (v) => `${v.toFixed(2)} ms`)
  // What bounds it on this machine: Node's cost of requiring anything, and of loading the addon.
  const empty = find('cold start: require(), fresh process', '-', EMPTY_MODULE)
  const addon = find('cold start: require(), fresh process', '-', ADDON_ALONE)
  if (empty && addon) targets.push({ target: '  bound: an empty module / the native addon alone (no target)', measured: `${empty.value.toFixed(2)} ms / ${addon.value.toFixed(2)} ms`, met: null })
  // What bundling gives: the same package from its sources, in the same rounds.
  const sources = find('cold start: require(), fresh process', '-', SOURCES)
  if (sources) targets.push({ target: '  for scale: from the sources, unbundled (a checkout; no target)', measured: `${sources.value.toFixed(2)} ms`, met: null })
  // The same from an entry file, as a server or a serverless handler requires it.
  const [reqFile, sourcesFile, emptyFile, addonFile] = [OURS, SOURCES, EMPTY_MODULE, ADDON_ALONE].map((c) => find('cold start: require() from an entry file', '-', c))
  if (reqFile && sourcesFile && emptyFile && addonFile) {
    targets.push({ target: '  from an entry file: this package / from its sources; an empty module / the native addon alone (no target)', measured: `${reqFile.value.toFixed(2)} ms / ${sourcesFile.value.toFixed(2)} ms; ${emptyFile.value.toFixed(2)} ms / ${addonFile.value.toFixed(2)} ms`, met: null })
  }
  const first = find('cold start: first scanBuffer', 'unix')
  add('first scanBuffer over UNIX within 5 ms of require()', first && first.value, (v) => v <= 5, (v) => `${v.toFixed(2)} ms`)
  const fileUnix = find(`one ${FILE_MB} MiB file`, 'unix')
  add(`${FILE_MB} MiB file over UNIX: ≥ 1.25× the best INSTREAM peer`, fileUnix && fileUnix.vsBestPeer, (v) => v >= 1.25, x)
  // What bounds it: no client can beat clamd reading the file itself (path SCAN, nothing sent).
  const pathScan = find(`one ${FILE_MB} MiB file`, 'unix', 'clamscan (npm), path SCAN')
  const instream = rows.filter((r) => r.scenario === (fileUnix && fileUnix.scenario) && r.transport === 'unix' && !r.contender.includes('path SCAN') && !notPeers.has(r.contender))
  if (pathScan && instream.length) {
    targets.push({ target: `  bound: clamd's own path SCAN vs the best INSTREAM peer (no client can beat path SCAN)`, measured: x(timeVsBest(pathScan, instream)), met: null })
  }
  add(`${FILE_MB} MiB file over UNIX: no slower than path SCAN`, fileUnix && fileUnix.vsPathScan, (v) => v >= 1.0, x)
  // What bounds it: this package passes the file as a descriptor (FILDES), and clamd's own
  // descriptor scan, asked by a bare client, is what it is against path SCAN.
  const bareFildes = find(`one ${FILE_MB} MiB file`, 'unix', BARE_FILDES)
  if (pathScan && bareFildes && fileUnix) {
    targets.push({ target: `  bound: clamd's own FILDES (one bare request) vs path SCAN`, measured: x(paired(pathScan, bareFildes)), met: null })
    targets.push({ target: `  this package vs one bare FILDES`, measured: x(paired(bareFildes, fileUnix)), met: null })
  }
  const fileTcp = find(`one ${FILE_MB} MiB file`, 'tcp')
  add(`${FILE_MB} MiB file over TCP: ≥ 1.0× the best peer`, fileTcp && fileTcp.vsBestPeer, (v) => v >= 1.0, x)
  // What bounds it: clamd receives the whole upload, then scans it, whoever sends it.
  const bareInstream = find(`one ${FILE_MB} MiB file`, 'tcp', BARE_INSTREAM)
  const tcpPeers = rows.filter((r) => r.scenario === (fileTcp && fileTcp.scenario) && r.transport === 'tcp' && !notPeers.has(r.contender))
  if (bareInstream && tcpPeers.length && fileTcp) {
    targets.push({ target: `  bound: one bare INSTREAM (bench/floor) vs the best peer`, measured: x(timeVsBest(bareInstream, tcpPeers)), met: null })
    targets.push({ target: `  this package vs one bare INSTREAM`, measured: x(paired(bareInstream, fileTcp)), met: null })
  }
  const rss = find(`${STREAM_MB} MiB generated stream, scanStream()`, 'unix')
  add(`${STREAM_MB} MiB stream: RSS growth ≤ 64 MiB`, rss && rss.value, (v) => v <= 64, (v) => `${v.toFixed(1)} MiB`)
  // Issue 19: the scanning tee and Blobs.
  const teeRss = find(`${STREAM_MB} MiB generated stream, passthrough()`, 'unix', TEE)
  add(`${STREAM_MB} MiB through the tee into a file: RSS growth ≤ 64 MiB`, teeRss && teeRss.value, (v) => v <= 64, (v) => `${v.toFixed(1)} MiB`)
  const teeRate = find(`${STREAM_MB} MiB generated stream: throughput`, 'unix', TEE)
  add(`${STREAM_MB} MiB through the tee into a file: ≥ 0.9× scanStream of the same bytes`, teeRate && teeRate.vsScanStream, (v) => v >= 0.9, x)
  const blob = find(`one ${FILE_MB} MiB Blob`, 'unix', `${OURS}: scanBlob`)
  add(`${FILE_MB} MiB Blob: scanBlob vs scanBuffer of the same bytes (no target)`, blob && blob.vsScanBuffer, () => null, x)
  for (const transport of ['unix', 'tcp']) {
    const ours = find('event-loop delay p99', transport)
    const js = find('event-loop delay p99', transport, 'pure-JS, 1.x style')
    // "No worse": within the histogram's 1 ms resolution.
    add(`event-loop p99 during the ${FILE_MB} MiB scan over ${transport.toUpperCase()}: no worse than pure JS (±1 ms)`, ours && js && ours.value - js.value, (v) => v <= 1, () => `${ours.value.toFixed(2)} ms vs ${js.value.toFixed(2)} ms`)
  }
  return targets
}

async function main() {
  const rows = []
  const add = (scenario, transport, contender, value, unit, better, rounds) => rows.push({ scenario, transport, contender, value, unit, better, rounds })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-bench-'))
  fs.chmodSync(dir, 0o755) // clamd (user clamav) opens files here for clamscan's path SCAN
  const addonFloor = loadAddonFloor()

  try {
    for (const transport of ['unix', 'tcp']) {
      const list = await contenders(transport)
      // Warm up every contender once.
      for (const c of Object.values(list)) if (c.buffer) await c.buffer(crypto.randomBytes(4096))
      // Rounds are interleaved (every contender once per round), so that a slow moment of the
      // machine hits all of them alike; each contender's median is reported.
      const rates = {}
      const floorTarget = transport === 'unix' ? `unix:${UNIX.socket}` : `tcp:${TCP.host}:${TCP.port}`
      // CPU per scan, of clamd and of the client, while this package and while the floor scans:
      // on two cores every µs a client spends is taken from clamd.
      const cpuPerScan = { clamd: [], clamdFloor: [], [OURS]: [], [FLOOR]: [], [NODE_FLOOR]: [], [ADDON_FLOOR]: [] }
      // The floors, Rust, Node and Node addon, right beside this package (see below). The Node
      // floors run in this process, warm like the package, and are measured the same way.
      const nodeTarget = transport === 'unix' ? { path: UNIX.socket } : { host: TCP.host, port: TCP.port }
      const floorRuns = {
        [FLOOR]: async () => {
          const clamd0 = cpuOfPid(env.CLAMD_PID)
          const run = floorRun(floorTarget, BUFFERS)
          cpuPerScan.clamdFloor.push((cpuOfPid(env.CLAMD_PID) - clamd0) / BUFFERS)
          return run
        },
        [ADDON_FLOOR]: async () => {
          const cpu = {}
          return { rate: await addonFloorRun(addonFloor, floorTarget, cpu), cpuUs: cpu.us }
        },
        [NODE_FLOOR]: async () => {
          const cpu = {}
          return { rate: await timedScans(BUFFERS, cpu, (payloads) => floorScans(nodeTarget, payloads)), cpuUs: cpu.us }
        },
      }
      // The Rust floor next to this package, the addon floor next to the Rust floor: each paired
      // ratio compares neighbours in time. `afterOurs`: this package has just run.
      const runFloors = async (afterOurs) => {
        const order = afterOurs ? [FLOOR, ADDON_FLOOR, NODE_FLOOR] : [NODE_FLOOR, ADDON_FLOOR, FLOOR]
        for (const name of order) {
          collectGarbage()
          const { rate, cpuUs } = await floorRuns[name]()
          cpuPerScan[name].push(cpuUs)
          ;(rates[name] ||= []).push(rate)
        }
      }
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, c] of rotated(Object.entries(list), r)) {
          if (!c.buffer) continue
          collectGarbage()
          // The floors run right beside this package, in alternating order, so that each of
          // their paired ratios sees one moment of the machine.
          if (name === OURS && r % 2 === 1) await runFloors(false)
          const clamd0 = name === OURS ? cpuOfPid(env.CLAMD_PID) : 0
          const cpu = name === OURS ? {} : null
          ;(rates[name] ||= []).push(await buffersPerSecond(c.buffer, BUFFERS, cpu))
          if (name === OURS) {
            cpuPerScan.clamd.push((cpuOfPid(env.CLAMD_PID) - clamd0) / BUFFERS)
            cpuPerScan[OURS].push(cpu.us)
          }
          if (name === OURS && r % 2 === 0) await runFloors(true)
        }
      }
      add(`clamd's own CPU per 4 KiB scan (while ${OURS} scans)`, transport, 'clamd', median(cpuPerScan.clamd), 'µs', 'lower', cpuPerScan.clamd)
      add(`clamd's own CPU per 4 KiB scan (while the floor scans)`, transport, 'clamd', median(cpuPerScan.clamdFloor), 'µs', 'lower', cpuPerScan.clamdFloor)
      for (const name of [OURS, FLOOR, NODE_FLOOR, ADDON_FLOOR]) add(`client's own CPU per 4 KiB scan against clamd`, transport, name, median(cpuPerScan[name]), 'µs', 'lower', cpuPerScan[name])
      for (const [name, values] of Object.entries(rates)) {
        add(`${BUFFERS} × 4 KiB buffers, ${CONCURRENCY} concurrent`, transport, name, median(values), 'scans/s', 'higher', values)
        console.error(`buffers ${transport} ${name}: ${median(values).toFixed(0)} scans/s`)
      }
      const file = randomFile(dir, FILE_MB)
      const times = {}
      for (let r = 0; r < FILE_ROUNDS; r++) {
        for (const [name, c] of rotated(Object.entries(list), r)) if (c.file) (times[name] ||= []).push(await timeFile(c.file, file))
      }
      for (const [name, values] of Object.entries(times)) {
        add(`one ${FILE_MB} MiB file, scan()`, transport, name, median(values), 's', 'lower', values)
        console.error(`file ${transport} ${name}: ${median(values).toFixed(3)} s`)
      }
      // Rounds interleaved like the others (a hiccup of the machine then touches both contenders).
      const delays = {}
      for (let r = 0; r < LOOP_DELAY_ROUNDS; r++) {
        for (const name of r % 2 ? ['pure-JS, 1.x style', OURS] : [OURS, 'pure-JS, 1.x style']) (delays[name] ||= []).push(await loopDelayP99(list[name].file, file))
      }
      for (const [name, values] of Object.entries(delays)) {
        add(`event-loop delay p99 during the ${FILE_MB} MiB scan`, transport, name, median(values), 'ms', 'lower', values)
        console.error(`loop delay ${transport} ${name}: ${median(values).toFixed(2)} ms`)
      }
      fs.rmSync(file)
    }
    // Client overhead: the same small scans against a stub that answers at once.
    const stub = await startStub(path.join(dir, 'stub.sock'))
    try {
      const stubList = await contenders('unix', { socket: stub.socket })
      // Tracing's cost: the package as it runs (no subscriber: one check per call), against the
      // same with the check taken out, and with a subscriber (what tracing costs when it is on).
      const diagnostics = require('../lib/core/diagnostics.js')
      const check = diagnostics.scanTrace
      const subscriber = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
      const scanChannel = require('node:diagnostics_channel').tracingChannel('pompelmi:scan')
      stubList[NO_TRACE_CHECK] = { ...stubList[OURS], before: () => (diagnostics.scanTrace = () => null), after: () => (diagnostics.scanTrace = check) }
      stubList[TRACED] = { ...stubList[OURS], before: () => scanChannel.subscribe(subscriber), after: () => scanChannel.unsubscribe(subscriber) }
      const stubRates = {}
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, c] of rotated(Object.entries(stubList), r)) {
          if (!c.buffer) continue
          // CPU from the first scan to the last (the payloads are made before); each contender
          // starts from a collected heap, so none pays for another's garbage.
          collectGarbage()
          const cpu = {}
          if (c.before) c.before()
          const rate = await buffersPerSecond(c.buffer, STUB_SCANS, cpu).finally(() => c.after && c.after())
          ;(stubRates[name] ||= []).push({ rate, cpuUs: cpu.us })
        }
      }
      for (const [name, values] of Object.entries(stubRates)) {
        const scenario = `client overhead: ${STUB_SCANS} × 4 KiB against a stub clamd`
        add(scenario, 'unix', name, median(values.map((v) => v.rate)), 'scans/s', 'higher', values.map((v) => v.rate))
        add(`${scenario}, CPU per scan in the client process`, 'unix', name, median(values.map((v) => v.cpuUs)), 'µs', 'lower', values.map((v) => v.cpuUs))
        console.error(`stub ${name}: ${median(values.map((v) => v.rate)).toFixed(0)} scans/s, ${median(values.map((v) => v.cpuUs)).toFixed(0)} µs CPU/scan`)
      }
    } finally {
      stub.child.kill()
    }
    await fleetScaling(dir, rows)
    coldStart(rows, dir)
    await streamsAndTee(rows)
    await blobVsBuffer(rows)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }

  // Ratios against the best peer of the same scenario and transport. With interleaved rounds the
  // ratio is taken round by round (paired: same moment of the machine) and its median reported.
  for (const row of rows) {
    if (row.contender !== OURS) continue
    const same = (r) => r.scenario === row.scenario && r.transport === row.transport
    const floor = rows.find((r) => same(r) && r.contender === FLOOR)
    if (floor) row.vsFloor = median(row.rounds.map((v, i) => (row.better === 'higher' ? v / floor.rounds[i] : floor.rounds[i] / v)))
    const untraced = rows.find((r) => same(r) && r.contender === NO_TRACE_CHECK)
    if (untraced) row.vsNoTraceCheck = median(row.rounds.map((v, i) => (row.better === 'higher' ? v / untraced.rounds[i] : untraced.rounds[i] / v)))
    const before = rows.find((r) => same(r) && r.contender === BASELINE)
    if (before) row.vsBaseline = median(row.rounds.map((v, i) => (row.better === 'higher' ? v / before.rounds[i] : before.rounds[i] / v)))
    const peers = rows.filter((r) => same(r) && !notPeers.has(r.contender))
    const instreamPeers = peers.filter((r) => !r.contender.includes('path SCAN'))
    if (instreamPeers.length === 0) continue
    const ratio = (ours, theirs) => (row.better === 'higher' ? ours / theirs : theirs / ours)
    const bestOf = (values) => (row.better === 'higher' ? Math.max(...values) : Math.min(...values))
    if (row.rounds) {
      row.vsBestPeer = median(row.rounds.map((v, i) => ratio(v, bestOf(instreamPeers.map((p) => p.rounds[i])))))
      const scan = peers.find((r) => r.contender.includes('path SCAN'))
      if (scan) row.vsPathScan = median(row.rounds.map((v, i) => scan.rounds[i] / v))
    } else {
      row.vsBestPeer = ratio(row.value, bestOf(instreamPeers.map((r) => r.value)))
    }
  }

  console.table(
    rows.map((r) => ({
      scenario: r.scenario,
      transport: r.transport,
      contender: r.contender,
      value: `${r.value < 10 ? r.value.toFixed(3) : r.value.toFixed(0)} ${r.unit}`,
      'vs best peer': r.vsBestPeer ? `${r.vsBestPeer.toFixed(2)}×` : '',
      'vs path SCAN': r.vsPathScan ? `${r.vsPathScan.toFixed(2)}×` : '',
      'vs floor': r.vsFloor ? `${r.vsFloor.toFixed(2)}×` : '',
      'vs before': r.vsBaseline ? `${r.vsBaseline.toFixed(2)}×` : '',
    })),
  )
  const targets = checkTargets(rows)
  console.table(targets.map((t) => ({ target: t.target, measured: t.measured, met: t.met === null ? 'n/a' : t.met ? 'yes' : 'NO' })))
  const out = path.join(__dirname, QUICK ? 'results.quick.json' : 'results.json')
  fs.writeFileSync(out, `${JSON.stringify({ machine: machine(), rows, targets }, null, 2)}\n`)
  console.log(`written to ${path.relative(process.cwd(), out)}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
