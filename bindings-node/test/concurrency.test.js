'use strict'
// The work runs on the engine's worker threads: many calls at once give identical results, the
// event loop keeps turning, and libuv's thread pool stays free.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Engine } = require('lichtbild')
const { fixture, CONSENT } = require('./helpers.js')

const photo = fixture('grace_hopper.jpg')
const opts = { background: 'studio-grey', consent: CONSENT }

test('64 process() calls at once on one engine give identical headshots', async () => {
  // The default maxQueue (64) takes all of them even before a worker has picked one up.
  const engine = new Engine()
  const results = await Promise.all(Array.from({ length: 64 }, () => engine.process(photo, opts)))
  assert.equal(results.length, 64)
  for (const r of results) assert.ok(r.image.equals(results[0].image))
  assert.ok(results[0].image.length > 10000)
})

test('pixel loops on one thread or two give the same bytes', async () => {
  const [one, two] = await Promise.all([1, 2].map((pixelThreads) => new Engine({ workers: 1, pixelThreads }).process(photo, opts)))
  assert.ok(one.image.equals(two.image))
})

test('the event loop keeps ticking while jobs run', async () => {
  const engine = new Engine({ workers: 1 })
  let immediates = 0
  let intervals = 0
  let done = false
  const spin = () => {
    immediates++
    if (!done) setImmediate(spin)
  }
  setImmediate(spin)
  const timer = setInterval(() => intervals++, 1)
  const jobs = Array.from({ length: 6 }, () => engine.process(photo, opts))
  await Promise.all(jobs)
  done = true
  clearInterval(timer)
  // Were the pipeline on the JS thread, these would be a handful at most.
  assert.ok(immediates > 200, `setImmediate ran ${immediates} times during the run`)
  assert.ok(intervals > 5, `setInterval(1 ms) ran ${intervals} times during the run`)
})

test("libuv's thread pool is not used: a pool task finishes before the first queued job", async () => {
  // make node-test runs the suite with a one-thread pool; were jobs on it, pbkdf2 would wait.
  assert.equal(process.env.UV_THREADPOOL_SIZE, '1')
  const engine = new Engine({ workers: 1 })
  const order = []
  const jobs = Array.from({ length: 4 }, (_, i) => engine.process(photo, opts).then(() => order.push(`job${i}`)))
  const pool = new Promise((resolve, reject) => {
    crypto.pbkdf2('pw', 'salt', 1, 32, 'sha256', (err) => (err ? reject(err) : resolve(order.push('pool'))))
  })
  await Promise.all([...jobs, pool])
  assert.equal(order[0], 'pool', order.join(' '))
})
