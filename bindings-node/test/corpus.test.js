'use strict'
// The bad-input corpus (tests/corpus/make_corpus.py, issue 9) through engine.process(): every case
// gives its expected outcome, a rejection with its error code or a headshot of the expected size.
// The same manifest as the Rust, Python and C tests (`make corpus-data` writes it into
// target/corpus, a prerequisite of `make node-test`; LICHTBILD_CORPUS points elsewhere).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')
const { Engine } = require('lichtbild')
const { CONSENT, FIXTURES, jpegSize } = require('./helpers.js')

const MANIFEST = process.env.LICHTBILD_CORPUS || path.join(FIXTURES, '..', '..', 'target', 'corpus', 'manifest.json')
const cases = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'))
const engine = new Engine({ workers: 2 })

test('the manifest is the whole corpus', () => {
  assert.ok(cases.length > 100)
  assert.equal(new Set(cases.map((c) => c.id)).size, cases.length)
})

for (const c of cases) {
  test(`corpus ${c.id}`, async () => {
    const data = fs.readFileSync(path.join(path.dirname(MANIFEST), c.file))
    const expect = c.expect.split('|')
    let result
    try {
      result = await engine.process(data, { consent: CONSENT })
    } catch (e) {
      assert.ok(e instanceof Error, `not an Error: ${e}`)
      assert.ok(expect.includes(e.code), `expected ${c.expect}, got ${e.code}: ${e.message}`)
      return
    }
    assert.ok(expect.includes('ok'), `expected ${c.expect}, got a headshot`)
    if (c.expect !== 'ok') return
    assert.equal(result.format, 'jpeg')
    assert.deepEqual([result.width, result.height], [c.width, c.height])
    assert.deepEqual(jpegSize(result.image), { width: c.width, height: c.height })
    const codes = result.findings.map((f) => f.code)
    for (const absent of c.absent_findings) assert.ok(!codes.includes(absent), `finding ${absent} reported`)
    for (const kind of c.metadata) assert.ok(result.receipt.metadata_removed.includes(kind), `metadata_removed lacks ${kind}`)
  })
}
