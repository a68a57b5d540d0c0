'use strict'
// createCache against a real clamd: keys, TTL, LRU, file storage. pompelmi 1.x's behaviour, its bugs fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')

const pompelmi = require('..')
const { Verdict } = pompelmi
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, tempDir, writeFile } = require('./helpers/samples.js')

const clamd = startClamd('main')
const TCP = { port: clamd.port }
const pause = (ms) => new Promise((r) => setTimeout(r, ms))

test('createCache: hit after miss, options in the key, TTL, LRU, ScanError not cached, coalesced misses', async (t) => {
  const cache = pompelmi.createCache({ ttl: 200, maxSize: 2 })
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  const buf = Buffer.from(`cache me ${Date.now()}`)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.equal(await cache.scanBuffer(buf, TCP), Verdict.Clean)
  assert.deepEqual(cache.stats(), { hits: 2, misses: 1, size: 1, hitRate: 2 / 3 })
  // Another clamd (socket) is another key.
  assert.equal(await cache.scanBuffer(buf, { socket: clamd.socket }), Verdict.Clean)
  assert.equal(cache.stats().misses, 2)
  // LRU: a third key evicts the oldest.
  assert.equal(await cache.scanBuffer(EICAR, TCP), Verdict.Malicious)
  assert.equal(cache.stats().size, 2)
  // TTL expiry rescans.
  await pause(250)
  await cache.scanBuffer(EICAR, TCP)
  assert.equal(cache.stats().misses, 4)
  // delete(sha256) and clear().
  assert.equal(cache.delete(crypto.createHash('sha256').update(EICAR).digest('hex')), true)
  cache.clear()
  assert.deepEqual(cache.stats(), { hits: 0, misses: 0, size: 0, hitRate: 0 })
  // Concurrent misses share one scan; files are keyed by content.
  const file = writeFile(tempDir(t), 'f.txt', EICAR)
  const verdicts = await Promise.all(Array.from({ length: 10 }, () => cache.scan(file, TCP)))
  assert.ok(verdicts.every((v) => v === Verdict.Malicious))
  assert.equal(cache.stats().misses, 10)
  assert.equal(cache.stats().size, 1)
  // A ScanError (unreachable port here rejects; a size-limit reply is a ScanError) is not cached.
  const limited = startClamd('limit')
  const big = Buffer.alloc(2 * 1024 * 1024, 1)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(await cache.scanBuffer(big, { port: limited.port }), Verdict.ScanError)
  assert.equal(cache.stats().hits, 0, 'ScanError is never served from the cache')
})

test("createCache storage: 'file' survives a reload with the real Verdict symbols", async (t) => {
  const filePath = path.join(tempDir(t), 'cache.json')
  const first = pompelmi.createCache({ storage: 'file', filePath })
  assert.equal(await first.scanBuffer(EICAR, TCP), Verdict.Malicious)
  first.flush()
  const second = pompelmi.createCache({ storage: 'file', filePath })
  const verdict = await second.scanBuffer(EICAR, TCP)
  assert.equal(verdict, Verdict.Malicious)
  assert.equal(typeof verdict, 'symbol')
  assert.equal(second.stats().hits, 1, 'served from the reloaded file')
})
