'use strict'
// Certificates made with openssl for the TLS tests (a CA, a server certificate for localhost,
// tls.clamd.test (discovery.test.js) and 127.0.0.1, an expired one, a self-signed one, one from a CA nobody trusts, a client certificate),
// and a real stunnel4 in front of a clamd, stopped when the test file ends.
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { pickPort } = require('../../scripts/ports.js')
const { atFileEnd } = require('./at-file-end.js')

const openssl = (args, cwd) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })

/** Makes every certificate in a fresh directory (removed when the file's tests end); returns their paths and PEM texts. */
function makeCertificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-tls-'))
  atFileEnd(() => fs.rmSync(dir, { recursive: true, force: true }))
  const ext = (name, lines) => fs.writeFileSync(path.join(dir, name), lines.join('\n') + '\n')
  ext('server.ext', ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,DNS:tls.clamd.test,IP:127.0.0.1'])
  ext('client.ext', ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'])
  const ca = (name) => {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=pompelmi test ${name}`], dir)
  }
  const signed = (name, issuer, extFile, days = '2') => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'client' ? 'client' : 'localhost'}`], dir)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', extFile], dir)
  }
  ca('ca')
  ca('rogue-ca')
  signed('server', 'ca', 'server.ext')
  signed('client', 'ca', 'client.ext')
  signed('untrusted', 'rogue-ca', 'server.ext')
  // Expired: valid from 2020 to 2021, through `openssl ca` (x509 -req cannot date back).
  fs.writeFileSync(path.join(dir, 'index.txt'), '')
  fs.writeFileSync(path.join(dir, 'serial'), '1000\n')
  ext('ca.cnf', ['[ca]', 'default_ca=test', '[test]', `dir=${dir}`, 'database=$dir/index.txt', 'serial=$dir/serial', 'new_certs_dir=$dir', 'default_md=sha256', 'policy=any', 'copy_extensions=none', '[any]', 'commonName=supplied'])
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=localhost'], dir)
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.pem', '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extfile', 'server.ext', '-notext'], dir)
  // Self-signed leaf for localhost.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir)
  const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8')
  const file = (name) => path.join(dir, name)
  return { dir, file, read }
}

async function listening(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`stunnel did not listen on ${port}`)
}

/**
 * Starts stunnel4 as a TLS terminator on a loopback port in front of `target` (a TCP port):
 * `cert`/`key` the server's files; `clientCa` requires a client certificate signed by it.
 */
async function startStunnel({ cert, key, clientCa, target }) {
  const port = await pickPort('clamd')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-stunnel-'))
  const conf = [
    'foreground = yes',
    `pid =`,
    'debug = 3',
    '[clamd]',
    `accept = 127.0.0.1:${port}`,
    `connect = 127.0.0.1:${target}`,
    `cert = ${cert}`,
    `key = ${key}`,
    ...(clientCa ? ['verifyChain = yes', `CAfile = ${clientCa}`, 'requireCert = yes'] : []),
  ]
  fs.writeFileSync(path.join(dir, 'stunnel.conf'), conf.join('\n') + '\n')
  const child = spawn('stunnel4', [path.join(dir, 'stunnel.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  atFileEnd(() => {
    child.kill()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await Promise.race([listening(port), new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`stunnel4 exited ${code}: ${stderr}`))))])
  return { port, child }
}

module.exports = { makeCertificates, startStunnel }
