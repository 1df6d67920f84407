// Loopback servers for the page's tests: the built page (web/dist) and
// OpenAI-compatible providers speaking SSE, with or without CORS.

import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.gguf': 'application/octet-stream',
};

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

/** Serves `dir` statically and counts the requests for each path. */
export async function serveStatic(dir) {
  const hits = new Map();
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = normalize(join(dir, path === '/' ? 'index.html' : decodeURIComponent(path)));
    let size;
    try {
      if (!file.startsWith(dir)) throw new Error('outside');
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  const url = await listen(server);
  return { url, hits: (path) => hits.get(path) ?? 0, close: () => server.close() };
}

/**
 * An OpenAI-compatible provider. `answer(body, n)` gives the n-th answer
 * (from 0): `{ text, toolCalls: [{ name, arguments }], usage }`. Streamed
 * requests get SSE in small chunks. `cors: false` leaves out the CORS
 * headers, as providers that refuse browser calls do.
 */
export async function mockProvider({ answer, cors = true, model = 'deepseek-v4-flash' }) {
  const requests = [];
  const corsHeaders = cors
    ? {
        'access-control-allow-origin': '*',
        'access-control-allow-headers': '*',
        'access-control-allow-methods': 'POST, GET, OPTIONS',
      }
    : {};
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, corsHeaders).end();
      return;
    }
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, corsHeaders).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      requests.push({ headers: req.headers, body });
      const reply = answer(body, requests.length - 1);
      const usage = reply.usage ?? { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 };
      const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
        index: i,
        id: `call_${requests.length}_${i}`,
        type: 'function',
        function: { name: c.name, arguments: JSON.stringify(c.arguments) },
      }));
      const finish = toolCalls.length ? 'tool_calls' : 'stop';
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json', ...corsHeaders });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-test',
            object: 'chat.completion',
            model,
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: reply.text ?? null, tool_calls: toolCalls.length ? toolCalls : undefined },
                finish_reason: finish,
              },
            ],
            usage,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', ...corsHeaders });
      const chunk = (delta, extra = {}) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
      const events = [chunk({ role: 'assistant', content: '' })];
      for (const piece of (reply.text ?? '').match(/.{1,6}/gs) ?? []) events.push(chunk({ content: piece }));
      for (const call of toolCalls) events.push(chunk({ tool_calls: [call] }));
      events.push(
        `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: {}, finish_reason: finish }] })}\n\n`,
      );
      events.push(`data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', model, choices: [], usage })}\n\n`);
      events.push('data: [DONE]\n\n');
      let i = 0;
      const send = () => {
        if (i < events.length) {
          res.write(events[i++]);
          setTimeout(send, 5);
        } else res.end();
      };
      send();
    });
  });
  const url = await listen(server);
  return { url, requests, close: () => server.close() };
}
