'use strict'
// The hand-written types, compiled by tsc under moduleResolution node16 (ESM and CJS consumers),
// bundler and node10. Wrong calls are marked @ts-expect-error: tsc fails if any of them compiles.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { linkedProject } = require('./helpers/project.js')

const ROOT = path.join(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** Compiles one consumer file against the package (linked into node_modules); tsc must pass. */
function compile(t, consumer) {
  // The frameworks the adapters' types name, installed (linked) beside the package.
  const dir = linkedProject(t, { packages: ['@types/node', 'fastify', '@fastify/multipart', 'hono', 'next', '@nestjs/common', 'rxjs'] })
  fs.writeFileSync(path.join(dir, consumer.file), consumer.source)
  const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: false, ...consumer.options }, files: [consumer.file] }
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig))
  const r = spawnSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
}

const USE = `
const opts: ScanOptions = { host: 'clamav', port: 3310, timeout: 1000, retries: 2, signal: AbortSignal.timeout(10) }
export async function main(): Promise<void> {
  const verdict: VerdictValue = await scan('/tmp/x', opts)
  if (verdict === Verdict.Malicious || verdict === Verdict.ScanError) return
  const client = createClient({ endpoints: ['tcp://a:1', { socket: '/run/c.sock' }, { host: 'b', port: 2 }], maxConnections: 2 })
  const report: ScanReport = await client.inspectBuffer(Buffer.from('x'), { timeout: 5 })
  const bytes: number = report.bytes
  const names: string[] = report.viruses
  const reason: 'size-limit' | 'too-large' | 'limits-exceeded' | 'clamd-error' | 'unexpected-reply' | null = report.reason
  const limit: string | null = report.limit
  const where: string | null = report.endpoint
  void [bytes, names, reason, limit, where]
  await scanBuffer(Buffer.from('x'), { port: 3310, maxFileSize: 0 })
  // @ts-expect-error maxFileSize is a number of bytes
  await scanBuffer(Buffer.from('x'), { port: 3310, maxFileSize: '100M' })
  await createPool({ maxFileSize: 1024 }).destroy()
  for await (const event of scanDirectory.stream('/tmp')) if (event.type === 'result') void event.verdict
  await createPool({ size: 2 }).destroy()
  void middleware({ uploadField: 'doc', onScanError: 'next' })
  const cache = createCache({ ttl: 1000, storage: 'file' })
  const cached: VerdictValue = await cache.scanBuffer(Buffer.from('x'), opts)
  void [cached, cache.stats().hitRate]
  const decision = await createPolicy({ scan: opts, maxSize: 10 }).check(Buffer.from('x'), { filename: 'a.txt' })
  if (decision.reason === 'virus_detected') void decision.details.virusName
  const card: string = generateShareCard({ clean: [], malicious: [], errors: [] })
  const engine = createMultiEngine({ engines: [{ type: 'clamav', port: 3310 }, { name: 'http', scanBuffer: async () => ({ verdict: Verdict.Clean }) }] })
  void [card, (await engine.scanBuffer(Buffer.from('x'))).engines, (await generateScorecard({})).grade]
  // Every upload shape (issue 19): byte views, web streams, iterables, Blobs, FormData, the tee.
  await client.scanBuffer(new Uint8Array(4))
  await scanBuffer(new ArrayBuffer(4), opts)
  await scanStream(new Blob(['x']).stream(), opts)
  await client.inspectStream((async function* () { yield 'text'; yield new Uint8Array(1) })())
  await client.scanStream([Buffer.from('a'), 'b'])
  const blobVerdict: VerdictValue = await client.scanBlob(new Blob(['x']))
  const form = await client.inspectFormData(new FormData())
  const fileReport: ScanReport = form.files[0].report
  const tee = client.passthrough({ signal: AbortSignal.timeout(1000) })
  const teeReport: Promise<ScanReport> = tee.report
  tee.end(Buffer.from('x'))
  void [blobVerdict, form.verdict, fileReport, teeReport]
  // TLS (issue 21).
  await scanBuffer(Buffer.from('x'), { host: 'clamav', port: 3310, tls: { ca: Buffer.from('PEM'), cert: 'PEM', key: 'PEM', servername: 'clamav' } })
  void createClient({ endpoints: ['tls://a:1', { host: 'b', port: 2, tls: true }, { host: 'c', port: 3, tls: { rejectUnauthorized: false } }] })
  // @ts-expect-error tls is a boolean or the settings
  await scanBuffer(Buffer.from('x'), { port: 1, tls: 'yes' })
  // @ts-expect-error a string is not a Blob
  await client.scanBlob('x')
  // @ts-expect-error a plain object is not a FormData
  await client.scanFormData({})
  // @ts-expect-error a number is not a path
  await scan(42)
  // @ts-expect-error there is no such verdict
  void Verdict.Unknown
  // @ts-expect-error ports are numbers or strings
  await scanBuffer(Buffer.from('x'), { port: { nope: true } })
  // @ts-expect-error scanStream takes a Readable
  await scanStream('not a stream')
  // @ts-expect-error onScanError is 'reject' or 'next'
  void middleware({ onScanError: 'ignore' })
}
`

const consumers = {
  'node16, ESM consumer (.mts)': {
    file: 'consumer.mts',
    options: { module: 'node16', moduleResolution: 'node16' },
    source: `import pompelmi, { scan, scanBuffer, scanStream, scanDirectory, createClient, createPool, middleware, createCache, createPolicy, generateShareCard, createMultiEngine, generateScorecard, Verdict, type ScanOptions, type ScanReport, type VerdictValue } from 'pompelmi'\nvoid pompelmi.ping\n${USE}`,
  },
  'node16, CommonJS consumer (.cts)': {
    file: 'consumer.cts',
    options: { module: 'node16', moduleResolution: 'node16' },
    source: `import pompelmi = require('pompelmi')\nconst { scan, scanBuffer, scanStream, scanDirectory, createClient, createPool, middleware, createCache, createPolicy, generateShareCard, createMultiEngine, generateScorecard, Verdict } = pompelmi\ntype ScanOptions = pompelmi.ScanOptions\ntype ScanReport = pompelmi.ScanReport\ntype VerdictValue = pompelmi.VerdictValue\n${USE}`,
  },
  bundler: {
    file: 'consumer.ts',
    options: { module: 'esnext', moduleResolution: 'bundler' },
    source: `import { scan, scanBuffer, scanStream, scanDirectory, createClient, createPool, middleware, createCache, createPolicy, generateShareCard, createMultiEngine, generateScorecard, Verdict, type ScanOptions, type ScanReport, type VerdictValue } from 'pompelmi'\n${USE}`,
  },
  node10: {
    file: 'consumer.ts',
    options: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
    source: `import { scan, scanBuffer, scanStream, scanDirectory, createClient, createPool, middleware, createCache, createPolicy, generateShareCard, createMultiEngine, generateScorecard, Verdict, ScanOptions, ScanReport, VerdictValue } from 'pompelmi'\n${USE}`,
  },
}

for (const [name, consumer] of Object.entries(consumers)) {
  test(`types compile under moduleResolution ${name}, and wrong calls do not`, (t) => {
    compile(t, consumer)
  })
}

test('the exports map has a types condition that exists', () => {
  const pkg = require('../package.json')
  assert.equal(pkg.exports['.'].types, './index.d.ts')
  assert.ok(fs.existsSync(path.join(ROOT, pkg.exports['.'].types)))
  assert.ok(Object.keys(pkg.exports['.'])[0] === 'types', 'types comes first, as TypeScript requires')
})

// The adapters' subpath exports (moduleResolution node16 and bundler read the exports map).
const ADAPTERS = `
import type { FastifyInstance } from 'fastify'
import { Hono } from 'hono'
import fastifyPlugin from 'pompelmi/fastify'
import koaPompelmi from 'pompelmi/koa'
import { pompelmiMiddleware } from 'pompelmi/hono'
import { withScan, withPompelmi } from 'pompelmi/next'
import { createMockScanner, mockInfected, Verdict } from 'pompelmi/testing'
export async function adapters(app: FastifyInstance): Promise<void> {
  await app.register(fastifyPlugin, { socket: '/run/clamav/clamd.ctl', onScanError: 'next' })
  void app.pompelmi.preHandler({ field: 'doc', onMalicious: (_req, reply) => reply.code(451).send() })
  void fastifyPlugin.onFile({ socket: '/x', store: async (_part, tee) => void tee.report })
  const koaMiddleware = koaPompelmi({ port: 3310 })
  void koaMiddleware({ request: {}, state: {}, status: 200, body: null }, async () => {})
  new Hono().post('/u', pompelmiMiddleware({ field: 'f', onInfected: (c) => c.json({}, 403) }), (c) => c.json({ v: c.get('pompelmi').verdict.description }))
  const route = withScan(async (_req, _ctx, { formData, pompelmi }) => Response.json({ n: formData ? pompelmi.files.length : 0 }), { socket: '/x' })
  void [route, withPompelmi]
  const mock = createMockScanner({ byName: { 'a.exe': Verdict.Malicious }, byContent: (b) => (b.length ? undefined : Verdict.Clean) })
  const v: typeof Verdict.Clean | typeof Verdict.Malicious | typeof Verdict.ScanError = await mock.scanBuffer(new Uint8Array(1))
  void [v, mockInfected('x').calls]
  // @ts-expect-error onScanError is 'reject' or 'next'
  koaPompelmi({ onScanError: 'ignore' })
  // @ts-expect-error a verdict is a Verdict symbol
  createMockScanner({ verdict: 'Clean' })
}
const storage = scanningStorage({ destination: '/tmp/uploads', socket: '/run/clamav/clamd.ctl', maxFileSize: 1024 })
storage._handleFile({}, { fieldname: 'f', originalname: 'a', encoding: '7bit', mimetype: 'text/plain', stream: null as any }, (err, info) => {
  if (!err && info && info.pompelmi) void info.pompelmi.verdict
})
// @ts-expect-error destination is a path or a function
scanningStorage({ destination: 42 })
`
const NEST = `
import { ParseFilePipe } from '@nestjs/common'
import { ClamavInterceptor, ClamavValidator } from 'pompelmi/nest'
void new ParseFilePipe({ validators: [new ClamavValidator({ socket: '/run/clamav/clamd.ctl', maxFileSize: 1024 })] })
void new ClamavInterceptor({ port: 3310 })
// @ts-expect-error ports are numbers or strings
void new ClamavInterceptor({ port: {} })
`
const adapterConsumers = {
  'node16 ESM, NestJS': { file: 'nest.mts', options: { module: 'node16', moduleResolution: 'node16' }, source: NEST },
  'node16 ESM': { file: 'adapters.mts', options: { module: 'node16', moduleResolution: 'node16', esModuleInterop: true }, source: `import { scanningStorage } from 'pompelmi/multer'\n${ADAPTERS}` },
  'node16 CommonJS': { file: 'adapters.cts', options: { module: 'node16', moduleResolution: 'node16', esModuleInterop: true }, source: `import multer = require('pompelmi/multer')\nconst { scanningStorage } = multer\n${ADAPTERS}` },
  bundler: { file: 'adapters.ts', options: { module: 'esnext', moduleResolution: 'bundler', esModuleInterop: true }, source: `import { scanningStorage } from 'pompelmi/multer'\n${ADAPTERS}` },
}
for (const [name, consumer] of Object.entries(adapterConsumers)) {
  test(`adapter types (pompelmi/multer) compile under ${name}, and wrong calls do not`, (t) => {
    compile(t, consumer)
  })
}
