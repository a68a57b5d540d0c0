'use strict'
// A fleet of three real clamd instances behind one client: balancing, failover when one is
// killed with SIGKILL mid-run, recovery when it comes back, and every instance down.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { Readable } = require('node:stream')

const { createClient, scanBuffer, Verdict } = require('..')
const { startClamd } = require('./helpers/clamd.js')
const { EICAR, CLEAN_FILE, MD5_SAMPLE } = require('./helpers/samples.js')

const NAMES = ['fleet1', 'fleet2', 'fleet3']
const fleet = NAMES.map((name) => startClamd(name))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function kill(i) {
  try {
    process.kill(fleet[i].pid, 'SIGKILL')
  } catch (err) {
    if (err.code !== 'ESRCH') throw err // already dead (an earlier test failed before restarting it)
  }
}

function restart(i) {
  fleet[i] = startClamd(NAMES[i])
}

test.after(() => fleet.forEach((_, i) => restart(i)))

// Two TCP endpoints and one UNIX socket: files sent to the UNIX one travel as descriptors.
const endpoints = () => [`tcp://127.0.0.1:${fleet[0].port}`, { host: '127.0.0.1', port: fleet[1].port }, { socket: fleet[2].socket }]

/** A mixed workload: buffers, files and streams, every fifth one EICAR. */
function work(client, i) {
  const bad = i % 5 === 0
  const expected = bad ? Verdict.Malicious : Verdict.Clean
  switch (i % 3) {
    case 0:
      return { kind: 'buffer', expected, run: () => client.inspectBuffer(bad ? Buffer.concat([Buffer.from(`${i} `), EICAR]) : Buffer.from(`clean ${i}`)) }
    case 1:
      return { kind: 'file', expected: bad ? Verdict.Malicious : Verdict.Clean, run: () => client.inspect(bad ? MD5_SAMPLE : CLEAN_FILE) }
    default:
      return { kind: 'stream', expected, run: () => client.inspectStream(Readable.from([Buffer.from(`chunk ${i} `), bad ? EICAR : Buffer.from('fine')])) }
  }
}

test('calls are spread over every healthy endpoint', async (t) => {
  const client = createClient({ endpoints: endpoints() })
  t.after(() => client.close())
  const reports = await Promise.all(Array.from({ length: 600 }, (_, i) => work(client, i).run()))
  const used = new Set(reports.map((r) => r.endpoint))
  assert.deepEqual([...used].sort(), [`tcp://127.0.0.1:${fleet[0].port}`, `tcp://127.0.0.1:${fleet[1].port}`, `unix:${fleet[2].socket}`].sort())
  assert.ok(reports.filter((r) => r.endpoint.startsWith('unix:') && r.reply.startsWith('fd[')).length > 0, 'files to the UNIX endpoint used FILDES')
})

test('SIGKILL of one instance during 2000 mixed scans: every call resolves correctly; it comes back after a restart', async (t) => {
  const client = createClient({ endpoints: endpoints(), timeout: 5000 })
  t.after(() => client.close())
  const jobs = Array.from({ length: 2000 }, (_, i) => work(client, i))
  let started = 0
  const results = []
  // 64 calls in flight at any time; the victim dies once 500 have started.
  async function lane() {
    while (started < jobs.length) {
      const job = jobs[started++]
      if (started === 500) kill(1)
      try {
        results.push({ job, report: await job.run() })
      } catch (error) {
        results.push({ job, error })
      }
    }
  }
  await Promise.all(Array.from({ length: 64 }, lane))
  assert.equal(results.length, 2000)
  for (const { job, report, error } of results) {
    if (error) {
      // Only a stream already consumed past its replay window may fail, and it must say where.
      assert.equal(job.kind, 'stream', `${job.kind} failed: ${error.message}`)
      assert.equal(error.endpoint, `tcp://127.0.0.1:${fleet[1].port}`)
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${fleet[1].port}`))
    } else {
      assert.equal(report.verdict, job.expected, `${job.kind} got ${report.reply}`)
    }
  }
  const afterKill = results.slice(800).filter((r) => r.report)
  assert.ok(afterKill.every((r) => r.report.endpoint !== `tcp://127.0.0.1:${fleet[1].port}`), 'the dead instance gets no work')

  restart(1)
  // The PING probe runs after a 1 s cooldown (then 2 s, 4 s…): the instance is back within a few seconds.
  let back = false
  for (let round = 0; round < 40 && !back; round++) {
    await sleep(250)
    const reports = await Promise.all(Array.from({ length: 30 }, (_, i) => client.inspectBuffer(Buffer.from(`after restart ${round} ${i}`))))
    assert.ok(reports.every((r) => r.verdict === Verdict.Clean))
    back = reports.some((r) => r.endpoint === `tcp://127.0.0.1:${fleet[1].port}`)
  }
  assert.ok(back, 'the restarted instance takes work again')
})

test('every instance down: calls reject within 5 s with a Node-style error naming the endpoint; they recover when one returns', async (t) => {
  const client = createClient({ endpoints: endpoints() })
  t.after(() => client.close())
  assert.equal(await client.scanBuffer(Buffer.from('warm up')), Verdict.Clean)
  fleet.forEach((_, i) => kill(i))
  await sleep(100)
  const started = Date.now()
  const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => client.scanBuffer(Buffer.from(`down ${i}`))))
  assert.ok(Date.now() - started < 5000, `rejected after ${Date.now() - started} ms`)
  for (const o of outcomes) {
    assert.equal(o.status, 'rejected')
    assert.ok(['ECONNREFUSED', 'ENOENT', 'ECONNRESET'].includes(o.reason.code), o.reason.code)
    assert.ok(o.reason.endpoint, 'err.endpoint names the endpoint')
    assert.ok(o.reason.message.includes(o.reason.address), 'the message names the address: ' + o.reason.message + ' ' + o.reason.code)
  }
  // A top-level call keeps pompelmi's ECONNREFUSED for a refused port.
  await assert.rejects(scanBuffer(Buffer.from('x'), { port: fleet[0].port }), {
    code: 'ECONNREFUSED',
    message: `connect ECONNREFUSED 127.0.0.1:${fleet[0].port}`,
  })
  restart(0)
  let recovered = false
  for (let i = 0; i < 60 && !recovered; i++) {
    await sleep(250)
    recovered = (await client.scanBuffer(Buffer.from(`back ${i}`)).catch(() => null)) === Verdict.Clean
  }
  assert.ok(recovered, 'calls succeed again once one instance is back')
  fs.accessSync(fleet[0].socket)
})
