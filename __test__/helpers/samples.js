'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// Built at run time so that no scanner flags this repository's own files.
const EICAR = Buffer.from(['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join(''))
const TESTDATA = path.join(__dirname, '..', '..', 'testdata')
const CLEAN_FILE = path.join(TESTDATA, 'clean.txt')
const MD5_SAMPLE = path.join(TESTDATA, 'hash-sample-md5.txt')
const SHA256_SAMPLE = path.join(TESTDATA, 'hash-sample-sha256.txt')

/** A fresh temp directory, removed when the test ends. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pompelmi-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function writeFile(dir, name, content) {
  const p = path.join(dir, name)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, content)
  return p
}

/**
 * Names of the package's own temp entries in os.tmpdir() (lib/core/tempfile.js's fallback,
 * `mkdtemp('pompelmi-')`: the prefix and six characters), to check that none is left behind.
 * Exactly that shape: the tests' own directories, the bench's and the private clamd's, which
 * other processes create and remove meanwhile, are not the package's.
 */
function pompelmiTempEntries() {
  return fs.readdirSync(os.tmpdir()).filter((n) => /^pompelmi-[A-Za-z0-9]{6}$/.test(n))
}

/** A FIFO at a fresh path; `feed(content)` opens it for writing once and writes `content`. */
function fifo(t, name = 'pipe') {
  const p = path.join(tempDir(t), name)
  require('node:child_process').execFileSync('mkfifo', [p])
  return {
    path: p,
    feed: (content) =>
      new Promise((resolve, reject) => {
        const out = fs.createWriteStream(p)
        out.on('error', reject)
        out.end(content, resolve)
      }),
  }
}

module.exports = { EICAR, CLEAN_FILE, MD5_SAMPLE, SHA256_SAMPLE, TESTDATA, tempDir, writeFile, fifo, pompelmiTempEntries }
