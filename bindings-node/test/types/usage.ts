// Type-checked with `tsc --strict --noEmit` against the installed package's index.d.ts (never
// run): the API as a TypeScript user writes it, and mistakes the declarations must reject.
import { readFileSync } from 'node:fs'
import { Engine, presets, errorCodes, openSealed } from 'lichtbild'
import type { ProcessOptions, ProcessResult, PixelsResult, Preset, Finding, EngineOptions } from 'lichtbild'

const config: EngineOptions = { workers: 2, intraThreads: 1, sandbox: true, maxPixels: 50e6, maxBytes: 64 << 20, maxOutputPixels: 25e6, maxQueue: 64 }
const engine = new Engine(config)
const plain = new Engine()

const options: ProcessOptions = {
  preset: 'bewerbung-45x60',
  background: 'studio-grey',
  consent: { faceGeometry: true },
}

export async function headshot(path: string): Promise<number> {
  const ac = new AbortController()
  const r: ProcessResult = await engine.process(readFileSync(path), { ...options, format: 'jpeg', quality: 90, signal: ac.signal, timeBudgetMs: 5000 })
  const image: Buffer = r.image
  const format: 'jpeg' | 'png' | 'webp' | 'pixels' = r.format
  const critical: Finding[] = r.findings.filter((f) => f.severity === 'critical')
  const schema: unknown = r.receipt.schema
  const points: Array<[number, number]> | undefined = r.landmarks
  const px: PixelsResult = await plain.processPixels(
    { data: new Float32Array(4 * 4 * 3), width: 4, height: 4, format: 'rgbf32', stride: 48 },
    { consent: { faceGeometry: true, appearance: false }, retouch: 0 },
  )
  const own: Preset = { ...presets()[0], name: 'own', widthPx: 600, heightPx: 800 }
  await engine.process(new Uint8Array(image), { customPreset: own, consent: { faceGeometry: true }, multiFace: 'error' })
  const sealed: ProcessResult = await engine.process(image, { ...options, sealTo: ['age1…'] })
  const byKey: Buffer = await openSealed(sealed.image, { identity: 'AGE-SECRET-KEY-1…' })
  const byPass: Buffer = await openSealed(new Uint8Array(0), { passphrase: 'p' })
  await engine.process(image, { ...options, sealPassphrase: 'p' })
  const codes: string[] = errorCodes()
  const lib: string = engine.runtime.library
  return image.length + byKey.length + byPass.length + px.pixels.length + critical.length + codes.length + lib.length + engine.workers +
    (points?.length ?? 0) + (format === 'png' ? 1 : 0) + (schema === 1 ? 1 : 0)
}

// @ts-expect-error consent is required: there is no default
export const noConsent: ProcessOptions = { preset: 'linkedin' }
// @ts-expect-error faceGeometry must be stated
export const partialConsent: ProcessOptions = { consent: { appearance: true } }
// @ts-expect-error not an output format
export const gif: ProcessOptions = { consent: { faceGeometry: true }, format: 'gif' }
// @ts-expect-error not a multi-face policy
export const all: ProcessOptions = { consent: { faceGeometry: true }, multiFace: 'all' }
// @ts-expect-error options are required
engine.process(Buffer.alloc(0))
// @ts-expect-error not a pixel format
engine.processPixels({ data: new Uint8Array(4), width: 1, height: 1, format: 'bgra8' }, options)
// @ts-expect-error the input is bytes, not a path
engine.process('photo.jpg', options)
// @ts-expect-error engine options are typed
export const badConfig = new Engine({ workers: 'two' })
// @ts-expect-error openSealed needs { identity } or { passphrase }
openSealed(Buffer.alloc(0), 'AGE-SECRET-KEY-1…')
// @ts-expect-error recipients are a list
export const oneRecipient: ProcessOptions = { consent: { faceGeometry: true }, sealTo: 'age1…' }
