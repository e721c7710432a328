'use strict'
// AbortSignal: a job can be cancelled until a worker starts it.
const test = require('node:test')
const assert = require('node:assert/strict')
const { getEventListeners } = require('node:events')
const { Engine } = require('lichtbild')
const { fixture, CONSENT, rejectsWithCode } = require('./helpers.js')

const photo = fixture('grace_hopper.jpg')
const engine = new Engine({ workers: 1 })

test('an already aborted signal rejects at once with cancelled / AbortError', async () => {
  const ac = new AbortController()
  ac.abort()
  const e = await rejectsWithCode(engine.process(photo, { consent: CONSENT, signal: ac.signal }), 'cancelled')
  assert.equal(e.name, 'AbortError')
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
})

test('aborting a queued job cancels it; the jobs ahead of it finish', async () => {
  // One worker, five jobs: the last one is still queued when it is aborted.
  const ac = new AbortController()
  const ahead = Array.from({ length: 4 }, () => engine.process(photo, { consent: CONSENT }))
  const last = engine.processPixels({ data: new Uint8Array(64 * 64 * 4), width: 64, height: 64 }, { consent: CONSENT, signal: ac.signal })
  assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'the job listens while queued')
  ac.abort()
  const e = await rejectsWithCode(last, 'cancelled')
  assert.equal(e.name, 'AbortError')
  for (const r of await Promise.all(ahead)) assert.equal(r.width, 531)
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'the listener is removed once settled')
})

test('a signal that never fires changes nothing and is let go', async () => {
  const ac = new AbortController()
  const rs = await Promise.all([1, 2, 3].map(() => engine.process(photo, { consent: CONSENT, signal: ac.signal })))
  assert.ok(rs.every((r) => r.image.equals(rs[0].image)))
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
  ac.abort() // after the fact: nothing to cancel, nothing thrown
})
