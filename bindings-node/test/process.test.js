'use strict'
// Real photos through the real pipeline (real ONNX Runtime and models): sizes, formats, presets,
// options, landmarks, receipt.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Engine, presets } = require('lichtbild')
const { fixture, CONSENT, jpegSize, pngInfo } = require('./helpers.js')

const engine = new Engine()
const photo = fixture('grace_hopper.jpg')

test('a real photo becomes a JPEG headshot of the default preset size', async () => {
  const r = await engine.process(photo, { preset: 'bewerbung-45x60', background: 'studio-grey', consent: CONSENT })
  assert.equal(r.format, 'jpeg')
  assert.ok(Buffer.isBuffer(r.image))
  assert.deepEqual(jpegSize(r.image), { width: 531, height: 709 })
  assert.equal(r.width, 531)
  assert.equal(r.height, 709)
  assert.equal(r.landmarks, undefined, 'landmarks only when asked')
  assert.ok(Array.isArray(r.findings))
  for (const f of r.findings) {
    assert.match(f.code, /^[a-z_]+$/)
    assert.ok(['info', 'warning', 'critical'].includes(f.severity))
    assert.equal(typeof f.message, 'string')
  }
  // The receipt is the core's JSON document.
  assert.equal(r.receipt.preset, 'bewerbung-45x60')
  assert.deepEqual(r.receipt.consent, ['face_geometry'])
  assert.equal(r.receipt.output.width, 531)
  assert.equal(r.receipt.output.bytes, r.image.length)
  assert.equal(r.receipt.retouched, false)
  assert.equal(r.receipt.geometry.faces_found, 1)
  // The protections the addon itself must provide: the worker sandbox (seccomp, Landlock where
  // the kernel has it) and the WipeOnFree allocator installed in this addon's crate root.
  assert.equal(r.receipt.sandbox.enforced, true, JSON.stringify(r.receipt.sandbox))
  assert.match(r.receipt.sandbox.mechanisms[0], /^seccomp/)
  assert.match(r.receipt.freed_memory, /^all wiped/)
  assert.equal(r.receipt.network, 'none')
  assert.equal(r.receipt.disk, 'none')
})

test('sandbox: false turns the worker sandbox off, and the receipt says so', async () => {
  const unconfined = new Engine({ workers: 1, sandbox: false })
  const r = await unconfined.process(photo, { consent: CONSENT })
  assert.equal(r.receipt.sandbox.enforced, false)
  assert.deepEqual(r.receipt.sandbox.mechanisms, [])
  assert.ok(r.receipt.sandbox.reason.length > 0, 'with a reason')
})

test('every built-in preset gives its own size, and presets() round-trips as customPreset', async () => {
  for (const p of presets()) {
    const byName = await engine.process(photo, { preset: p.name, consent: CONSENT })
    assert.deepEqual(jpegSize(byName.image), { width: p.widthPx, height: p.heightPx }, p.name)
    const custom = await engine.process(photo, { customPreset: p, consent: CONSENT })
    assert.deepEqual(custom.image, byName.image, `${p.name} as customPreset gives the same headshot`)
  }
})

test('a custom preset sets the output size', async () => {
  const base = presets().find((p) => p.name === 'bewerbung-45x60')
  const mine = { ...base, name: 'mine', widthPx: 300, heightPx: 400 }
  const r = await engine.process(photo, { customPreset: mine, consent: CONSENT })
  assert.deepEqual(jpegSize(r.image), { width: 300, height: 400 })
  assert.equal(r.receipt.preset, 'mine')
})

test('PNG with a transparent background keeps alpha; a PNG input works', async () => {
  const r = await engine.process(fixture('astronaut.png'), { preset: 'linkedin', background: 'transparent', format: 'png', consent: CONSENT })
  assert.equal(r.format, 'png')
  assert.deepEqual(pngInfo(r.image), { width: 800, height: 800, colourType: 6 })
})

test('format pixels from process() returns RGBA of the preset size', async () => {
  const r = await engine.process(photo, { format: 'pixels', background: '#102030', consent: CONSENT })
  assert.equal(r.format, 'pixels')
  assert.equal(r.image.length, 531 * 709 * 4)
  // The top-left corner is background: exactly the colour asked for, opaque.
  assert.deepEqual([...r.image.subarray(0, 4)], [0x10, 0x20, 0x30, 255])
})

test('returnLandmarks gives the 468 face-mesh points inside the frame', async () => {
  const r = await engine.process(photo, { returnLandmarks: true, consent: CONSENT })
  assert.equal(r.landmarks.length, 468)
  const inside = r.landmarks.filter(([x, y]) => x >= 0 && x < r.width && y >= 0 && y < r.height)
  assert.equal(inside.length, 468)
})

test('retouching with appearance consent is recorded in the receipt', async () => {
  const r = await engine.process(photo, { retouch: 0.5, consent: { faceGeometry: true, appearance: true } })
  assert.equal(r.receipt.retouched, true)
  assert.deepEqual(r.receipt.consent, ['face_geometry', 'appearance'])
})

test('a background image goes behind the person', async () => {
  const plain = await engine.process(photo, { format: 'pixels', background: 'white', consent: CONSENT })
  const img = await engine.process(photo, { format: 'pixels', backgroundImage: fixture('astronaut.png'), consent: CONSENT })
  assert.equal(img.image.length, plain.image.length)
  assert.notDeepEqual([...img.image.subarray(0, 4)], [255, 255, 255, 255], 'the corner shows the image, not white')
})

test('a Uint8Array input works like a Buffer', async () => {
  const a = await engine.process(new Uint8Array(photo), { consent: CONSENT })
  const b = await engine.process(photo, { consent: CONSENT })
  assert.deepEqual(a.image, b.image)
})
