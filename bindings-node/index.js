'use strict'
// The package's CommonJS entry: the napi-generated loader (binding.js) plus one convenience the
// native side cannot do itself: finding the ONNX Runtime library that ships in the
// `onnxruntime-node` npm package. Everything else is the native binding, unchanged.
const path = require('node:path')
const fs = require('node:fs')
const native = require('./binding.js')

// onnxruntime-node keeps its libraries in bin/napi-v6/<platform>/<arch>/.
const ORT_NAMES = { linux: 'libonnxruntime.so.1', darwin: 'libonnxruntime.1.dylib', win32: 'onnxruntime.dll' }

function onnxruntimeNodeLibrary() {
  let dir
  try {
    dir = path.dirname(require.resolve('onnxruntime-node/package.json'))
  } catch {
    return undefined
  }
  let lib = path.join(dir, 'bin', 'napi-v6', process.platform, process.arch, ORT_NAMES[process.platform] || '')
  // Electron: a library cannot be loaded from inside app.asar; `asarUnpack` puts it next to it.
  const unpacked = lib.replace(/\.asar([\\/])/, '.asar.unpacked$1')
  if (unpacked !== lib && fs.existsSync(unpacked)) lib = unpacked
  return fs.existsSync(lib) ? lib : undefined
}

class Engine extends native.Engine {
  // Order: explicit `ortLibrary`, then ORT_DYLIB_PATH (the core reads it), then onnxruntime-node,
  // then the core's own search (next to the addon, the system loader's path).
  constructor(config) {
    const c = config == null ? {} : config
    if (typeof c === 'object' && c.ortLibrary == null && !process.env.ORT_DYLIB_PATH) {
      const lib = onnxruntimeNodeLibrary()
      if (lib) config = { ...c, ortLibrary: lib }
    }
    super(config)
  }
}

module.exports = { ...native, Engine }
