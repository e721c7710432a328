// The ESM entry exposes the same objects as the CommonJS one.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import lichtbild, { Engine, presets, errorCodes, openSealed } from 'lichtbild'

const require = createRequire(import.meta.url)

test('import and require give the same Engine, presets, errorCodes and openSealed', () => {
  const cjs = require('lichtbild')
  assert.equal(Engine, cjs.Engine)
  assert.equal(presets, cjs.presets)
  assert.equal(errorCodes, cjs.errorCodes)
  assert.equal(openSealed, cjs.openSealed)
  assert.equal(lichtbild.Engine, Engine)
  assert.ok(presets().length > 0)
})
