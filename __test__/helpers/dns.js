'use strict'
// A real DNS server on loopback for the discovery tests: dnsmasq answering names under `.test`
// from a hosts file the test rewrites (`set`), with TTL 0 and no upstream. Every query is logged,
// so a test can count them. Stopped when the test file ends.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { pickPort } = require('../../scripts/ports.js')
const { atFileEnd } = require('./at-file-end.js')

const DNSMASQ = fs.existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq'

/**
 * Starts dnsmasq answering `names` (`{ 'clamd.test': ['127.0.0.2', '::1'] }`) and `srv`
 * (`[['_clamd._tcp.srv.test', 'a.srv.test', 3310]]`). Returns
 * `{ port, resolver, set(names), queries(name), stop(), restart() }`: `set` rewrites the answers
 * and resolves once dnsmasq has re-read them; `queries` counts the queries seen for a name.
 */
async function startDns(names, { srv = [] } = {}) {
  const port = await pickPort('clamd')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-dns-'))
  const hosts = path.join(dir, 'hosts')
  let log = ''
  let child
  const write = (map) => fs.writeFileSync(hosts, Object.entries(map).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`)).join('\n') + '\n')
  const start = async () => {
    child = spawn(
      DNSMASQ,
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        `--port=${port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${hosts}`,
        '--local=/test/',
        '--local-ttl=0',
        '--no-negcache',
        // SRV records: [name, target, port], fixed for the server's life (a SIGHUP does not re-read them).
        ...srv.map(([name, target, port]) => `--srv-host=${name},${target},${port}`),
        '--log-queries',
        '--log-facility=-',
        '--user=root',
        `--pid-file=${path.join(dir, 'pid')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child.stdout.on('data', (d) => (log += d))
    child.stderr.on('data', (d) => (log += d))
    const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`dnsmasq exited ${code}: ${log}`))))
    exited.catch(() => {})
    await Promise.race([waitFor(() => /started, version/.test(log)), exited])
  }
  const stop = () => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
  }
  atFileEnd(() => {
    stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  write(names)
  await start()
  return {
    port,
    resolver: [`127.0.0.1:${port}`],
    async set(map) {
      const before = (log.match(/read .*hosts/g) || []).length
      write(map)
      child.kill('SIGHUP')
      await waitFor(() => (log.match(/read .*hosts/g) || []).length > before)
    },
    queries: (name) => log.split('\n').filter((line) => line.includes(`query[`) && line.includes(` ${name} `)).length,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      stop()
      await exited
    },
    async restart() {
      log = ''
      await start()
    },
  }
}

async function waitFor(condition, ms = 10000) {
  const until = Date.now() + ms
  while (!condition()) {
    if (Date.now() > until) throw new Error('dnsmasq: timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

module.exports = { startDns }
