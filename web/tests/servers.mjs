// Loopback servers for the page's tests: the built page (web/dist), served
// with the headers of web/serve.mjs, and OpenAI-compatible providers
// speaking SSE, with or without CORS.

import { createServer } from 'node:http';
import { connectSources, contentSecurityPolicy, loadConfig, securityHeaders, staticServer } from '../serve.mjs';

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

/**
 * The page's tests reach providers and HTTP servers that they start on
 * loopback ports not known in advance: their CSP adds these to `connect-src`.
 */
export const TEST_CONNECT = ['http://127.0.0.1:*'];

/**
 * Serves `dir` statically with the headers of `web/serve.mjs`, and counts
 * the requests for each path. With `config`, the page gets that copilot
 * configuration instead of the built one (and the CSP is made from it).
 */
export async function serveStatic(dir, { config } = {}) {
  const hits = new Map();
  const overrides = config ? { '/copilot.config.js': `export default ${JSON.stringify(config, null, 2)};\n` } : {};
  const csp = contentSecurityPolicy(connectSources(config ?? (await loadConfig(dir)), TEST_CONNECT));
  const server = staticServer(dir, {
    headers: securityHeaders(csp),
    overrides,
    onRequest: (path) => hits.set(path, (hits.get(path) ?? 0) + 1),
  });
  const url = await listen(server);
  return { url, csp, hits: (path) => hits.get(path) ?? 0, close: () => server.close() };
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

/**
 * A plain HTTP server that records every request it receives (method, path,
 * headers) and answers `text` with CORS headers, as a host a tool may be
 * granted, or one it must never reach.
 */
export async function recordingServer(text = 'hello from the granted host') {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method, path: req.url, headers: req.headers });
    res.writeHead(200, {
      'content-type': 'text/plain',
      'access-control-allow-origin': '*',
      'access-control-allow-headers': '*',
    });
    res.end(req.method === 'OPTIONS' ? undefined : text);
  });
  const url = await listen(server);
  return { url, port: Number(new URL(url).port), requests, close: () => server.close() };
}
