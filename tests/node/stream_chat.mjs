// Drives `llmemu serve` with the official openai npm client: models list, a streamed chat
// completion with usage, a non-streamed completion, vLLM's NotFoundError for an unknown
// model, 401 (AuthenticationError) without the --api-key, n = 2, logprobs, tool calls the
// SDK parses (auto and named, streamed and not), json_schema output parsed by the SDK's
// parse() helper, a client-side abort (seen as an aborted request on /metrics), and a
// clean SIGTERM exit.
// Usage: node stream_chat.mjs /path/to/llmemu
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

const cli = process.argv[2];
const srv = spawn(cli, ['serve', '--profile', 'const:5', '--port', '0', '--model', 'emu-node', '--api-key', 'sk-node',
                        '--enable-auto-tool-choice', '--tool-call-parser', 'hermes'],
                  { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 20000);
  srv.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  });
  srv.on('exit', (code) => reject(new Error('server exited early with ' + code + ': ' + out)));
});
const base = `http://127.0.0.1:${port}`;
try {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-node', maxRetries: 0, timeout: 20000 });

  // --api-key: a client with another key gets vLLM's 401, raised as AuthenticationError.
  const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-wrong', maxRetries: 0, timeout: 20000 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);

  const models = await client.models.list();
  assert.equal(models.data[0].id, 'emu-node');

  const stream = await client.chat.completions.create({
    model: 'emu-node',
    messages: [{ role: 'user', content: 'Say hi' }],
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) {
      const c = chunk.choices[0];
      if (c.delta?.role) role = c.delta.role;
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(role, 'assistant');
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 8);
  assert.equal(text.trim().split(/\s+/).length, 8, `text '${text}'`);

  const done = await client.completions.create({ model: 'emu-node', prompt: 'hello there', max_tokens: 3 });
  assert.equal(done.usage.completion_tokens, 3);
  assert.equal(done.choices[0].finish_reason, 'length');

  // vLLM's answer to an unknown model: 404, which the SDK raises as NotFoundError.
  await assert.rejects(
    client.chat.completions.create({ model: 'other', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /The model `other` does not exist/.test(e.message));
  await assert.rejects(client.models.retrieve('other'), (e) => e instanceof OpenAI.NotFoundError);
  assert.equal((await client.models.retrieve('emu-node')).id, 'emu-node');

  // n = 2: two choices, usage summed over them.
  const two = await client.chat.completions.create({
    model: 'emu-node', messages: [{ role: 'user', content: 'two' }], max_tokens: 4, n: 2 });
  assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  assert.equal(two.usage.completion_tokens, 8);

  // logprobs / top_logprobs: synthetic values of the SDK's shapes.
  const lp = await client.chat.completions.create({
    model: 'emu-node', messages: [{ role: 'user', content: 'lp' }], max_tokens: 3, logprobs: true, top_logprobs: 2 });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, 3);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
    assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
  }
  const clp = await client.completions.create({ model: 'emu-node', prompt: 'lp', max_tokens: 2, logprobs: 1 });
  assert.equal(clp.choices[0].logprobs.tokens.length, 2);
  assert.equal(clp.choices[0].logprobs.token_logprobs.length, 2);

  // Tool calls. The arguments are synthetic but valid for the function's schema.
  const weather = {
    type: 'object',
    properties: {
      city: { type: 'string' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      days: { type: 'integer', minimum: 1, maximum: 7 },
    },
    required: ['city', 'unit', 'days'],
    additionalProperties: false,
  };
  const checkArgs = (a) => {
    assert.equal(typeof a.city, 'string');
    assert.ok(['celsius', 'fahrenheit'].includes(a.unit), JSON.stringify(a));
    assert.ok(Number.isInteger(a.days) && a.days >= 1 && a.days <= 7, JSON.stringify(a));
  };
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weather, strict: true } }];
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  // auto (the default with tools; the server runs with --enable-auto-tool-choice).
  const auto = await client.chat.completions.create({ model: 'emu-node', messages, tools, max_tokens: 200 });
  assert.equal(auto.choices[0].finish_reason, 'tool_calls');
  const call = auto.choices[0].message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.ok(call.id.startsWith('chatcmpl-tool-'));
  checkArgs(JSON.parse(call.function.arguments));
  // Streamed: the SDK's stream helper accumulates the tool_calls deltas.
  const ts = client.chat.completions.stream({ model: 'emu-node', messages, tools, max_tokens: 200 });
  const streamed = await ts.finalChatCompletion();
  assert.equal(streamed.choices[0].finish_reason, 'tool_calls');
  checkArgs(JSON.parse(streamed.choices[0].message.tool_calls[0].function.arguments));
  // Named, through parse(): the SDK parses strict tools' arguments itself.
  const named = await client.chat.completions.parse({
    model: 'emu-node', messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  checkArgs(named.choices[0].message.tool_calls[0].function.parsed_arguments);
  // Parallel tool calls (parallel_tool_calls defaults to true, as vLLM's): with two tools
  // some seed calls both; the stream helper accumulates the calls by their index.
  const timeTool = { type: 'function', function: { name: 'get_time', parameters: {
    type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } } };
  const both = [...tools, timeTool];
  let parallel = null;
  let parallelSeed = 0;
  for (let seed = 1; seed < 40 && !parallel; ++seed) {
    const ps = client.chat.completions.stream({
      model: 'emu-node', messages, tools: both, tool_choice: 'required', seed, max_tokens: 300 });
    const done = await ps.finalChatCompletion();
    if (done.choices[0].message.tool_calls.length === 2) { parallel = done; parallelSeed = seed; }
  }
  assert.ok(parallel, 'no seed in 1..39 made parallel tool calls');
  const [p0, p1] = parallel.choices[0].message.tool_calls;
  assert.notEqual(p0.id, p1.id);
  assert.deepEqual([p0.function.name, p1.function.name].sort(), ['get_time', 'get_weather']);
  for (const c of [p0, p1]) {
    const a = JSON.parse(c.function.arguments);
    if (c.function.name === 'get_weather') checkArgs(a); else assert.equal(typeof a.tz, 'string');
  }
  const single = await client.chat.completions.create({
    model: 'emu-node', messages, tools: both, tool_choice: 'required', seed: parallelSeed, max_tokens: 300,
    parallel_tool_calls: false });
  assert.equal(single.choices[0].message.tool_calls.length, 1);
  // The conversation goes on after the tool's result: the reply is text.
  const reply = await client.chat.completions.create({
    model: 'emu-node', tools, max_tokens: 5,
    messages: [...messages, auto.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '18 C' }] });
  assert.equal(reply.choices[0].finish_reason, 'length');
  assert.equal(reply.choices[0].message.tool_calls.length, 0);

  // json_schema: parse() JSON-parses the content.
  const parsed = await client.chat.completions.parse({
    model: 'emu-node', messages: [{ role: 'user', content: 'json' }], max_tokens: 300,
    response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weather, strict: true } } });
  assert.equal(parsed.choices[0].finish_reason, 'stop');
  checkArgs(parsed.choices[0].message.parsed);
  // A schema keyword the emulator cannot honour: 400 naming it (BadRequestError).
  await assert.rejects(
    client.chat.completions.create({
      model: 'emu-node', messages,
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', pattern: '^a' } } } }),
    (e) => e instanceof OpenAI.BadRequestError && /'pattern'/.test(e.message));

  // Abort mid-stream: the server aborts the request in the engine.
  const long = await client.completions.create({ model: 'emu-node', prompt: 'x', max_tokens: 3000, stream: true });
  let seen = 0;
  for await (const chunk of long) {
    if (chunk.choices.length > 0 && ++seen === 3) long.controller.abort();
  }
  let aborted = false;
  for (let i = 0; i < 200 && !aborted; ++i) {
    const page = await (await fetch(`${base}/metrics`)).text();
    aborted = /vllm:request_success_total\{[^}]*finished_reason="abort"\} 1\.0/.test(page);
    if (!aborted) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(aborted, 'client abort did not abort the request');
} finally {
  srv.kill('SIGTERM');
}
const code = await new Promise((resolve) => srv.on('exit', (c) => resolve(c)));
assert.equal(code, 0, 'llmemu serve did not exit cleanly on SIGTERM');
console.log('openai-node: ok');
