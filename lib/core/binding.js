'use strict'
// Loads the native addon with an error that says what to do when this platform has no prebuilt
// binary.
//
// The binary for this platform, built in place (`npm run build`) or installed as the optional
// package `pompelmi-<triple>`, is required directly. napi-rs's generated loader (`binding.js`)
// covers every platform, overrides (NAPI_RS_NATIVE_LIBRARY_PATH) and version checks, but compiling
// and running it cost about 3 ms per process (measured 2026-12-06), a third of `require('pompelmi')`;
// it stays the fallback for everything the direct path does not handle.

const fs = require('node:fs')

/** The platform suffix napi-rs uses: linux-x64-gnu, linux-x64-musl, darwin-arm64, win32-x64-msvc... */
function platformTriple() {
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  return `linux-${process.arch}-${isMusl() ? 'musl' : 'gnu'}`
}

/** The check napi-rs's loader makes first (ldd is a script naming its libc); the report if not. */
function isMusl() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    return !process.report.getReport().header.glibcVersionRuntime
  }
}

function requireDirect(triple) {
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH || process.env.NAPI_RS_ENFORCE_VERSION_CHECK) return null
  for (const id of [`../../pompelmi.${triple}.node`, `pompelmi-${triple}`]) {
    try {
      return require(id)
    } catch {
      // Not there or not loadable: the generated loader tries again and keeps the errors.
    }
  }
  return null
}

function loadBinding() {
  const triple = platformTriple()
  const direct = requireDirect(triple)
  if (direct) return direct
  try {
    return require('../../binding.js')
  } catch (cause) {
    const err = new Error(
      `pompelmi has no native binary for this platform (${triple}): the optional dependency ` +
        `pompelmi-${triple} is not installed. Reinstall without --no-optional/--omit=optional, or, ` +
        `if no such package exists for ${triple}, build from source with Rust: npm run build.`,
      { cause },
    )
    err.code = 'ERR_POMPELMI_NO_BINARY'
    throw err
  }
}

module.exports = loadBinding()
