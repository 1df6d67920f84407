// The browser copilot in headless Chromium (SwiftShader's software WebGPU):
// the same agent and tool components as on the server, transpiled by jco,
// with the model bound to the local burn model or to a remote provider.
//
// Needs the page built (`scripts/build-web.sh`) and, for the local-model
// tests, the native `weft` binary (`WEFT_BIN`, else target/debug/weft).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifactsDir, ask, distDir, launch, nativeGreedyTokens, openCopilot, toolMessages, useRemote } from './harness.mjs';
import { mockProvider, serveStatic } from './servers.mjs';

const MODEL_PATH = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const TICKET_EMAIL = 'dana.whitfield@northwind.example';

let site;
let browser;
before(async () => {
  site = await serveStatic(distDir);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  site?.close();
});

describe('remote provider', () => {
  test('the transpiled agent runs a tool loop with transpiled tool components', async () => {
    const provider = await mockProvider({
      answer: (body, n) => {
        if (n === 0) {
          return {
            toolCalls: [
              { name: 'extract_entities', arguments: { text: body.messages.at(-1).content } },
              { name: 'memory_set', arguments: { key: 'category', value: 'outage' } },
            ],
          };
        }
        // The answer quotes what the tool component found, so it can only
        // be right if the tool really ran in the page.
        const found = JSON.parse(Object.values(toolMessages(body))[0]);
        const dates = found.entities.filter((e) => e.kind === 'date').map((e) => e.normalized);
        return { text: `Written by ${found.emails.join(', ')} on ${dates[0]}; filed as an outage.` };
      },
    });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, site.url);
      await useRemote(page, provider);
      await ask(page, 'Who wrote this and when?');

      const answer = await page.locator('#conversation li.assistant').last().textContent();
      assert.match(answer, new RegExp(`Written by ${TICKET_EMAIL.replaceAll('.', '\\.')} on 2026-11-28`));
      assert.equal(provider.requests.length, 2, 'one model call per step');
      const results = toolMessages(provider.requests[1].body);
      assert.equal(Object.keys(results).length, 2, 'both tool results went back to the model');
      assert.deepEqual(await page.evaluate(() => window.weft.state('kv-memory')), { category: 'outage' });
      const tools = await page.locator('#conversation li.tool').allTextContents();
      assert.equal(tools.length, 2);
      assert.match(tools[0], /extract_entities[\s\S]*← .*northwind/);
      assert.match(tools[1], /memory_set[\s\S]*← /);
      await page.screenshot({ path: join(artifactsDir(), 'copilot-tools.png'), fullPage: true });
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
      provider.close();
    }
  });

  test('a provider on a loopback server streams, with tokens, cost and provider shown', async () => {
    const text = 'The ticket is a P1 outage: checkout has failed since 07:50 UTC.';
    const provider = await mockProvider({
      answer: () => ({ text, usage: { prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 } }),
    });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, site.url);
      await useRemote(page, provider, 'sk-users-own-key');
      await ask(page, 'How urgent is it?');

      assert.equal(await page.locator('#conversation li.assistant').last().textContent(), text);
      const deltas = await page.evaluate(
        () => window.weft.events.filter((e) => e.type === 'model-event' && 'text_delta' in e.event).length,
      );
      assert.ok(deltas > 5, `the answer streamed in ${deltas} pieces`);
      assert.equal(provider.requests[0].headers.authorization, 'Bearer sk-users-own-key');
      assert.equal(provider.requests[0].body.stream, true);
      assert.equal(await page.textContent('#provider'), 'deepseek · deepseek-v4-flash');
      assert.equal(await page.textContent('#tokens'), '1,200');
      const cost = Number((await page.textContent('#cost')).replace('$', ''));
      assert.ok(cost > 0 && cost < 0.01, `priced from the catalog: ${cost}`);
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
      provider.close();
    }
  });

  test('a provider that refuses browser calls (CORS) is named as the cause', async () => {
    const provider = await mockProvider({ cors: false, answer: () => ({ text: 'never seen' }) });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, site.url);
      await useRemote(page, provider);
      await ask(page, 'Anything?');
      const notice = await page.textContent('#notice');
      assert.match(notice, /Blocked by CORS/);
      assert.match(notice, /does not allow calls from web pages/);
      assert.match(await page.locator('#conversation li.error').last().textContent(), /The agent stopped: model/);
    } finally {
      await context.close();
      provider.close();
    }
  });

  test("a tool the agent's policy does not grant cannot be reached", async () => {
    const provider = await mockProvider({
      answer: (body, n) =>
        n === 0
          ? {
              toolCalls: [
                { name: 'memory_set', arguments: { key: 'category', value: 'outage' } },
                { name: 'memory_delete', arguments: { key: 'category' } },
              ],
            }
          : { text: 'Done.' },
    });
    const context = await browser.newContext();
    try {
      const page = await openCopilot(context, site.url);
      await useRemote(page, provider);
      await ask(page, 'File it, then clear the note.');

      const offered = provider.requests[0].body.tools.map((t) => t.function.name);
      assert.ok(offered.includes('memory_set'));
      assert.ok(!offered.includes('memory_delete'), `only granted tools are listed: ${offered}`);
      const results = Object.values(toolMessages(provider.requests[1].body));
      assert.ok(results.some((r) => /memory_delete.*not granted by the agent's policy/.test(r)), results.join('\n'));
      assert.deepEqual(await page.evaluate(() => window.weft.state('kv-memory')), { category: 'outage' });
      assert.match(await page.locator('#conversation li.tool.failed').textContent(), /denied/);
    } finally {
      await context.close();
      provider.close();
    }
  });
});

describe('local model', () => {
  // SwiftShader runs WebGPU in software at about 0.08 tokens a second for
  // this model, so the comparison is short.
  const PROMPT = 4;
  const DECODE = 3;
  let native;
  before(() => {
    native = nativeGreedyTokens(PROMPT, DECODE);
  });

  test('on WebGPU its greedy tokens equal the native build, and a reload reads the stored weights', async () => {
    const context = await browser.newContext();
    try {
      let page = await openCopilot(context, site.url);
      assert.equal(await page.inputValue('#model'), 'local-webgpu');
      const measured = await page.evaluate(([p, d]) => window.weft.greedy(p, d), [PROMPT, DECODE]);
      assert.deepEqual(measured.generated, native, 'WebGPU greedy tokens vs the native CPU build');
      const loaded = await page.evaluate(() => window.weft.events.find((e) => e.type === 'model-loaded').info);
      assert.equal(loaded.provider, 'local/webgpu');
      assert.match(loaded.details.device.adapter_info.architecture, /swiftshader/i);
      assert.ok(loaded.details.device.max_storage_buffer_binding_size > 128 << 20, 'the adapter limits were requested');
      assert.equal(site.hits(MODEL_PATH), 1);

      await page.reload();
      page = await openCopilot(context, site.url);
      await page.evaluate(() => window.weft.ensureModel());
      const reloaded = await page.evaluate(() => window.weft.events.find((e) => e.type === 'model-loaded'));
      assert.equal(reloaded.info.provider, 'local/webgpu');
      assert.equal(site.hits(MODEL_PATH), 1, 'the second load read the weights from browser storage');
    } finally {
      await context.close();
    }
  });

  test('without WebGPU the page says so, and the agent answers on the CPU backend', async () => {
    const plain = await launch({ webgpu: false });
    try {
      const page = await openCopilot(await plain.newContext(), site.url);
      assert.match(await page.textContent('#webgpu-status'), /WebGPU is not available: .*runs on the CPU instead/);
      assert.equal(await page.inputValue('#model'), 'local-cpu');
      assert.ok(await page.$eval('option[value=local-webgpu]', (o) => o.disabled));
      const measured = await page.evaluate(([p, d]) => window.weft.greedy(p, d), [PROMPT, DECODE]);
      assert.deepEqual(measured.generated, native, 'browser CPU greedy tokens vs the native build');

      // The agent component answers with the local model, streamed.
      await ask(page, 'Who wrote it?');
      const deltas = await page.evaluate(
        () => window.weft.events.filter((e) => e.type === 'model-event' && 'text_delta' in e.event).length,
      );
      assert.ok(deltas > 3, `the local answer streamed in ${deltas} pieces`);
      assert.ok((await page.locator('#conversation li.assistant').last().textContent()).trim().length > 0);
      assert.equal(await page.textContent('#provider'), 'local/cpu · SmolLM2-135M-Instruct.Q4_1.gguf');
      assert.ok(Number((await page.textContent('#tokens')).replace(',', '')) > 0);
      assert.equal(await page.textContent('#cost'), '$0.000000', 'a local answer costs nothing');
      assert.ok(await page.isVisible('#webgpu-status'), 'the fallback stays explained');
      assert.ok(!(await page.isVisible('#remote-settings')), 'remote settings only for the remote provider');
      await page.screenshot({ path: join(artifactsDir(), 'copilot-local-cpu.png'), fullPage: true });
    } finally {
      await plain.close();
    }
  });
});
