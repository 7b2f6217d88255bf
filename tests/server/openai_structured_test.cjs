// Structured outputs through the official `openai` npm client, unchanged,
// against a running `chunkserve serve`: 50 json_schema answers (sampled,
// seeds 0..49), each parsed and validated against the schema here; a
// streamed json_object answer; the GBNF `grammar` extra; an unsupported
// schema keyword refused with a 400 naming it; a tool-calling round trip
// (forced call, result, final answer) with and without streaming; logprobs.
// Environment: OPENAI_MODULE, BASE_URL, API_KEY, MODEL_ID, TOOLS (0: skip the
// tool round trips).
// Prints one JSON line per check and a summary; exits 1 when any check fails.
'use strict';

const mod = require(process.env.OPENAI_MODULE);
const OpenAI = mod.OpenAI || mod.default || mod;
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0, timeout: 120000 });
const model = process.env.MODEL_ID || 'fixture';

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

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    pets: { type: 'array', items: { enum: ['cat', 'dog', 'fish'] }, maxItems: 3 },
    mood: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] },
  },
  required: ['name', 'age', 'pets', 'mood'],
  additionalProperties: false,
};

// The schema above, checked by hand (code points for lengths).
function validPerson(v) {
  const len = (s) => [...s].length;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  for (const k of Object.keys(v)) if (!(k in schema.properties)) return 'extra key ' + k;
  if (typeof v.name !== 'string' || len(v.name) < 1 || len(v.name) > 12) return 'name';
  if (!Number.isInteger(v.age) || v.age < 0 || v.age > 120) return 'age';
  if (!Array.isArray(v.pets) || v.pets.length > 3 || v.pets.some((p) => !['cat', 'dog', 'fish'].includes(p))) return 'pets';
  if (!(v.mood === null || (typeof v.mood === 'string' && len(v.mood) <= 10))) return 'mood';
  return null;
}

const ask = (extra) => ({
  model,
  messages: [{ role: 'user', content: 'Tell me about a person, as JSON.' }],
  max_tokens: 300,
  temperature: 1.0,
  ...extra,
});

(async () => {
  await check('json_schema x50 (sampled)', async () => {
    const samples = [];
    for (let seed = 0; seed < 50; seed++) {
      const r = await client.chat.completions.create(ask({
        seed,
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
      }));
      const c = r.choices[0];
      assert(c.finish_reason === 'stop', `seed ${seed}: finish_reason ${c.finish_reason}`);
      let v;
      try {
        v = JSON.parse(c.message.content);
      } catch (e) {
        throw new Error(`seed ${seed}: not JSON: ${c.message.content}`);
      }
      const why = validPerson(v);
      assert(why === null, `seed ${seed}: ${why}: ${c.message.content}`);
      if (seed < 3) samples.push(c.message.content);
    }
    return { valid: 50, samples };
  });

  await check('json_object stream', async () => {
    const stream = await client.chat.completions.create(ask({
      seed: 1, max_tokens: 400, stream: true, response_format: { type: 'json_object' },
    }));
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      if (!chunk.choices.length) continue;
      text += chunk.choices[0].delta.content || '';
      if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
    }
    if (finish === 'stop') {
      const v = JSON.parse(text);
      assert(typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
    } else {
      assert(finish === 'length', 'finish_reason stop or length');
    }
    return { finish, text: text.slice(0, 120) };
  });

  await check('grammar extra', async () => {
    const r = await client.chat.completions.create(ask({ seed: 3, grammar: 'root ::= ("yes" | "no") "." ' }));
    const t = r.choices[0].message.content;
    assert(t === 'yes.' || t === 'no.', 'yes. or no., got ' + JSON.stringify(t));
    return t;
  });

  await check('unsupported keyword -> 400 naming it', async () => {
    try {
      await client.chat.completions.create(ask({
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } },
      }));
    } catch (e) {
      assert(e instanceof OpenAI.APIError && e.status === 400, 'a 400, got ' + e);
      assert(/'pattern'/.test(e.message), 'names pattern: ' + e.message);
      return e.message;
    }
    throw new Error('expected HTTP 400');
  });

  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'], additionalProperties: false },
    },
  }];
  const question = { role: 'user', content: 'What is the weather in Paris?' };
  const forced = { type: 'function', function: { name: 'get_weather' } };

  // (TOOLS=0 skips them: a 512-token context cannot hold the tool prompt.)
  for (const stream of process.env.TOOLS === '0' ? [] : [false, true]) {
    await check(`tool round trip (stream ${stream})`, async () => {
      let call;
      if (!stream) {
        const r = await client.chat.completions.create(ask({ seed: 2, messages: [question], tools, tool_choice: forced }));
        const c = r.choices[0];
        assert(c.finish_reason === 'tool_calls', 'finish_reason tool_calls, got ' + c.finish_reason);
        call = c.message.tool_calls[0];
      } else {
        const s = await client.chat.completions.create(ask({ seed: 2, messages: [question], tools, tool_choice: forced, stream: true }));
        const parts = {};
        let finish = null;
        for await (const chunk of s) {
          if (!chunk.choices.length) continue;
          for (const d of chunk.choices[0].delta.tool_calls || []) {
            const p = parts[d.index] || (parts[d.index] = { id: '', type: 'function', function: { name: '', arguments: '' } });
            if (d.id) p.id = d.id;
            if (d.function && d.function.name) p.function.name += d.function.name;
            if (d.function && d.function.arguments) p.function.arguments += d.function.arguments;
          }
          if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
        }
        assert(finish === 'tool_calls', 'finish_reason tool_calls, got ' + finish);
        call = parts[0];
      }
      assert(call && call.function.name === 'get_weather', 'a get_weather call');
      const args = JSON.parse(call.function.arguments);
      assert(typeof args.city === 'string' && [...args.city].length <= 10, 'arguments valid: ' + call.function.arguments);
      // The result goes back; the model answers in text.
      const messages = [question, { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: args.city, celsius: 18, sky: 'sunny' }) }];
      let answer = '';
      let finish = null;
      if (!stream) {
        const r = await client.chat.completions.create(ask({ seed: 4, max_tokens: 24, messages, tools, tool_choice: 'none' }));
        answer = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
      } else {
        const s = await client.chat.completions.create(ask({ seed: 4, max_tokens: 24, messages, tools, tool_choice: 'none', stream: true }));
        for await (const chunk of s) {
          if (!chunk.choices.length) continue;
          answer += chunk.choices[0].delta.content || '';
          if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
        }
      }
      assert(typeof answer === 'string' && ['stop', 'length'].includes(finish), 'a text answer');
      return { call: call.function, answer: answer.slice(0, 60), finish };
    });
  }

  await check('logprobs', async () => {
    const r = await client.chat.completions.create(ask({ temperature: 0, max_tokens: 5, logprobs: true, top_logprobs: 2 }));
    const content = r.choices[0].logprobs.content;
    assert(content.length === r.usage.completion_tokens, `${content.length} entries for ${r.usage.completion_tokens} tokens`);
    for (const e of content) {
      assert(e.logprob <= 0 && e.top_logprobs.length === 2, 'entry shape');
      assert(e.top_logprobs[0].token === e.token, 'greedy picks the top token');
    }
    return content.slice(0, 2);
  });

  const failed = results.filter((r) => !r.ok).length;
  console.log(JSON.stringify({ summary: true, checks: results.length, failed }));
  process.exit(failed ? 1 : 0);
})();
