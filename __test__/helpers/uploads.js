'use strict'
// The upload cases every framework adapter is held to, over real HTTP against a real clamd:
// each with the files it posts (multipart, via fetch's FormData) and the answer it must get.
const test = require('node:test')
const { EICAR } = require('./samples.js')
const { startFakeClamd, serveSession } = require('./fake-clamd.js')

let silent = null
// Closed when the test file ends (a hook made inside a test would close it with that test).
test.after(() => silent && silent.close())
/** Options for a clamd that accepts and never answers (one per test file): the slow-clamd case. */
async function silentClamd() {
  silent ||= await startFakeClamd((conn) => serveSession(conn, () => null))
  return { port: silent.port, timeout: 300, retries: 0 }
}

const SIGNATURE = 'Eicar-Test-Signature.UNOFFICIAL'

/**
 * `clamd`: the working connection options; `down`: options for a clamd that refuses; `slow`: for
 * one that never answers (`silentClamd()`). Each case:
 * `options` for the adapter, `files` ([field, name, content]), the `status`, the `body` (for 403
 * and 422), `files` seen by the handler when it runs (200).
 */
function uploadCases(clamd, down, slow) {
  const clean = ['file', 'clean.txt', 'a clean file']
  const eicar = (field = 'file', name = 'eicar.com') => [field, name, EICAR]
  return [
    { name: 'one clean file', options: clamd, files: [clean], status: 200, handled: 1 },
    { name: 'text fields only', options: clamd, files: [], status: 200, handled: 0 },
    { name: 'EICAR', options: clamd, files: [eicar()], status: 403, body: { error: 'Malicious file detected', files: [{ field: 'file', name: 'eicar.com', viruses: [SIGNATURE] }] } },
    {
      name: 'several files, one EICAR',
      options: clamd,
      files: [clean, ['file', 'b.txt', 'also clean'], eicar('file', 'c.com')],
      status: 403,
      body: { error: 'Malicious file detected', files: [{ field: 'file', name: 'c.com', viruses: [SIGNATURE] }] },
    },
    {
      name: 'a clean file and EICAR in another field',
      options: clamd,
      files: [clean, eicar('other', 'x.com')],
      status: 403,
      body: { error: 'Malicious file detected', files: [{ field: 'other', name: 'x.com', viruses: [SIGNATURE] }] },
    },
    { name: 'an empty file', options: clamd, files: [['file', 'empty.txt', '']], status: 200, handled: 1 },
    {
      name: 'a file over maxFileSize',
      options: { ...clamd, maxFileSize: 1024 },
      files: [['file', 'big.bin', Buffer.alloc(4096, 0x61)]],
      status: 422,
      body: { error: 'File could not be scanned', field: 'file', name: 'big.bin', reason: 'too-large' },
    },
    ...(slow
      ? [
          {
            name: 'clamd too slow (timeout)',
            options: slow,
            files: [clean],
            status: 422,
            body: { error: 'File could not be scanned', field: 'file', name: 'clean.txt', reason: 'ETIMEDOUT' },
          },
        ]
      : []),
    {
      name: 'clamd unreachable',
      options: down,
      files: [clean],
      status: 422,
      body: { error: 'File could not be scanned', field: 'file', name: 'clean.txt', reason: 'ECONNREFUSED' },
    },
  ]
}

/**
 * What the test apps' handlers answer: the report's verdict and file count, or `none` when the
 * request had no files (and so no report).
 */
const handlerBody = (report) => (report ? { verdict: report.verdict.description, files: report.files.length } : { verdict: 'none', files: 0 })
/** The handler's answer a 200 case expects. */
const expectedBody = (c) => (c.handled ? { verdict: 'Clean', files: c.handled } : { verdict: 'none', files: 0 })

function form(files) {
  const body = new FormData()
  body.append('title', 'a text field')
  for (const [field, name, content] of files) body.append(field, new Blob([content]), name)
  return body
}

/** POSTs the files as multipart; resolves `[status, json]`. */
async function postFiles(url, files) {
  const res = await fetch(url, { method: 'POST', body: form(files) })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return [res.status, json]
}

module.exports = { uploadCases, silentClamd, postFiles, form, handlerBody, expectedBody, SIGNATURE }
