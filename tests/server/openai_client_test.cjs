// Drives a running `chunkserve serve` with the official `openai` npm client.
// Environment: OPENAI_MODULE (path of the installed package), BASE_URL
// (http://127.0.0.1:PORT/v1), API_KEY, N_CTX, EXPECT_EMBEDDINGS (1/0),
// LOAD_CLIENTS (default 32).
// Prints one JSON line per check and a summary; exits 1 when any check fails.
'use strict';

const mod = require(process.env.OPENAI_MODULE);
const OpenAI = mod.OpenAI || mod.default || mod;
const baseURL = process.env.BASE_URL;
const apiKey = process.env.API_KEY;
const nCtx = Number(process.env.N_CTX || 256);
const loadClients = Number(process.env.LOAD_CLIENTS || 32);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

const results = [];
async function check(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true, ms: Date.now() - t0, detail });
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: String(e && e.stack || e) });
  }
  console.log(JSON.stringify(results[results.length - 1]));
}
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}
async function expectStatus(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof OpenAI.APIError, 'an APIError, got ' + e);
    assert(e.status === status, `status ${status}, got ${e.status}: ${e.message}`);
    if (code) assert(e.code === code, `code ${code}, got ${e.code}`);
    assert(e.error && typeof e.error.message === 'string', 'OpenAI error shape');
    return { status: e.status, code: e.code };
  }
  throw new Error(`expected HTTP ${status}, the call succeeded`);
}
async function metric(name) {
  const r = await fetch(baseURL.replace(/\/v1$/, '') + '/metrics', { headers: { Authorization: `Bearer ${apiKey}` } });
  const text = await r.text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}
const chat = (content, extra = {}) => ({
  model: 'fixture',
  messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }],
  max_tokens: 12,
  temperature: 0,
  ...extra,
});

(async () => {
  await check('models.list', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    assert(ids.length === 1, 'one model');
    return ids;
  });

  let nonStreamText = null;
  await check('chat non-stream', async () => {
    const r = await client.chat.completions.create(chat('Where does the river go?'));
    assert(r.object === 'chat.completion', 'object');
    const c = r.choices[0];
    assert(c.message.role === 'assistant' && typeof c.message.content === 'string', 'message');
    assert(['stop', 'length'].includes(c.finish_reason), 'finish_reason');
    assert(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'usage sums');
    nonStreamText = c.message.content;
    return r.usage;
  });

  await check('chat stream with include_usage', async () => {
    const stream = await client.chat.completions.create(
      chat('Where does the river go?', { stream: true, stream_options: { include_usage: true } }));
    let text = '';
    let finish = null;
    let usage = null;
    let n = 0;
    for await (const chunk of stream) {
      n++;
      assert(chunk.object === 'chat.completion.chunk', 'chunk object');
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length) {
        text += chunk.choices[0].delta.content || '';
        if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
      }
    }
    assert(finish !== null, 'a finish_reason');
    assert(usage && usage.completion_tokens > 0, 'usage chunk');
    assert(text === nonStreamText, 'stream text equals the non-stream text (greedy)');
    return { chunks: n, finish, usage };
  });

  await check('completions', async () => {
    const r = await client.completions.create({ model: 'fixture', prompt: 'The miller', max_tokens: 8, temperature: 0, seed: 7 });
    assert(r.object === 'text_completion' && typeof r.choices[0].text === 'string', 'text completion');
    assert(r.usage.completion_tokens <= 8, 'max_tokens');
    return r.usage;
  });

  await check('completions stream', async () => {
    const stream = await client.completions.create({ model: 'fixture', prompt: 'The miller', max_tokens: 8, stream: true });
    let n = 0;
    for await (const chunk of stream) n += chunk.choices.length;
    assert(n > 0, 'chunks');
    return { chunks: n };
  });

  await check('documents extra field', async () => {
    const r = await client.chat.completions.create(chat('What fills the pond?', {
      documents: ['The river runs past the mill.', { id: 'd2', text: 'Rain fills the pond.' }],
    }));
    const d = r.usage.prompt_tokens_details;
    assert(d && typeof d.cached_tokens === 'number', 'prompt_tokens_details.cached_tokens');
    return r.usage;
  });

  await check('embeddings', async () => {
    if (process.env.EXPECT_EMBEDDINGS === '1') {
      const r = await client.embeddings.create({ model: 'fixture', input: ['the mill', 'the river'] });
      assert(r.data.length === 2, 'two vectors');
      const v = r.data[0].embedding;
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      assert(Math.abs(norm - 1) < 1e-3, 'L2-normalised, got ' + norm);
      return { dim: v.length, usage: r.usage };
    }
    return expectStatus(client.embeddings.create({ model: 'fixture', input: 'x' }), 501);
  });

  await check('wrong key -> 401', async () => {
    const bad = new OpenAI({ baseURL, apiKey: 'not-the-key', maxRetries: 0 });
    return expectStatus(bad.chat.completions.create(chat('hi')), 401, 'invalid_api_key');
  });

  await check('malformed bodies -> 400', async () => {
    const out = [];
    for (const body of ['{"messages": [', '[]', '{"messages": "x"}', '{"messages":[{"role":"user","content":"x"}],"n":9}']) {
      const r = await fetch(baseURL + '/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
        body,
      });
      const j = await r.json();
      assert(r.status === 400, `400 for ${body}, got ${r.status}`);
      assert(j.error && typeof j.error.message === 'string', 'error shape');
      out.push(j.error.message);
    }
    out.push(await expectStatus(client.chat.completions.create(chat('hi', { n: 9 })), 400));
    out.push(await expectStatus(client.chat.completions.create(chat('hi', { temperature: 7 })), 400));
    return out;
  });

  await check('over-long prompt -> 400', async () => {
    const long = 'word '.repeat(nCtx * 2);
    return expectStatus(client.chat.completions.create(chat(long)), 400, 'context_length_exceeded');
  });

  await check('client disconnect mid-stream', async () => {
    const stream = await client.chat.completions.create(chat('Tell a long story.', {
      stream: true, max_tokens: nCtx - 64, temperature: 1.0, seed: 3,
    }));
    let n = 0;
    for await (const chunk of stream) {
      if (++n >= 3) break;  // leaving the loop aborts the HTTP request
    }
    // The server notices at its next write and frees the sequence.
    let running = NaN;
    for (let i = 0; i < 200; i++) {
      running = await metric('chunkserve_requests_running');
      if (running === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert(running === 0, 'no request left running, got ' + running);
    return { chunks_read: n };
  });

  await check(`load: ${loadClients} concurrent streaming clients`, async () => {
    const t0 = Date.now();
    const one = async (i) => {
      const stream = await client.chat.completions.create(chat(`Client ${i}: where does the river go?`, {
        stream: true, max_tokens: 16, temperature: 0.7, seed: i,
      }));
      let finish = null;
      let text = '';
      for await (const chunk of stream) {
        if (chunk.choices.length) {
          text += chunk.choices[0].delta.content || '';
          if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
        }
      }
      if (!finish) throw new Error(`client ${i}: no finish_reason`);
      return finish;
    };
    const settled = await Promise.allSettled(Array.from({ length: loadClients }, (_, i) => one(i)));
    const errors = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason));
    assert(errors.length === 0, `${errors.length} clients failed: ${errors.slice(0, 3).join('; ')}`);
    return { clients: loadClients, ms: Date.now() - t0 };
  });

  const failed = results.filter((r) => !r.ok);
  console.log(JSON.stringify({ summary: true, passed: results.length - failed.length, failed: failed.length }));
  process.exit(failed.length ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
