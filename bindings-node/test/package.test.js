'use strict'
// The installed package: where it comes from, what it ships, and how it finds ONNX Runtime.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const lichtbild = require('lichtbild')

test('lichtbild is the packed package installed in node_modules, not the source folder', () => {
  const main = fs.realpathSync(require.resolve('lichtbild'))
  assert.match(main, /node_modules[\\/]lichtbild[\\/]index\.js$/)
  assert.ok(!main.includes(`bindings-node${path.sep}`), main)
  const dir = path.dirname(main)
  for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'package.json']) {
    assert.ok(fs.existsSync(path.join(dir, f)), `${f} is in the package`)
  }
  assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.node')), 'the native addon is in the package')
  assert.ok(!fs.existsSync(path.join(dir, 'test')), 'tests are not shipped')
  assert.ok(!fs.existsSync(path.join(dir, 'src')), 'Rust sources are not shipped')
})

test('ONNX Runtime is found in onnxruntime-node when nothing else is configured', () => {
  assert.equal(process.env.ORT_DYLIB_PATH, undefined, 'the suite runs without ORT_DYLIB_PATH')
  const engine = new lichtbild.Engine({ workers: 1 })
  const ortNode = path.dirname(require.resolve('onnxruntime-node/package.json'))
  assert.equal(engine.runtime.library, path.join(ortNode, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime.so.1'))
  assert.equal(engine.workers, 1)
})

test('presets() lists the built-ins with their sizes (camelCase fields)', () => {
  const ps = lichtbild.presets()
  const def = ps.find((p) => p.name === 'bewerbung-45x60')
  assert.ok(def, 'the default preset is listed')
  assert.equal(def.widthPx, 531)
  assert.equal(def.heightPx, 709)
  assert.equal(def.dpi, 300)
  for (const p of ps) {
    assert.ok(p.widthPx >= 16 && p.heightPx >= 16, p.name)
    assert.ok(p.headHeight.min <= p.headHeight.target && p.headHeight.target <= p.headHeight.max, p.name)
    assert.equal(typeof p.defaultBackground, 'string')
  }
})
