#!/usr/bin/env node
// Serves the built copilot (web/dist) with the headers it needs, on every
// response, workers and errors included:
//
// - a strict Content-Security-Policy: scripts only from the page's origin
//   (plus 'wasm-unsafe-eval' to compile WebAssembly), no inline script, no
//   plugins, no framing, no <base>; `connect-src` is the page's origin, the
//   remote providers listed in copilot.config.js's `connect`, and the hosts
//   its tools' policies grant (`--connect ORIGIN` adds more). A <meta> CSP
//   could set neither `frame-ancestors` nor a worker's policy, so it is a
//   header;
// - cross-origin isolation (COOP same-origin, COEP credentialless: a
//   provider's no-cors probe, which tells a CORS refusal from a dead server,
//   still works), and nosniff, no referrer, same-origin resources.
//
//   node web/serve.mjs [--port 8080] [--host 127.0.0.1] [--connect ORIGIN]... [DIR]
//
// The page's tests serve it with the same headers (tests/servers.mjs).

import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { patternToCspSource } from './src/policy.js';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.gguf': 'application/octet-stream',
};

/**
 * The `connect-src` sources of a copilot configuration: its `connect`
 * origins and its tools' `http` host patterns, plus `extra`.
 */
export function connectSources(config, extra = []) {
  const granted = (config.tools ?? []).flatMap((t) => t.policy?.http ?? []).map(patternToCspSource);
  return [...new Set([...(config.connect ?? []), ...granted, ...extra])];
}

/** The page's Content-Security-Policy, with `connect` added to `connect-src`. */
export function contentSecurityPolicy(connect = []) {
  for (const source of connect) {
    if (!/^[^\s;,']+$/.test(source)) throw new Error(`\`${source}\` is not a CSP source (an origin such as https://api.example.com)`);
  }
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    `connect-src ${["'self'", ...connect].join(' ')}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Every header the page is served with. */
export function securityHeaders(csp) {
  return {
    'content-security-policy': csp,
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'credentialless',
    'cross-origin-resource-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}

/**
 * An HTTP server for `dir` that sends `headers` on every response.
 * `overrides` maps a path to the text served in place of the file there;
 * `onRequest(path)` sees every request.
 */
export function staticServer(dir, { headers, overrides = {}, onRequest = () => {} }) {
  const root = resolve(dir);
  return createServer((req, res) => {
    const send = (status, extra, body) => {
      res.writeHead(status, { ...headers, 'cache-control': 'no-store', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      send(400, { 'content-type': 'text/plain' }, 'bad request path');
      return;
    }
    onRequest(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }, 'method not allowed');
      return;
    }
    const file = resolve(join(root, path === '/' ? 'index.html' : path));
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const urlPath = path === '/' ? '/index.html' : path;
    if (Object.hasOwn(overrides, urlPath)) {
      send(200, { 'content-type': type }, overrides[urlPath]);
      return;
    }
    let size;
    try {
      if (!file.startsWith(root + sep)) throw new Error('outside the served directory');
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch {
      send(404, { 'content-type': 'text/plain' }, 'not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': type, 'content-length': size, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
}

/** Loads `dir`'s copilot.config.js. */
export async function loadConfig(dir) {
  return (await import(pathToFileURL(join(resolve(dir), 'copilot.config.js')).href)).default;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      connect: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log('usage: node web/serve.mjs [--port 8080] [--host 127.0.0.1] [--connect ORIGIN]... [DIR (default web/dist)]');
    return;
  }
  const dir = positionals[0] ?? join(dirname(fileURLToPath(import.meta.url)), 'dist');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port} is not a port number`);
  let config;
  try {
    config = await loadConfig(dir);
  } catch (e) {
    throw new Error(`cannot read ${join(dir, 'copilot.config.js')} (build the page first with scripts/build-web.sh): ${e.message}`);
  }
  const csp = contentSecurityPolicy(connectSources(config, values.connect));
  const server = staticServer(dir, { headers: securityHeaders(csp) });
  server.listen(port, values.host, () => {
    const { address, port: bound } = server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    console.log(`serving ${resolve(dir)} at http://${host}:${bound}/`);
    console.log(`content-security-policy: ${csp}`);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  });
}
