// The ESM entry: named and default imports give the CommonJS module's very objects.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import pompelmi, { scan, scanBuffer, scanStream, scanDirectory, Verdict } from 'pompelmi'

const require = createRequire(import.meta.url)

test('import { Verdict } is the same object as require().Verdict', () => {
  const cjs = require('pompelmi')
  assert.equal(Verdict, cjs.Verdict)
  assert.equal(Verdict.Malicious, cjs.Verdict.Malicious)
  assert.equal(pompelmi, cjs)
  assert.equal(scan, cjs.scan)
})

test('every CommonJS export is a named ESM export, the same object', async () => {
  const esm = await import('pompelmi')
  const cjs = require('pompelmi')
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort())
  for (const key of Object.keys(cjs)) assert.equal(esm[key], cjs[key], key)
})

test('named exports are functions and reject bad input', async () => {
  for (const fn of [scan, scanBuffer, scanStream, scanDirectory]) assert.equal(typeof fn, 'function')
  await assert.rejects(scanBuffer('x'), { message: 'buffer must be a Buffer' })
})
