// Peer: @imgly/background-removal-node 1.4.5 (ISNet "medium", AGPL-3.0), evaluation only:
// installed into target/eval-node by mk/eval.mk, never shipped or linked by anything.
//   node imgly_run.mjs NODE_MODULES OUT_DIR N PHOTO...
// One warm-up call (model load + first inference), then per photo N timed removeBackground()
// calls (encoded bytes in -> RGBA PNG out, the library's whole job). The last result is written
// to OUT_DIR/STEM.png: its alpha is the evaluation's quality reference. One JSON line per photo.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [nodeModules, outDir, nArg, ...photos] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(nodeModules), 'x.js'));
const { removeBackground } = require('@imgly/background-removal-node');
// The model chunks and resources.json ship in the package's own dist/: no download.
const dist = path.join(path.resolve(nodeModules), '@imgly/background-removal-node/dist/');
const config = { publicPath: pathToFileURL(dist).href, model: 'medium', output: { format: 'image/png' } };
const n = Math.max(1, Number(nArg));

// The library cannot sniff a Blob without a type: give it the container's MIME type.
const load = (p) => new Blob([readFileSync(p)], { type: p.endsWith('.png') ? 'image/png' : 'image/jpeg' });
const run = async (p) => Buffer.from(await (await removeBackground(load(p), config)).arrayBuffer());

const t0 = process.hrtime.bigint();
await run(photos[0]);
const startup = Number(process.hrtime.bigint() - t0) / 1e6;
for (const p of photos) {
  const times = [];
  let result;
  try {
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      result = await run(p);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } catch (e) {
    console.log(JSON.stringify({ photo: path.parse(p).name, error: String(e.message || e) }));
    continue;
  }
  writeFileSync(path.join(outDir, path.parse(p).name + '.png'), result);
  console.log(JSON.stringify({ photo: path.parse(p).name, times_ms: times, warmup_ms: startup }));
}
