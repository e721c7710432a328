'use strict'
// Shared by the test files: fixtures, and just enough JPEG/PNG header reading to check sizes
// without any native image library.
const path = require('node:path')
const fs = require('node:fs')
const assert = require('node:assert/strict')

const FIXTURES = process.env.LICHTBILD_FIXTURES || path.join(__dirname, '..', '..', 'tests', 'fixtures')
const fixture = (name) => fs.readFileSync(path.join(FIXTURES, name))

const CONSENT = Object.freeze({ faceGeometry: true })

/** Width and height from the JPEG frame header (SOFn). */
function jpegSize(buf) {
  assert.ok(buf[0] === 0xff && buf[1] === 0xd8, 'not a JPEG (no SOI)')
  let i = 2
  while (i + 9 < buf.length) {
    assert.equal(buf[i], 0xff, `bad JPEG marker at ${i}`)
    const m = buf[i + 1]
    const len = buf.readUInt16BE(i + 2)
    // SOF0..SOF15 except DHT (c4), JPG (c8), DAC (cc).
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { width: buf.readUInt16BE(i + 7), height: buf.readUInt16BE(i + 5) }
    }
    i += 2 + len
  }
  throw new Error('no JPEG frame header')
}

/** Width, height and colour type from the PNG IHDR chunk. */
function pngInfo(buf) {
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG')
  assert.equal(buf.toString('latin1', 12, 16), 'IHDR')
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), colourType: buf[25] }
}

/** Mean absolute difference of two equally sized byte buffers. */
function meanAbsDiff(a, b) {
  assert.equal(a.length, b.length)
  let s = 0
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i])
  return s / a.length
}

/** Rejects with a lichtbild error of this code; returns the error. */
async function rejectsWithCode(promise, code) {
  let err
  await assert.rejects(promise, (e) => {
    err = e
    return true
  })
  assert.ok(err instanceof Error, `not an Error: ${err}`)
  assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`)
  assert.ok(err.message.length > 10, 'the message says what went wrong')
  return err
}

module.exports = { fixture, CONSENT, jpegSize, pngInfo, meanAbsDiff, rejectsWithCode, FIXTURES }
