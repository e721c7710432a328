'use strict'
// The pixels path: typed arrays of every sample layout in, RGBA8 out.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Engine } = require('lichtbild')
const { fixture, CONSENT, meanAbsDiff } = require('./helpers.js')

const engine = new Engine()
const opts = { background: '#102030', consent: CONSENT }

// A real face as RGBA pixels, made by the engine itself (no image decoder in JS).
async function facePixels() {
  const r = await engine.process(fixture('grace_hopper.jpg'), { preset: 'linkedin', format: 'pixels', consent: CONSENT })
  return { data: r.image, width: r.width, height: r.height }
}

test('processPixels turns RGBA8 pixels into a headshot of the preset size', async () => {
  const src = await facePixels()
  const r = await engine.processPixels(src, opts)
  assert.equal(r.width, 531)
  assert.equal(r.height, 709)
  assert.equal(r.pixels.length, 531 * 709 * 4)
  assert.deepEqual([...r.pixels.subarray(0, 4)], [0x10, 0x20, 0x30, 255])
  assert.equal(r.receipt.output.format, 'pixels')
  assert.equal(r.receipt.geometry.faces_found, 1)
})

test('rgb8, rgba16, rgbaf32 and padded rows give the same headshot as rgba8', async () => {
  const src = await facePixels()
  const { width: w, height: h } = src
  const ref = await engine.processPixels(src, opts)
  const n = w * h
  const rgb = new Uint8Array(n * 3)
  const rgba16 = new Uint16Array(n * 4)
  const rgbaf32 = new Float32Array(n * 4)
  const stride = w * 4 + 32
  const padded = new Uint8Array(stride * h)
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 4; c++) {
      const v = src.data[i * 4 + c]
      if (c < 3) rgb[i * 3 + c] = v
      rgba16[i * 4 + c] = v * 257
      rgbaf32[i * 4 + c] = v / 255
    }
  }
  for (let y = 0; y < h; y++) padded.set(src.data.subarray(y * w * 4, (y + 1) * w * 4), y * stride)
  const variants = {
    rgb8: { data: rgb, width: w, height: h, format: 'rgb8' },
    rgba16: { data: rgba16, width: w, height: h, format: 'rgba16' },
    rgbaf32: { data: rgbaf32, width: w, height: h, format: 'rgbaf32' },
    padded: { data: padded, width: w, height: h, stride, format: 'rgba8' },
  }
  for (const [name, input] of Object.entries(variants)) {
    const r = await engine.processPixels(input, opts)
    assert.equal(r.width, 531, name)
    assert.equal(r.height, 709, name)
    const d = meanAbsDiff(r.pixels, ref.pixels)
    assert.ok(d < 1.5, `${name}: mean difference ${d} to the rgba8 result`)
  }
})

test('processPixels with format "pixels" is accepted; landmarks when asked', async () => {
  const r = await engine.processPixels(await facePixels(), { ...opts, format: 'pixels', returnLandmarks: true })
  assert.equal(r.landmarks.length, 468)
})
