// ESM entry: the same objects as the CommonJS entry (one native addon instance per process).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const lichtbild = require('./index.js')

export const { Engine, presets, errorCodes, openSealed } = lichtbild
export default lichtbild
