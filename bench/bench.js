'use strict'
// `npm run bench`: this package against its peers, side by side, in one run, on one private
// clamd (DisableCache yes; every payload is unique random data). Prints a table and writes
// bench/results.json. Usage: node bench/bench.js (after scripts/bench.sh started clamd).

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const { Readable } = require('node:stream')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const pompelmi = require('..')
const pureJs = require('./pompelmi1x.js')
const clamdjs = require('clamdjs')
const NodeClam = require('clamscan')

const env = Object.fromEntries(
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'clamd.sh'), 'env', 'bench'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split('=')),
)
const TCP = { host: '127.0.0.1', port: Number(env.CLAMD_PORT) }
const UNIX = { socket: env.CLAMD_SOCKET }
const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = QUICK ? 1 : 5
const FILE_ROUNDS = QUICK ? 1 : 5
const BUFFERS = QUICK ? 300 : 2000
const CONCURRENCY = 16
const FILE_MB = QUICK ? 20 : 100
const STUB_SCANS = QUICK ? 1000 : 5000
const STREAM_MB = QUICK ? 64 : 512

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

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
    'pompelmi (native)': {
      buffer: (b) => pompelmi.scanBuffer(b, opts).then((v) => v.description),
      file: (p) => pompelmi.scan(p, opts).then((v) => v.description),
      stream: (s) => pompelmi.scanStream(s, opts).then((v) => v.description),
    },
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
  } else {
    const scanner = clamdjs.createScanner(opts.host, opts.port)
    list['clamdjs (npm)'] = {
      buffer: (b) => scanner.scanBuffer(b, 120000, 65536).then(verdictOf.clamdjs),
      file: (p) => scanner.scanFile(p, 120000, 65536).then(verdictOf.clamdjs),
      stream: (s) => scanner.scanStream(s, 120000).then(verdictOf.clamdjs),
    }
  }
  return list
}

async function buffersPerSecond(scanBuffer, count = BUFFERS) {
  const payloads = Array.from({ length: count }, () => crypto.randomBytes(4096))
  let next = 0
  let wrong = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < payloads.length) {
        if ((await scanBuffer(payloads[next++])) !== 'Clean') wrong++
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (wrong) throw new Error(`${wrong} wrong verdicts`)
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

async function timeFile(scanFile, file) {
  const started = process.hrtime.bigint()
  const verdict = await scanFile(file)
  if (verdict !== 'Clean') throw new Error(`verdict ${verdict}`)
  return Number(process.hrtime.bigint() - started) / 1e9
}

async function loopDelayP99(scanFile, file) {
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

async function main() {
  const rows = []
  const add = (scenario, transport, contender, value, unit, better, rounds) => rows.push({ scenario, transport, contender, value, unit, better, rounds })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-bench-'))
  fs.chmodSync(dir, 0o755) // clamd (user clamav) opens files here for clamscan's path SCAN

  try {
    for (const transport of ['unix', 'tcp']) {
      const list = await contenders(transport)
      // Warm up every contender once.
      for (const c of Object.values(list)) if (c.buffer) await c.buffer(crypto.randomBytes(4096))
      // Rounds are interleaved (every contender once per round), so that a slow moment of the
      // machine hits all of them alike; each contender's median is reported.
      const rates = {}
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, c] of Object.entries(list)) {
          if (c.buffer) (rates[name] ||= []).push(await buffersPerSecond(c.buffer))
        }
      }
      for (const [name, values] of Object.entries(rates)) {
        add(`${BUFFERS} × 4 KiB buffers, ${CONCURRENCY} concurrent`, transport, name, median(values), 'scans/s', 'higher', values)
        console.error(`buffers ${transport} ${name}: ${median(values).toFixed(0)} scans/s`)
      }
      const file = randomFile(dir, FILE_MB)
      const times = {}
      for (let r = 0; r < FILE_ROUNDS; r++) {
        for (const [name, c] of Object.entries(list)) (times[name] ||= []).push(await timeFile(c.file, file))
      }
      for (const [name, values] of Object.entries(times)) {
        add(`one ${FILE_MB} MiB file, scan()`, transport, name, median(values), 's', 'lower', values)
        console.error(`file ${transport} ${name}: ${median(values).toFixed(3)} s`)
      }
      for (const name of ['pompelmi (native)', 'pure-JS, 1.x style']) {
        const p99 = await loopDelayP99(list[name].file, file)
        add(`event-loop delay p99 during the ${FILE_MB} MiB scan`, transport, name, p99, 'ms', 'lower')
        console.error(`loop delay ${transport} ${name}: ${p99.toFixed(2)} ms`)
      }
      fs.rmSync(file)
    }
    // Client overhead: the same small scans against a stub that answers at once.
    const stub = await startStub(path.join(dir, 'stub.sock'))
    try {
      const stubList = await contenders('unix', { socket: stub.socket })
      const stubRates = {}
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, c] of Object.entries(stubList)) {
          if (!c.buffer) continue
          const cpu0 = process.cpuUsage()
          const rate = await buffersPerSecond(c.buffer, STUB_SCANS)
          const cpu = process.cpuUsage(cpu0)
          ;(stubRates[name] ||= []).push({ rate, cpuUs: (cpu.user + cpu.system) / STUB_SCANS })
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
    for (const name of ['pompelmi (native)', 'pure-JS, 1.x style']) {
      const r = streamRssGrowth(name, 'unix')
      add(`${STREAM_MB} MiB generated stream, scanStream()`, 'unix', name, r.growthMiB, 'MiB peak RSS growth', 'lower')
      console.error(`stream rss ${name}: +${r.growthMiB.toFixed(1)} MiB (${r.verdict}, ${r.seconds.toFixed(1)} s)`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }

  // Ratios against the best peer of the same scenario and transport. With interleaved rounds the
  // ratio is taken round by round (paired: same moment of the machine) and its median reported.
  for (const row of rows) {
    if (row.contender !== 'pompelmi (native)') continue
    const peers = rows.filter((r) => r.scenario === row.scenario && r.transport === row.transport && r.contender !== row.contender)
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
    })),
  )
  const out = path.join(__dirname, QUICK ? 'results.quick.json' : 'results.json')
  fs.writeFileSync(out, `${JSON.stringify({ machine: machine(), rows }, null, 2)}\n`)
  console.log(`written to ${path.relative(process.cwd(), out)}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
