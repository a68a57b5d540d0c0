'use strict'
// A script that scans and returns must exit promptly: nothing native may keep Node alive.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

const { startClamd } = require('./helpers/clamd.js')
const { CLEAN_FILE } = require('./helpers/samples.js')

const ROOT = path.join(__dirname, '..')
const clamd = startClamd('main')

function runChild(body, timeout = 10_000) {
  const script = `const pompelmi = require(${JSON.stringify(ROOT)});\n${body}`
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout })
  return { ...child, elapsed: Date.now() - started }
}

const scripts = {
  'scanBuffer over TCP': `pompelmi.scanBuffer(Buffer.from('x'), { port: ${clamd.port} }).then((v) => console.log(v.description))`,
  'scan of a file over the UNIX socket': `pompelmi.scan(${JSON.stringify(CLEAN_FILE)}, { socket: ${JSON.stringify(clamd.socket)} }).then((v) => console.log(v.description))`,
  'scanStream': `pompelmi.scanStream(require('fs').createReadStream(${JSON.stringify(CLEAN_FILE)}), { port: ${clamd.port} }).then((v) => console.log(v.description))`,
  'a host name that needs the resolver': `pompelmi.scanBuffer(Buffer.from('x'), { host: ${JSON.stringify(os.hostname())}, port: ${clamd.port}, timeout: 3000 }).then((v) => console.log(v.description), (e) => console.log(e.code))`,
  'a refused connection': `pompelmi.scanBuffer(Buffer.from('x'), { port: 1 }).catch((e) => console.log(e.code))`,
  'local mode': `pompelmi.scan(${JSON.stringify(CLEAN_FILE)}, { database: ${JSON.stringify(path.join(ROOT, 'testdata', 'signatures'))} }).then((v) => console.log(v.description))`,
  'the addon loaded and used in a worker thread': `
    const { Worker } = require('worker_threads')
    const w = new Worker(\`const p = require(${JSON.stringify(ROOT)}); const { parentPort } = require('worker_threads');
      p.scanBuffer(Buffer.from('x'), { port: ${clamd.port} }).then((v) => parentPort.postMessage(v.description))\`, { eval: true })
    w.on('message', (m) => console.log(m))`,
}

for (const [name, body] of Object.entries(scripts)) {
  test(`a process exits promptly after ${name}`, () => {
    const child = runChild(body)
    assert.equal(child.status, 0, child.stderr)
    assert.match(child.stdout.trim(), /^(Clean|ECONNREFUSED)$/)
    assert.ok(child.elapsed < 3000, `exited after ${child.elapsed} ms`)
  })
}

// Each environment reads its clients' replies on its own loop (src/reply_watch.rs): a worker's
// loop must close with none of those watches open, or Node aborts the process.
test('a worker terminated with its sessions open exits cleanly, and the main thread scans on', () => {
  const child = runChild(`
    const { Worker } = require('worker_threads')
    const w = new Worker(\`const p = require(${JSON.stringify(ROOT)}); const { parentPort } = require('worker_threads');
      const c = p.createClient({ endpoints: [{ port: ${clamd.port} }, { socket: ${JSON.stringify(clamd.socket)} }] });
      Promise.all([c.scanBuffer(Buffer.from('x')), c.scanBuffer(Buffer.from('y'))]).then((v) => {
        parentPort.postMessage(v.map((x) => x.description).join(' '))
        setInterval(() => {}, 1000) // alive, its sessions open, until terminated
      })\`, { eval: true })
    w.on('message', async (m) => {
      await w.terminate()
      const v = await pompelmi.scanBuffer(Buffer.from('x'), { socket: ${JSON.stringify(clamd.socket)} })
      console.log(m + ' ' + v.description)
    })`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'Clean Clean Clean')
})

// Workers terminated while their scans are in flight: replies read on the worker's loop, results
// waiting for the end of its loop turn (after_reads) or for its threadsafe function. None of it may
// outlive the worker's environment, or Node aborts the process.
test('workers terminated mid-scan over TCP and UNIX exit cleanly, and the main thread scans on', () => {
  const child = runChild(`
    const { Worker } = require('worker_threads')
    const body = \`const p = require(${JSON.stringify(ROOT)}); const { parentPort, workerData } = require('worker_threads');
      const c = p.createClient(workerData.tcp ? { port: ${clamd.port} } : { socket: ${JSON.stringify(clamd.socket)} })
      let first = true
      const loop = async () => { for (let i = 0; ; i++) { await c.scanBuffer(Buffer.alloc(4096, i)).catch(() => {}); if (first) { first = false; parentPort.postMessage('scanning') } } }
      for (let i = 0; i < 16; i++) loop()\`
    const once = (tcp, delay) => new Promise((resolve, reject) => {
      const w = new Worker(body, { eval: true, workerData: { tcp } })
      w.once('error', reject)
      w.once('message', () => setTimeout(() => w.terminate().then(resolve, reject), delay))
    })
    ;(async () => {
      let n = 0
      for (let round = 0; round < 6; round++) {
        await Promise.all([once(true, round * 3), once(false, round * 3), once(true, 1 + round * 5), once(false, 1 + round * 5)])
        n += 4
      }
      const v = await pompelmi.scanBuffer(Buffer.from('x'), { socket: ${JSON.stringify(clamd.socket)} })
      const t = await pompelmi.scanBuffer(Buffer.from('x'), { port: ${clamd.port} })
      console.log(n + ' ' + v.description + ' ' + t.description)
    })()`, 30_000) // 24 workers, each loading the package: room for a busy machine
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), '24 Clean Clean')
})

test('a pending scan keeps the process alive until it settles (like a Node socket)', () => {
  const child = runChild(`
    const net = require('net')
    const server = net.createServer((s) => s.once('data', () => setTimeout(() => s.end('1: stream: OK\\0'), 500))).listen(0, () => {
      pompelmi.scanBuffer(Buffer.from('x'), { port: server.address().port }).then((v) => { console.log(v.description); server.close() })
      server.unref()
    })`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'Clean')
})

test('a script using createClient() exits at once without calling close()', () => {
  const child = runChild(`
    const c = pompelmi.createClient({ endpoints: [{ port: ${clamd.port} }, { socket: ${JSON.stringify(clamd.socket)} }] })
    Promise.all([c.scanBuffer(Buffer.from('x')), c.scan(${JSON.stringify(CLEAN_FILE)}), c.ping()]).then((r) => console.log(r[0].description + ' ' + Date.now()))`)
  const exitedAt = Date.now()
  assert.equal(child.status, 0, child.stderr)
  const [verdict, doneAt] = child.stdout.trim().split(' ')
  assert.equal(verdict, 'Clean')
  assert.ok(exitedAt - Number(doneAt) < 1000, `exited ${exitedAt - Number(doneAt)} ms after the last scan`)
})
