'use strict'
// A real S3-compatible server for the tests: moto in server mode (PyPI's moto[server], installed
// into .venv by scripts/setup-test.sh), on a loopback port, stopped when the test file ends.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const test = require('node:test')

const { pickPort } = require('../../scripts/ports.js')

const MOTO = path.join(__dirname, '..', '..', '.venv', 'bin', 'moto_server')

/** Starts moto and returns an S3Client for it (path-style, dummy credentials). */
async function startS3() {
  if (!fs.existsSync(MOTO)) throw new Error(`${MOTO} is missing: run scripts/setup-test.sh (npm test does)`)
  const port = await pickPort('clamd')
  const child = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  test.after(() => child.kill())
  const endpoint = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`)
    try {
      await fetch(`${endpoint}/moto-api/`)
      break
    } catch {
      if (i > 300) throw new Error(`moto_server did not start: ${stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const { S3Client } = require('@aws-sdk/client-s3')
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })
  test.after(() => s3.destroy())
  return { s3, endpoint }
}

module.exports = { startS3 }
