// The page's headers: a strict Content-Security-Policy and cross-origin
// isolation on every response, from `node web/serve.mjs` (the README's serve
// command) and from the tests' server, which shares its code; and the page
// working under them without a single violation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ask, distDir, eventsOf, launch, openCopilot, toolMessages, useRemote, webDir } from './harness.mjs';
import { mockProvider, serveStatic } from './servers.mjs';

/** The directives of a CSP header, by name. */
function directives(csp) {
  return Object.fromEntries(
    csp.split(';').map((d) => {
      const [name, ...sources] = d.trim().split(/\s+/);
      return [name, sources];
    }),
  );
}

/** Starts `node web/serve.mjs` on a free port; resolves to its URL and a way to stop it. */
async function serveCommand(...args) {
  const child = spawn(process.execPath, [join(webDir, 'serve.mjs'), '--port', '0', ...args, distDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/at (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}: ${out}`)));
  });
  return {
    url,
    output: () => out,
    close: async () => {
      child.kill();
      await once(child, 'exit');
    },
  };
}

const PATHS = [
  '/',
  '/index.html',
  '/copilot.js',
  '/copilot.config.js',
  '/host.js',
  '/component-worker.js',
  '/model-worker.js',
  '/shim/io.js',
  '/pkg/weft_web.js',
  '/components/text_tools/text_tools.js',
  '/components/text_tools/text_tools.core.wasm',
  '/no-such-file',
  '/..%2f..%2fetc%2fpasswd',
];

/** Checks the headers of every path (GET, and HEAD and POST for the first). */
async function assertHeadersEverywhere(url, csp) {
  const responses = [];
  for (const path of PATHS) responses.push([`GET ${path}`, await fetch(`${url}${path}`)]);
  responses.push(['HEAD /', await fetch(url, { method: 'HEAD' })]);
  responses.push(['POST /', await fetch(url, { method: 'POST', body: 'x' })]);
  const statuses = Object.fromEntries(responses.map(([what, r]) => [what, r.status]));
  assert.equal(statuses['GET /'], 200);
  assert.equal(statuses['GET /components/text_tools/text_tools.core.wasm'], 200);
  assert.equal(statuses['GET /no-such-file'], 404);
  assert.equal(statuses['GET /..%2f..%2fetc%2fpasswd'], 404);
  assert.equal(statuses['POST /'], 405);
  for (const [what, response] of responses) {
    const h = response.headers;
    assert.equal(h.get('content-security-policy'), csp, `${what}: the CSP`);
    assert.equal(h.get('cross-origin-opener-policy'), 'same-origin', what);
    assert.equal(h.get('cross-origin-embedder-policy'), 'credentialless', what);
    assert.equal(h.get('x-content-type-options'), 'nosniff', what);
    await response.arrayBuffer();
  }
}

/** Asserts the strict parts of the policy, the same for both servers. */
function assertStrict(csp) {
  const d = directives(csp);
  assert.deepEqual(d['default-src'], ["'none'"]);
  assert.deepEqual(d['script-src'], ["'self'", "'wasm-unsafe-eval'"], 'no inline script, no eval');
  assert.deepEqual(d['worker-src'], ["'self'"]);
  assert.deepEqual(d['object-src'], ["'none'"]);
  assert.deepEqual(d['base-uri'], ["'none'"]);
  assert.deepEqual(d['frame-ancestors'], ["'none'"]);
  assert.equal(d['connect-src'][0], "'self'");
  const sources = Object.values(d).flat();
  for (const loose of ["'unsafe-inline'", "'unsafe-eval'", '*', 'data:', 'blob:']) {
    if (loose === 'data:') assert.deepEqual(d['img-src'], ["'self'", 'data:'], 'data: only for images (the favicon)');
    else assert.ok(!sources.includes(loose), `${loose} in ${csp}`);
  }
}

let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
});

describe('serve command (node web/serve.mjs)', () => {
  test('every response carries the strict CSP; connect-src is the configured providers only', async () => {
    const server = await serveCommand('--connect', 'http://127.0.0.1:11434');
    try {
      const csp = (await fetch(server.url)).headers.get('content-security-policy');
      assertStrict(csp);
      assert.deepEqual(directives(csp)['connect-src'], ["'self'", 'https://api.deepseek.com', 'http://127.0.0.1:11434']);
      assert.match(server.output(), new RegExp(`content-security-policy: ${csp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      await assertHeadersEverywhere(server.url, csp);
    } finally {
      await server.close();
    }
  });

  test('the page starts under it, and a provider outside connect-src is named as blocked by the CSP', async () => {
    const server = await serveCommand();
    const provider = await mockProvider({ answer: () => ({ text: 'never seen' }) });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, server.url);
      assert.deepEqual(await eventsOf(page, 'csp-violation'), [], 'the page starts without a violation');
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      await useRemote(page, provider);
      await ask(page, 'Anything?');
      assert.equal(provider.requests.length, 0, 'the request never left');
      const notice = await page.textContent('#notice');
      assert.match(notice, /Blocked by the Content-Security-Policy: /);
      assert.match(notice, new RegExp(`does not allow connections to ${provider.url.replaceAll('.', '\\.')}`));
      const violations = await eventsOf(page, 'csp-violation');
      assert.ok(
        violations.some((v) => v.source === 'model-worker' && v.directive === 'connect-src'),
        JSON.stringify(violations),
      );
    } finally {
      await context.close();
      provider.close();
      await server.close();
    }
  });
});

describe("tests' server", () => {
  let site;
  before(async () => {
    site = await serveStatic(distDir);
  });
  after(() => site?.close());

  test('it sends the same headers, on every response', async () => {
    assertStrict(site.csp);
    assert.deepEqual(directives(site.csp)['connect-src'], ["'self'", 'https://api.deepseek.com', 'http://127.0.0.1:*']);
    await assertHeadersEverywhere(site.url, site.csp);
  });

  test('the tool loop runs under the CSP without a violation; inline script and eval are refused', async () => {
    const provider = await mockProvider({
      answer: (body, n) =>
        n === 0
          ? {
              toolCalls: [
                { name: 'extract_entities', arguments: { text: 'mail dana.whitfield@northwind.example' } },
                { name: 'memory_set', arguments: { key: 'category', value: 'outage' } },
              ],
            }
          : { text: 'Filed.' },
    });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, site.url);
      await useRemote(page, provider);
      await ask(page, 'File it.');
      assert.equal(await page.locator('#conversation li.assistant').last().textContent(), 'Filed.');
      assert.match(Object.values(toolMessages(provider.requests[1].body))[0], /northwind/);
      assert.deepEqual(await page.evaluate(() => window.weft.state('kv-memory')), { category: 'outage' });
      assert.deepEqual(await eventsOf(page, 'csp-violation'), [], 'page, model worker and component workers');
      assert.deepEqual(page.errors, []);

      // The policy is enforced: an injected inline script does not run, eval throws.
      const inline = await page.evaluate(async () => {
        const s = document.createElement('script');
        s.textContent = 'window.injected = true';
        document.head.append(s);
        await new Promise((resolve) => setTimeout(resolve, 100));
        let evaluated;
        try {
          evaluated = eval('1 + 1');
        } catch (e) {
          evaluated = e.name;
        }
        return { injected: window.injected ?? false, evaluated };
      });
      assert.deepEqual(inline, { injected: false, evaluated: 'EvalError' });
      const violations = await eventsOf(page, 'csp-violation');
      assert.deepEqual(
        violations.map((v) => `${v.source} ${v.directive}`).sort(),
        ['page script-src', 'page script-src-elem'],
        JSON.stringify(violations),
      );
    } finally {
      await context.close();
      provider.close();
    }
  });
});
