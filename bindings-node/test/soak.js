'use strict'
// Soak through the Node binding (make soak; not part of node --test): 2,000 headshots on one
// engine (2 workers), 4 promises in flight, RSS sampled every 100 runs after a full GC (run
// with --expose-gc: the soak looks for leaks, not for how lazily V8 collects). Flat means: after
// a warm-up of 200 runs, the median of the last 5 samples is at most 5 % above the median of
// the first 5 (see core/examples/soak.rs for why medians). Every output must equal the first.
//
//   node --expose-gc soak.js FIXTURES_DIR [RUNS]
const fs = require('node:fs')
const path = require('node:path')
const { Engine } = require('lichtbild')

const [EVERY, WARM_UP, TOLERANCE, IN_FLIGHT, WINDOW] = [100, 200, 0.05, 4, 5]

async function main() {
  const runs = Number(process.argv[3] || 2000)
  const photo = fs.readFileSync(path.join(process.argv[2], 'astronaut.png'))
  const engine = new Engine({ workers: 2 })
  // The smallest application photo (413x531): the soak is about memory, not pixels.
  const options = { consent: { faceGeometry: true }, preset: 'bewerbung-35x45' }
  const samples = []
  const t0 = Date.now()
  let first = null
  let started = 0
  let done = 0
  async function lane() {
    while (started < runs) {
      started++
      const { image } = await engine.process(photo, options)
      first ??= image
      if (!image.equals(first)) throw new Error('an output differs from the first')
      done++
      if (done % EVERY === 0) {
        global.gc()
        const rss = process.memoryUsage().rss / 2 ** 20
        samples.push([done, rss])
        console.log(`node soak: run ${String(done).padStart(5)}  rss ${rss.toFixed(1).padStart(7)} MiB  (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
      }
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  samples.sort((a, b) => a[0] - b[0])
  console.log(`node soak: RSS series (MiB, every ${EVERY} runs): ${samples.map(([, v]) => v.toFixed(1)).join(' ')}`)
  const after = samples.filter(([n]) => n > WARM_UP).map(([, v]) => v)
  if (after.length < 2 * WINDOW) throw new Error(`too few samples: run at least ${WARM_UP + 2 * WINDOW * EVERY} runs`)
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]
  const [start, end] = [median(after.slice(0, WINDOW)), median(after.slice(-WINDOW))]
  const drift = end / start - 1
  console.log(`node soak: ${runs} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s; after the ${WARM_UP}-run warm-up: ` +
    `median of the first ${WINDOW} samples ${start.toFixed(1)} MiB, of the last ${WINDOW} ${end.toFixed(1)} MiB ` +
    `(${drift >= 0 ? '+' : ''}${(drift * 100).toFixed(1)} %, limit +${TOLERANCE * 100} %); ` +
    `range ${Math.min(...after).toFixed(1)}..${Math.max(...after).toFixed(1)} MiB`)
  if (drift > TOLERANCE) {
    console.error('node soak: FAILED: RSS grew after the warm-up')
    process.exit(1)
  }
  console.log('node soak: ok')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
