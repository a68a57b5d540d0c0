'use strict'
// The fake clamscan (helpers/fake-bin/clamscan) first on PATH for one test: it records its
// arguments, the file it was handed (mode, size, where the descriptor points) and its pid, then
// acts as `mode` says (`exit:N`, `signal:NAME`, `found:NAME`, `noisy`, `loud:BYTES`, `sleep:S`).
const fs = require('node:fs')
const path = require('node:path')
const { tempDir } = require('./samples.js')

const FAKE_BIN = path.join(__dirname, 'fake-bin')
const REAL_PATH = process.env.PATH

function useFakeClamscan(t, mode) {
  const log = path.join(tempDir(t), 'clamscan.log')
  process.env.PATH = `${FAKE_BIN}${path.delimiter}${REAL_PATH}`
  process.env.FAKE_CLAMSCAN = mode
  process.env.FAKE_CLAMSCAN_LOG = log
  t.after(() => {
    process.env.PATH = REAL_PATH
    delete process.env.FAKE_CLAMSCAN
    delete process.env.FAKE_CLAMSCAN_LOG
  })
  return {
    args: () => fs.readFileSync(log, 'utf8').trimEnd().split('\n'),
    stat: () => fs.readFileSync(`${log}.stat`, 'utf8').trim().split(' '),
    link: () => fs.readFileSync(`${log}.link`, 'utf8').trim(),
    pid: () => Number(fs.readFileSync(`${log}.pid`, 'utf8')),
    log,
  }
}

module.exports = { useFakeClamscan, FAKE_BIN, REAL_PATH }
