#!/usr/bin/env node
// Turn a photo into an application headshot with the npm package `lichtbild`.
//
//   npm install lichtbild            (from this repository: npm install ../../bindings-node)
//   node headshot.js photo.jpg headshot.jpg [preset]
//
// Reading and writing files is this script's job; lichtbild itself only sees bytes, in memory,
// on its own worker threads.
'use strict'
const fs = require('node:fs')
const { Engine } = require('lichtbild')

async function main() {
  const [input, output, preset = 'bewerbung-45x60'] = process.argv.slice(2)
  if (!input || !output) {
    console.error('usage: node headshot.js photo.jpg headshot.jpg [preset]')
    process.exit(2)
  }
  const engine = new Engine()
  const { image, width, height, findings, receipt } = await engine.process(fs.readFileSync(input), {
    preset,
    background: 'studio-grey',
    // The person in the photo agreed to having their face measured (needed to crop and level).
    consent: { faceGeometry: true },
  })
  fs.writeFileSync(output, image)
  console.log(`${output}: ${width}x${height} JPEG at ${receipt.output.dpi} dpi, ${image.length} bytes`)
  for (const f of findings) console.log(`  ${f.severity}: ${f.message}`)
}

main().catch((e) => {
  console.error(`lichtbild: ${e.message} [${e.code}]`)
  process.exit(1)
})
