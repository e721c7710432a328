// The same package from an ES module.
import lichtbild, { Engine, presets, type ProcessResult } from 'lichtbild'

const engine: Engine = new lichtbild.Engine()
export const sizes: Array<[number, number]> = presets().map((p) => [p.widthPx, p.heightPx])
export const run = (bytes: Uint8Array): Promise<ProcessResult> => engine.process(bytes, { consent: { faceGeometry: true } })
export const other = new Engine({ workers: 1 })
