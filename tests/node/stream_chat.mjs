// Drives `llmemu serve` with the official openai npm client: models list, a streamed chat
// completion with usage, a non-streamed completion, vLLM's NotFoundError for an unknown
// model, n = 2, logprobs, a client-side abort
// (seen as an aborted request on /metrics), and a clean SIGTERM exit.
// Usage: node stream_chat.mjs /path/to/llmemu
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

const cli = process.argv[2];
const srv = spawn(cli, ['serve', '--profile', 'const:5', '--port', '0', '--model', 'emu-node'],
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
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20000 });

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
