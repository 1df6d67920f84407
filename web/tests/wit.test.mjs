// The page's conversions between jco's shape of the WIT types and serde's
// JSON (web/src/wit.js), checked field by field against the shapes
// weft-model reads and writes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chatRequestToSerde,
  chatResponseToWit,
  modelErrorToWit,
  streamEventToWit,
} from '../src/wit.js';

test('a chat request becomes weft_model::ChatRequest JSON', () => {
  const request = {
    messages: [
      { role: 'system', parts: [{ tag: 'text', val: 'Be brief.' }] },
      {
        role: 'assistant',
        parts: [
          { tag: 'reasoning', val: { text: 'think', signature: 'sig', provider: undefined, redacted: false } },
          { tag: 'tool-call', val: { id: 'c1', name: 'count_words', arguments: '{"text":"a b"}' } },
        ],
      },
      { role: 'tool', parts: [{ tag: 'tool-result', val: { callId: 'c1', content: '{"words":2}', isError: false } }] },
    ],
    tools: [{ name: 'count_words', description: 'Counts.', inputSchema: '{}', outputSchema: undefined }],
    toolChoice: { tag: 'named', val: 'count_words' },
    responseFormat: { tag: 'json-schema', val: { name: 'answer', schema: '{}', strict: true } },
    sampling: { temperature: 0.5, topP: undefined, topK: 40, seed: 7n, frequencyPenalty: undefined, presencePenalty: undefined },
    maxOutputTokens: 64,
    stop: ['\n\n'],
    providerOptions: [],
  };
  assert.deepEqual(chatRequestToSerde(request), {
    messages: [
      { role: 'system', parts: [{ text: 'Be brief.' }] },
      {
        role: 'assistant',
        parts: [
          { reasoning: { text: 'think', signature: 'sig', redacted: false } },
          { tool_call: { id: 'c1', name: 'count_words', arguments: '{"text":"a b"}' } },
        ],
      },
      { role: 'tool', parts: [{ tool_result: { call_id: 'c1', content: '{"words":2}', is_error: false } }] },
    ],
    tools: [{ name: 'count_words', description: 'Counts.', input_schema: '{}' }],
    tool_choice: { named: 'count_words' },
    response_format: { json_schema: { name: 'answer', schema: '{}', strict: true } },
    sampling: { temperature: 0.5, top_k: 40, seed: 7 },
    max_output_tokens: 64,
    stop: ['\n\n'],
    provider_options: [],
  });
  assert.equal(chatRequestToSerde({ ...request, toolChoice: { tag: 'auto' } }).tool_choice, 'auto');
});

test('a streamed answer comes back in jco shape, u64 as BigInt', () => {
  assert.deepEqual(streamEventToWit({ text_delta: 'tool-calls' }), { tag: 'text-delta', val: 'tool-calls' });
  assert.deepEqual(streamEventToWit({ tool_call: { id: 'c', name: 'n', arguments: '{}' } }), {
    tag: 'tool-call',
    val: { id: 'c', name: 'n', arguments: '{}' },
  });
  const done = {
    message: { role: 'assistant', parts: [{ text: 'Hi' }, { tool_call: { id: 'c', name: 'n', arguments: '{}' } }] },
    finish_reason: 'tool_calls',
    usage: { input_tokens: 10, output_tokens: 2, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    model: 'm',
  };
  const wit = streamEventToWit({ done });
  assert.equal(wit.tag, 'done');
  assert.deepEqual(wit.val, chatResponseToWit(done));
  assert.equal(wit.val.finishReason, 'tool-calls');
  assert.equal(wit.val.usage.inputTokens, 10n);
  assert.deepEqual(wit.val.message.parts, [
    { tag: 'text', val: 'Hi' },
    { tag: 'tool-call', val: { id: 'c', name: 'n', arguments: '{}' } },
  ]);
});

test('model errors keep their case and payload', () => {
  assert.deepEqual(modelErrorToWit({ transport: 'down' }), { tag: 'transport', val: 'down' });
  assert.deepEqual(modelErrorToWit({ context_too_long: 'too long' }), { tag: 'context-too-long', val: 'too long' });
  assert.deepEqual(modelErrorToWit({ provider: { status: 500, body: 'oops' } }), {
    tag: 'provider',
    val: { status: 500, body: 'oops' },
  });
  assert.deepEqual(modelErrorToWit({ rate_limited: { retry_after_ms: 1500, message: 'slow down' } }), {
    tag: 'rate-limited',
    val: { retryAfterMs: 1500n, message: 'slow down' },
  });
});
