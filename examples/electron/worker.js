// Utility process: owns the lichtbild engine. Its work runs on the engine's own threads; this
// process's event loop only passes messages.
const { Engine } = require('lichtbild')

const engine = new Engine()

process.parentPort.on('message', async ({ data: { id, bytes, options } }) => {
  try {
    const { image, width, height, findings } = await engine.process(Buffer.from(bytes), options)
    process.parentPort.postMessage({ id, ok: true, result: { image, width, height, findings } })
  } catch (e) {
    process.parentPort.postMessage({ id, ok: false, error: { code: e.code, message: e.message } })
  }
})
