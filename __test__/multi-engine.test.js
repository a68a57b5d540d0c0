'use strict'
// createMultiEngine as pompelmi 1.x defines it: consensus modes, and the VirusTotal engine against
// a local HTTP server that imitates VirusTotal's API (no test reaches the internet).
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { closedPort } = require('./helpers/fake-clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const FAST = { pollInterval: 20, maxPolls: 5, timeout: 2000 }

/**
 * A fake VirusTotal. `analysis(n)` gives the n-th poll's attributes; `status` an HTTP error for
 * every request; `hang` never answers. Records what it received.
 */
async function fakeVirusTotal(t, { analysis = () => ({ status: 'completed', stats: { malicious: 0, suspicious: 0 } }), status, hang, uploadStatus } = {}) {
  const seen = { uploads: [], polls: 0, keys: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      if (hang) return
      seen.keys.push(req.headers['x-apikey'])
      if (status) return res.writeHead(status).end(JSON.stringify({ error: { code: 'Error' } }))
      if (req.method === 'POST' && req.url === '/api/v3/files') {
        seen.uploads.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) })
        if (uploadStatus) return res.writeHead(uploadStatus).end('{}')
        return res.end(JSON.stringify({ data: { type: 'analysis', id: 'an-1' } }))
      }
      if (req.method === 'GET' && req.url === '/api/v3/analyses/an-1') {
        return res.end(JSON.stringify({ data: { attributes: analysis(seen.polls++) } }))
      }
      res.writeHead(404).end('{}')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return { baseUrl: `http://127.0.0.1:${server.address().port}`, seen }
}

const vt = (server, extra) => ({ type: 'virustotal', apiKey: 'k-123', baseUrl: server.baseUrl, ...FAST, ...extra })

test('VirusTotal: uploads the file to /api/v3/files with the key, polls the analysis, Clean for no detections', async (t) => {
  const server = await fakeVirusTotal(t)
  const result = await pompelmi.createMultiEngine({ engines: [vt(server)] }).scanBuffer(Buffer.from('hello world'))
  assert.equal(result.verdict, Verdict.Clean)
  assert.equal(result.engines[0].name, 'virustotal')
  assert.equal(result.engines[0].detections, 0)
  assert.equal(server.seen.uploads.length, 1)
  assert.match(server.seen.uploads[0].type, /^multipart\/form-data; boundary=/)
  assert.ok(server.seen.uploads[0].body.includes('hello world'), 'the file itself is in the upload')
  assert.deepEqual([...new Set(server.seen.keys)], ['k-123'])
})

test('VirusTotal: Malicious when malicious + suspicious >= threshold (default 1)', async (t) => {
  const server = await fakeVirusTotal(t, { analysis: () => ({ status: 'completed', stats: { malicious: 1, suspicious: 1 } }) })
  const engine = pompelmi.createMultiEngine({ engines: [vt(server)] })
  const r = await engine.scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.Malicious)
  assert.equal(r.engines[0].detections, 2)
  assert.equal((await pompelmi.createMultiEngine({ engines: [vt(server, { threshold: 2 })] }).scanBuffer(EICAR)).verdict, Verdict.Malicious)
  assert.equal((await pompelmi.createMultiEngine({ engines: [vt(server, { threshold: 3 })] }).scanBuffer(EICAR)).verdict, Verdict.Clean)
})

test('VirusTotal: a pending analysis is polled until it completes; one that never completes is a ScanError', async (t) => {
  const server = await fakeVirusTotal(t, { analysis: (n) => (n < 2 ? { status: 'queued' } : { status: 'completed', stats: { malicious: 3 } }) })
  const r = await pompelmi.createMultiEngine({ engines: [vt(server)] }).scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.Malicious)
  assert.equal(server.seen.polls, 3)
  const pending = await fakeVirusTotal(t, { analysis: () => ({ status: 'queued' }) })
  const p = await pompelmi.createMultiEngine({ engines: [vt(pending, { maxPolls: 3 })] }).scanBuffer(EICAR)
  assert.deepEqual([p.verdict, p.engines[0].error, pending.seen.polls], [Verdict.ScanError, 'timeout', 3])
})

test('VirusTotal: HTTP 401, 429, 500 and a hung server are ScanErrors, never Clean', async (t) => {
  for (const status of [401, 429, 500]) {
    const server = await fakeVirusTotal(t, { status })
    const r = await pompelmi.createMultiEngine({ engines: [vt(server)] }).scanBuffer(EICAR)
    assert.equal(r.verdict, Verdict.ScanError, `HTTP ${status}`)
    assert.equal(r.engines[0].error, `VirusTotal answered HTTP ${status}`)
  }
  const hung = await fakeVirusTotal(t, { hang: true })
  const started = Date.now()
  const r = await pompelmi.createMultiEngine({ engines: [vt(hung, { timeout: 300 })] }).scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.ScanError)
  assert.ok(Date.now() - started < 2000)
  // The multi-engine's own deadline bounds the polling as a whole.
  const slow = await fakeVirusTotal(t, { analysis: () => ({ status: 'queued' }) })
  const bounded = await pompelmi.createMultiEngine({ engines: [vt(slow, { pollInterval: 100, maxPolls: 100 })], timeout: 400 }).scanBuffer(EICAR)
  assert.deepEqual([bounded.verdict, bounded.engines[0].error], [Verdict.ScanError, 'engine timed out after 400ms'])
})

test('VirusTotal without apiKey is a ScanError matching /no apiKey/', async () => {
  const r = await pompelmi.createMultiEngine({ engines: [{ type: 'virustotal' }] }).scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.ScanError)
  assert.match(r.engines[0].error, /no apiKey/)
})

test('VirusTotal beside ClamAV: scan(file) reads the file for VirusTotal and streams it to clamd', async (t) => {
  const server = await fakeVirusTotal(t)
  const file = require('node:path').join(__dirname, '..', 'testdata', 'clean.txt')
  const r = await pompelmi.createMultiEngine({ engines: [{ type: 'clamav', port: clamd.port }, vt(server)], consensus: 'all' }).scan(file)
  assert.deepEqual(r.engines.map((e) => [e.name, e.verdict]), [['clamav', Verdict.Clean], ['virustotal', Verdict.Clean]])
  assert.equal(r.verdict, Verdict.Clean)
})

const fixed = (verdict) => ({ name: verdict.description, scanBuffer: async () => ({ verdict }) })
const C = fixed(Verdict.Clean)
const M = fixed(Verdict.Malicious)
const E = fixed(Verdict.ScanError)

test('consensus as 1.x defines it, with ScanErrors counted against a Clean', async () => {
  const cases = [
    // [consensus, engines, expected]
    ['any', [C, C], Verdict.Clean],
    ['any', [C, M], Verdict.Malicious],
    ['any', [C, E], Verdict.ScanError], // the failed engine might have found it
    ['any', [M, E], Verdict.Malicious],
    ['all', [M, M], Verdict.Malicious],
    ['all', [C, M], Verdict.Clean], // 1.x: not every engine says Malicious
    ['all', [M, E], Verdict.ScanError],
    ['all', [C, E], Verdict.Clean], // E cannot make it Malicious: C already disagrees
    ['majority', [C, C, M], Verdict.Clean], // 1.x's Clean (it was ScanError here before)
    ['majority', [C, M, M], Verdict.Malicious],
    ['majority', [C, C, E], Verdict.Clean], // even if E were Malicious: 1 of 3
    ['majority', [C, M, E], Verdict.ScanError], // E decides
    ['majority', [C, M], Verdict.Clean], // 1 of 2 is not more than half
    ['any', [E, E], Verdict.ScanError],
  ]
  for (const [consensus, engines, expected] of cases) {
    const r = await pompelmi.createMultiEngine({ engines, consensus }).scanBuffer(Buffer.from('x'))
    assert.equal(r.verdict, expected, `${consensus} of ${engines.map((e) => e.name).join(', ')}`)
  }
})

test('createMultiEngine: consensus over ClamAV endpoints and an HTTP-style engine; ScanError never clean; empty list is an error', async () => {
  assert.throws(() => pompelmi.createMultiEngine({ engines: [] }), /at least one engine/)
  const port = await closedPort()
  const clamav = { type: 'clamav', port: clamd.port }
  const unix = { type: 'clamav', socket: clamd.socket, name: 'clamav-unix' }
  const httpEngine = { name: 'http', scanBuffer: async (buf) => ({ verdict: buf.includes('suspicious') ? Verdict.Malicious : Verdict.Clean, viruses: buf.includes('suspicious') ? ['Http.Heuristic'] : [] }) }
  const any = pompelmi.createMultiEngine({ engines: [clamav, unix, httpEngine], consensus: 'any' })
  const r = await any.scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.Malicious)
  assert.deepEqual(r.engines.map((e) => [e.name, e.verdict]), [['clamav', Verdict.Malicious], ['clamav-unix', Verdict.Malicious], ['http', Verdict.Clean]])
  assert.deepEqual(r.viruses, ['Eicar-Test-Signature.UNOFFICIAL'])
  const majority = pompelmi.createMultiEngine({ engines: [clamav, httpEngine, httpEngine], consensus: 'majority' })
  assert.equal((await majority.scanBuffer(Buffer.from('suspicious'))).verdict, Verdict.Malicious)
  const all = pompelmi.createMultiEngine({ engines: [clamav, httpEngine], consensus: 'all' })
  // 1.x's `all`: Malicious only when every engine says so; a Clean engine disagreeing makes it Clean.
  assert.equal((await all.scanBuffer(Buffer.from('suspicious'))).verdict, Verdict.Clean, 'not every engine says Malicious')
  // A failing engine is a ScanError, and any + [ScanError, Clean] is not Clean (1.x said Clean).
  const failing = pompelmi.createMultiEngine({ engines: [{ type: 'clamav', port }, httpEngine], consensus: 'any' })
  const f = await failing.scanBuffer(Buffer.from('fine'))
  assert.equal(f.verdict, Verdict.ScanError)
  assert.match(f.engines[0].error, /ECONNREFUSED/)
  const file = writeFile(tempDir({ after: () => {} }), 'e.txt', EICAR)
  assert.equal((await any.scan(file)).verdict, Verdict.Malicious)
  await assert.rejects(any.scanBuffer('x'), { message: 'buffer must be a Buffer' })
  await assert.rejects(any.scan(1), { message: 'filePath must be a string' })
})

test('VirusTotal: a completed analysis without usable counts is a ScanError, never "0 detections"', async (t) => {
  for (const analysis of [{ status: 'completed' }, { status: 'completed', stats: {} }, { status: 'completed', stats: { malicious: 'many' } }, { status: 'completed', stats: { malicious: -1 } }]) {
    const server = await fakeVirusTotal(t, { analysis: () => analysis })
    const r = await pompelmi.createMultiEngine({ engines: [vt(server)] }).scanBuffer(EICAR)
    assert.equal(r.verdict, Verdict.ScanError, JSON.stringify(analysis))
  }
  assert.throws(() => pompelmi.createMultiEngine({ engines: [{ type: 'virustotal', apiKey: 'k', threshold: 'two' }] }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('a custom engine may be a class instance (scanBuffer inherited), and watch callbacks may be methods', async (t) => {
  class Flagger {
    constructor() {
      this.name = 'flagger'
    }
    async scanBuffer(buffer) {
      return { verdict: buffer.includes('EICAR') ? Verdict.Malicious : Verdict.Clean, viruses: [] }
    }
  }
  const r = await pompelmi.createMultiEngine({ engines: [new Flagger()] }).scanBuffer(EICAR)
  assert.equal(r.verdict, Verdict.Malicious)
  class Handlers {
    constructor() {
      this.seen = []
    }
    onMalicious(file) {
      this.seen.push(file)
    }
  }
  const dir = tempDir(t)
  const handlers = new Handlers()
  const watcher = pompelmi.watch(dir, { port: clamd.port }, handlers)
  t.after(() => watcher.close())
  await new Promise((r) => setTimeout(r, 200))
  const file = writeFile(dir, 'e.com', EICAR)
  for (let i = 0; i < 100 && handlers.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(handlers.seen, [file])
})

test('createMultiEngine: an engine that never settles is a ScanError at its timeout', async () => {
  const engine = pompelmi.createMultiEngine({
    engines: [{ type: 'clamav', ...TCP }, { name: 'hung', scanBuffer: () => new Promise(() => {}) }],
    timeout: 200,
  })
  const started = Date.now()
  const result = await engine.scanBuffer(EICAR)
  assert.ok(Date.now() - started < 1500)
  assert.equal(result.engines[1].verdict, Verdict.ScanError)
  assert.match(result.engines[1].error, /timed out after 200ms/)
  const own = pompelmi.createMultiEngine({ engines: [{ name: 'slow', timeout: 100, scanBuffer: () => new Promise(() => {}) }] })
  assert.equal((await own.scanBuffer(EICAR)).verdict, Verdict.ScanError)
})
