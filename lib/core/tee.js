'use strict'
// The scanning tee (`passthrough()`): a Duplex whose bytes flow on downstream unchanged while the
// same bytes are uploaded to clamd. clamd answers only after the end of the upload, so the one
// guarantee a tee can give is the one this gives: the last chunk and the end are held back until
// clamd says Clean. Anything else (Malicious, ScanError, clamd down, a timeout, the size guard,
// an abort) destroys the tee with an error, so `pipeline` rejects and the destination never
// completes. Loaded on first use.

const { Duplex, Readable } = require('node:stream')
const { Verdict } = require('./verdict.js')
const { MaliciousUploadError, ScanFailedError } = require('./errors.js')

const noop = () => {}

class ScanningTee extends Duplex {
  /** What the scan reads: each chunk, as it is written. */
  #feed
  /** The newest chunk: released downstream only after the next one, or after Clean. */
  #held = null
  /** Wakes a write waiting for the scan (`feed`) or for downstream (`down`) to read again. */
  #waiting = { feed: null, down: null }
  #ending = false
  #settled = false
  #finish = null

  /** `scan(feed)` scans a Readable and resolves its report (an inspectStream). */
  constructor(scan, options) {
    super(options)
    this.#feed = new Readable({ read: () => this.#wake('feed') })
    let scanned
    try {
      scanned = Promise.resolve(scan(this.#feed))
    } catch (err) {
      scanned = Promise.reject(err)
    }
    /** The report whenever clamd answered; the tee's error otherwise. Never unhandled. */
    this.report = scanned.then(
      (report) => {
        this.#settled = true
        this.#answered(report)
        return report
      },
      (cause) => {
        this.#settled = true
        const err = new ScanFailedError({ cause })
        this.destroy(err)
        throw err
      },
    )
    this.report.catch(noop)
  }

  _write(chunk, encoding, done) {
    // Strings and Uint8Arrays arrive as Buffers (decodeStrings); an empty write carries nothing.
    if (chunk.length === 0) return done()
    this.#forward(chunk).then(() => done(), done)
  }

  async #forward(chunk) {
    const previous = this.#held
    this.#held = chunk
    if (!this.#feed.push(chunk)) await this.#readAgain('feed')
    if (previous && !this.destroyed && !this.push(previous)) await this.#readAgain('down')
  }

  _read() {
    this.#wake('down')
  }

  _final(done) {
    this.#ending = true
    this.#finish = done
    this.#feed.push(null)
  }

  _destroy(err, done) {
    this.#wake('feed')
    this.#wake('down')
    // The scan stops with the tee; once it has settled, the feed has no reader left to tell.
    if (!this.#settled) this.#feed.destroy(err || new Error('the scanning tee was destroyed before the upload ended'))
    else this.#feed.destroy()
    done(err)
  }

  #answered(report) {
    if (this.destroyed) return
    if (report.verdict === Verdict.Malicious) return this.destroy(new MaliciousUploadError(report))
    if (report.verdict !== Verdict.Clean) return this.destroy(new ScanFailedError({ report }))
    // Clean before the end of the upload is not a verdict on all of it.
    if (!this.#ending) return this.destroy(new ScanFailedError({ report, cause: new Error('clamd answered before the upload ended') }))
    if (this.#held) this.push(this.#held)
    this.#held = null
    this.push(null)
    const finish = this.#finish
    this.#finish = null
    finish()
  }

  #readAgain(side) {
    return new Promise((resolve) => {
      this.#waiting[side] = resolve
    })
  }

  #wake(side) {
    const resolve = this.#waiting[side]
    this.#waiting[side] = null
    if (resolve) resolve()
  }
}

/** A scanning tee over `scan(feed)`. */
function createTee(scan, options) {
  return new ScanningTee(scan, options)
}

module.exports = { createTee, ScanningTee }
