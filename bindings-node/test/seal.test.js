'use strict'
// Sealed output (age): the engine encrypts the headshot before it leaves the engine; openSealed
// opens it again. Keys are made by the real `age-keygen` (Debian package `age`, `make sys-deps`).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Engine, openSealed } = require('lichtbild')
const { fixture, CONSENT, jpegSize, pngInfo, rejectsWithCode } = require('./helpers.js')

const engine = new Engine({ workers: 1 })
const photo = fixture('grace_hopper.jpg')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lichtbild-seal-'))
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** A fresh age X25519 key pair: `{ recipient: 'age1…', identity: <the identity file's text> }`. */
let keys = 0
function keygen() {
  const file = path.join(tmp, `key${keys++}.txt`)
  execFileSync('age-keygen', ['-o', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  const identity = fs.readFileSync(file, 'utf8')
  const recipient = identity.match(/^# public key: (age1[0-9a-z]+)$/m)[1]
  return { recipient, identity }
}

const AGE_HEADER = Buffer.from('age-encryption.org/v1\n')
const hasJpegMagic = (b) => b.includes(Buffer.from([0xff, 0xd8, 0xff]))

test('sealTo: the image is an age file that opens, with the key, to the unsealed headshot', async () => {
  const key = keygen()
  const opts = { preset: 'bewerbung-45x60', background: 'studio-grey', consent: CONSENT }
  const plain = await engine.process(photo, opts)
  const sealed = await engine.process(photo, { ...opts, sealTo: [key.recipient] })
  assert.ok(sealed.image.subarray(0, AGE_HEADER.length).equals(AGE_HEADER), 'starts with the age header')
  assert.ok(!hasJpegMagic(sealed.image), 'no JPEG marker anywhere in the sealed bytes')
  assert.deepEqual(sealed.receipt.output.sealed, { format: 'age-encryption.org/v1', method: 'x25519', recipients: 1 })
  assert.ok(!JSON.stringify(sealed.receipt).includes(key.recipient), 'the receipt never names the recipient')
  assert.equal(plain.receipt.output.sealed, undefined)

  const opened = await openSealed(sealed.image, { identity: key.identity })
  assert.ok(Buffer.isBuffer(opened))
  assert.ok(opened.equals(plain.image), 'opened = the unsealed output of the same options')
  assert.deepEqual(jpegSize(opened), { width: 531, height: 709 })
  // The bare secret-key line works as well as the whole identity file.
  const line = key.identity.match(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m)[0]
  assert.ok((await openSealed(new Uint8Array(sealed.image), { identity: line })).equals(plain.image))
})

test('sealTo several recipients: each opens it, a stranger cannot (code seal)', async () => {
  const [a, b, stranger] = [keygen(), keygen(), keygen()]
  const opts = { format: 'png', preset: 'linkedin', consent: CONSENT }
  const plain = await engine.process(photo, opts)
  const sealed = await engine.process(photo, { ...opts, sealTo: [a.recipient, b.recipient] })
  assert.equal(sealed.receipt.output.sealed.recipients, 2)
  assert.ok(!sealed.image.includes(Buffer.from('IHDR')), 'no PNG structure in the sealed bytes')
  for (const k of [a, b]) {
    const opened = await openSealed(sealed.image, { identity: k.identity })
    assert.ok(opened.equals(plain.image))
    assert.equal(pngInfo(opened).width, 800)
  }
  const e = await rejectsWithCode(openSealed(sealed.image, { identity: stranger.identity }), 'seal')
  assert.equal(e.name, 'LichtbildError')
})

test('corrupted sealed bytes and bytes that are no age file: code seal', async () => {
  const key = keygen()
  const sealed = (await engine.process(photo, { sealTo: [key.recipient], consent: CONSENT })).image
  const bad = Buffer.from(sealed)
  bad[bad.length - 10] ^= 1
  await rejectsWithCode(openSealed(bad, { identity: key.identity }), 'seal')
  await rejectsWithCode(openSealed(photo, { identity: key.identity }), 'seal')
})

test('sealPassphrase: round trip; a wrong passphrase is code seal', async () => {
  const opts = { format: 'webp', consent: CONSENT }
  const plain = await engine.process(photo, opts)
  const sealed = await engine.process(photo, { ...opts, sealPassphrase: 'correct horse battery staple' })
  assert.deepEqual(sealed.receipt.output.sealed, { format: 'age-encryption.org/v1', method: 'scrypt', recipients: 1 })
  assert.ok(!sealed.image.includes(Buffer.from('RIFF')), 'no WebP structure in the sealed bytes')
  const opened = await openSealed(sealed.image, { passphrase: 'correct horse battery staple' })
  assert.ok(opened.equals(plain.image))
  await rejectsWithCode(openSealed(sealed.image, { passphrase: 'wrong horse' }), 'seal')
})

test('bad sealing options and bad openSealed arguments: invalid_options / invalid_input', async () => {
  const key = keygen()
  for (const o of [
    { sealTo: ['age1notarecipient'] },
    { sealTo: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm'] },
    { sealTo: [] },
    { sealTo: 'age1…' },
    { sealPassphrase: '' },
    { sealTo: [key.recipient], sealPassphrase: 'both' },
    { sealTo: [key.recipient], format: 'pixels' },
    { sealTo: [key.recipient], returnLandmarks: true },
  ]) {
    await rejectsWithCode(engine.process(photo, { consent: CONSENT, ...o }), 'invalid_options')
  }
  await rejectsWithCode(engine.processPixels({ data: new Uint8Array(4), width: 1, height: 1 }, { consent: CONSENT, sealTo: [key.recipient] }), 'invalid_options')
  const sealed = (await engine.process(photo, { sealTo: [key.recipient], consent: CONSENT })).image
  for (const k of [{}, { identity: key.identity, passphrase: 'x' }, { identity: 'not a key' }, null, 'AGE-SECRET-KEY-1']) {
    await rejectsWithCode(openSealed(sealed, k), 'invalid_options')
  }
  await rejectsWithCode(openSealed('sealed.age', { identity: key.identity }), 'invalid_input')
})
