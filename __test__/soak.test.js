'use strict'
// Soak: many scans mixed across entry points through one client against a real clamd. Open
// descriptors and pending handles must return to their starting level, RSS may grow by less
// than 32 MiB after the warm-up; no temp file may be
// left behind. `npm test` runs SOAK_SCANS=3000; `npm run soak` runs the full 50,000.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { Readable } = require('node:stream')

const { createClient, Verdict } = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE, pompelmiTempEntries } = require('./helpers/samples.js')

const SCANS = Number(process.env.SOAK_SCANS || 3000)
const clamd = startClamd('main')

const openFds = () => fs.readdirSync('/proc/self/fd').length
const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'Timeout').length
const rssMiB = () => {
  global.gc?.()
  return process.memoryUsage().rss / 2 ** 20
}

async function run(client, count) {
  let next = 0
  let wrong = 0
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++
        const bad = i % 7 === 0
        let verdict
        switch (i % 4) {
          case 0:
            verdict = await client.scanBuffer(bad ? Buffer.concat([Buffer.from(`${i}`), EICAR]) : Buffer.from(`soak ${i}`))
            break
          case 1:
            verdict = await client.scan(bad ? MD5_SAMPLE : CLEAN_FILE)
            break
          case 2:
            verdict = await client.scanStream(Readable.from([Buffer.from(`soak stream ${i} `), bad ? EICAR : Buffer.from('ok')]))
            break
          default:
            verdict = (await client.inspectBuffer(bad ? EICAR : Buffer.from(`inspect ${i}`))).verdict
        }
        if (verdict !== (bad ? Verdict.Malicious : Verdict.Clean)) wrong++
      }
    }),
  )
  return wrong
}

test(`soak: ${SCANS} mixed scans through one client leave no trace`, { timeout: 30 * 60_000 }, async () => {
  const tempBefore = pompelmiTempEntries()
  // A UNIX endpoint (files go as descriptors) and a TCP one, to exercise both paths.
  const client = createClient({ endpoints: [{ socket: clamd.socket }, { port: clamd.port }] })
  // Warm-up: sessions, JIT, and the allocator's per-thread arenas, which grow to a plateau.
  assert.equal(await run(client, Math.max(500, SCANS / 5)), 0)
  const fds = openFds()
  const active = handles()
  const rss = rssMiB()
  const started = Date.now()
  assert.equal(await run(client, SCANS), 0, 'every verdict is right')
  const seconds = (Date.now() - started) / 1000
  await new Promise((r) => setTimeout(r, 200))
  const grown = rssMiB() - rss
  console.log(`${SCANS} scans in ${seconds.toFixed(1)} s; RSS ${rss.toFixed(0)} → ${(rss + grown).toFixed(0)} MiB; fds ${fds} → ${openFds()}`)
  assert.ok(openFds() <= fds + 2, `descriptors: ${fds} → ${openFds()}`)
  assert.ok(handles() <= active + 2, `active handles: ${active} → ${handles()}`)
  assert.ok(grown < 32, `RSS grew by ${grown.toFixed(1)} MiB`)
  await client.close()
  assert.ok(openFds() <= fds, 'close() releases every connection')
  assert.deepEqual(pompelmiTempEntries(), tempBefore)
})
