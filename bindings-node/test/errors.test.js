'use strict'
// Every error code, each from a real cause where one exists. Rejections are JS Errors with the
// core's stable `code` and message.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Engine, errorCodes, openSealed } = require('lichtbild')
const { fixture, CONSENT, rejectsWithCode } = require('./helpers.js')

const engine = new Engine({ workers: 1 })
const photo = fixture('grace_hopper.jpg')
const seen = new Set()
const expectCode = async (promise, code) => {
  const e = await rejectsWithCode(promise, code)
  seen.add(code)
  return e
}

// The stable codes, as documented in bindings-node/README.md.
const DOCUMENTED = [
  'invalid_input', 'unsupported_format', 'too_large', 'no_face', 'multiple_faces', 'consent_required',
  'invalid_options', 'runtime_not_found', 'model_integrity', 'inference', 'encode', 'cancelled', 'sandbox', 'seal',
  'internal', 'busy', 'timeout',
]
// No outside cause reaches these: the models are embedded and verified at start, ONNX Runtime
// does not fail on valid tensors, seccomp installs on every Linux the suite runs on (the core's
// tests cover the refusal), and internal errors are bugs.
const UNREACHABLE = ['model_integrity', 'inference', 'sandbox', 'internal']

test('errorCodes() is the table of every core error kind', () => {
  assert.deepEqual([...errorCodes()].sort(), [...DOCUMENTED].sort())
})

test('invalid_input: truncated JPEG, short pixel buffer, wrong input type, empty size', async () => {
  await expectCode(engine.process(photo.subarray(0, 3000), { consent: CONSENT }), 'invalid_input')
  await expectCode(engine.process(Buffer.alloc(0), { consent: CONSENT }), 'invalid_input')
  await expectCode(engine.process('grace_hopper.jpg', { consent: CONSENT }), 'invalid_input')
  const e = await expectCode(engine.processPixels({ data: new Uint8Array(100), width: 64, height: 64 }, { consent: CONSENT }), 'invalid_input')
  assert.match(e.message, /needs at least 16384/)
  await expectCode(engine.processPixels({ data: new Uint8Array(16), width: 0, height: 4 }, { consent: CONSENT }), 'invalid_input')
  await expectCode(engine.processPixels({ width: 4, height: 4 }, { consent: CONSENT }), 'invalid_input')
})

test('unsupported_format: bytes that are no image', async () => {
  await expectCode(engine.process(Buffer.from('this is a text file, not a photo of anybody. '.repeat(4)), { consent: CONSENT }), 'unsupported_format')
})

test('too_large: input over maxBytes (refused before queueing) and over maxPixels', async () => {
  const small = new Engine({ workers: 1, maxBytes: 1000, maxPixels: 100 * 100 })
  const e = await expectCode(small.process(photo, { consent: CONSENT }), 'too_large')
  assert.match(e.message, /limit is 1000/)
  await expectCode(small.process(photo.subarray(0, 900), { consent: CONSENT }), 'too_large')
})

test('no_face: a plain grey picture', async () => {
  const grey = new Uint8Array(320 * 320 * 3).fill(128)
  await expectCode(engine.processPixels({ data: grey, width: 320, height: 320, format: 'rgb8' }, { consent: CONSENT }), 'no_face')
})

test('multiple_faces: two people side by side with multiFace "error"', async () => {
  const one = await engine.process(photo, { preset: 'linkedin', format: 'pixels', consent: CONSENT })
  const w = one.width
  const h = one.height
  const two = new Uint8Array(w * 2 * h * 4)
  for (let y = 0; y < h; y++) {
    const row = one.image.subarray(y * w * 4, (y + 1) * w * 4)
    two.set(row, y * w * 8)
    two.set(row, y * w * 8 + w * 4)
  }
  const input = { data: two, width: w * 2, height: h }
  await expectCode(engine.processPixels(input, { multiFace: 'error', consent: CONSENT }), 'multiple_faces')
  const largest = await engine.processPixels(input, { consent: CONSENT })
  assert.ok(largest.findings.some((f) => f.code === 'multiple_faces'), 'the default policy reports the other face')
})

test('consent_required: no face_geometry, no consent at all, retouching without appearance', async () => {
  const e = await expectCode(engine.process(photo, { consent: { faceGeometry: false } }), 'consent_required')
  assert.match(e.message, /face_geometry/)
  await expectCode(engine.process(photo, {}), 'consent_required')
  const r = await expectCode(engine.process(photo, { retouch: 0.5, consent: CONSENT }), 'consent_required')
  assert.match(r.message, /appearance/)
})

test('invalid_options: bad values and bad types, for process, processPixels and the engine', async () => {
  const bad = [
    { quality: 0 },
    { quality: 'high' },
    { preset: 'passport-99' },
    { background: 'pink-ish' },
    { format: 'gif' },
    { multiFace: 'all' },
    { background: 'transparent' }, // JPEG has no alpha
    { background: 'white', backgroundImage: photo },
    { customPreset: { name: 'x' } },
    { signal: {} },
    { consent: 'yes' },
  ]
  for (const o of bad) {
    await expectCode(engine.process(photo, { consent: CONSENT, ...o }), 'invalid_options')
  }
  await expectCode(engine.process(photo, null), 'invalid_options')
  await expectCode(engine.processPixels({ data: new Uint8Array(4), width: 1, height: 1 }, { consent: CONSENT, format: 'jpeg' }), 'invalid_options')
  await expectCode(engine.processPixels({ data: new Uint8Array(4), width: 1, height: 1, format: 'bgra8' }, { consent: CONSENT }), 'invalid_options')
  for (const config of [{ workers: 'two' }, { maxBytes: -1 }, 'fast']) {
    assert.throws(() => new Engine(config), (e) => e instanceof Error && e.code === 'invalid_options')
  }
  seen.add('invalid_options')
})

test('encode: a lossless PNG cannot fit 4 KiB', async () => {
  const e = await expectCode(engine.process(photo, { format: 'png', maxKb: 4, consent: CONSENT }), 'encode')
  assert.match(e.message, /JPEG/)
})

test('cancelled: an already aborted signal; the error is an AbortError', async () => {
  const e = await expectCode(engine.process(photo, { consent: CONSENT, signal: AbortSignal.abort() }), 'cancelled')
  assert.equal(e.name, 'AbortError')
})

test('seal: bytes that are no sealed result (seal.test.js has the real cases)', async () => {
  const e = await expectCode(openSealed(photo, { passphrase: 'x' }), 'seal')
  assert.match(e.message, /age/)
})

test('runtime_not_found: no ONNX Runtime where it is looked for (fresh process)', () => {
  // One ONNX Runtime per process, ever: this needs a process that has not loaded one.
  const script = `
    const { Engine } = require('lichtbild')
    try { new Engine({ ortLibrary: '/nonexistent/libonnxruntime.so.1' }); console.log('{}') }
    catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })) }`
  const env = { ...process.env }
  delete env.ORT_DYLIB_PATH
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), env, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const e = JSON.parse(r.stdout)
  assert.equal(e.code, 'runtime_not_found')
  assert.match(e.message, /\/nonexistent\/libonnxruntime\.so\.1: no such file/)
  assert.match(e.message, /onnxruntime-node@1\.30\.0/)
  seen.add('runtime_not_found')
})

test('too_large: a preset whose output is over maxOutputPixels, refused before any work', async () => {
  const narrow = new Engine({ workers: 1, maxOutputPixels: 300000 })
  // bewerbung-45x60 is 531 x 709 = 376,479 pixels; bewerbung-35x45 (413 x 531) fits.
  const e = await expectCode(narrow.process(photo, { consent: CONSENT }), 'too_large')
  assert.match(e.message, /output.*376479/)
  assert.ok((await narrow.process(photo, { consent: CONSENT, preset: 'bewerbung-35x45' })).image.length > 1000)
})

test('busy: one worker, maxQueue 1, eight calls at once; the engine keeps working', async () => {
  const one = new Engine({ workers: 1, maxQueue: 1 })
  const settled = await Promise.allSettled(Array.from({ length: 8 }, () => one.process(photo, { consent: CONSENT })))
  const busy = settled.filter((s) => s.status === 'rejected')
  const done = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value.image)
  // A job takes tens of milliseconds: one runs, one waits, the others are refused at once.
  assert.ok(busy.length >= 1 && done.length >= 1, `${done.length} done, ${busy.length} refused`)
  for (const b of busy) {
    assert.equal(b.reason.code, 'busy', b.reason.message)
    assert.match(b.reason.message, /requests waiting/)
  }
  seen.add('busy')
  for (const img of done) assert.ok(img.equals(done[0]))
  assert.ok((await one.process(photo, { consent: CONSENT })).image.equals(done[0]))
  assert.throws(() => new Engine({ maxQueue: 0 }), (e) => e.code === 'invalid_options')
})

test('timeout: a 1 ms budget cannot cover the pipeline; name TimeoutError; the engine keeps working', async () => {
  const e = await expectCode(engine.process(photo, { consent: CONSENT, timeBudgetMs: 1 }), 'timeout')
  assert.equal(e.name, 'TimeoutError')
  assert.match(e.message, /1 ms/)
  const a = await engine.process(photo, { consent: CONSENT, timeBudgetMs: 600000 })
  const b = await engine.process(photo, { consent: CONSENT })
  assert.ok(a.image.equals(b.image))
  await expectCode(engine.process(photo, { consent: CONSENT, timeBudgetMs: 0 }), 'invalid_options')
})

test('every reachable code was produced by a real cause above', () => {
  assert.deepEqual([...seen].sort(), DOCUMENTED.filter((c) => !UNREACHABLE.includes(c)).sort())
})
