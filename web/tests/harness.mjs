// Starting headless Chromium (Debian's, never a downloaded browser) on the
// built page, for the tests and the benchmark.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = join(webDir, 'dist');
const repo = resolve(webDir, '..');
const target = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');

/** Where screenshots and other run artifacts go: under cargo's target dir, never the repo. */
export function artifactsDir() {
  const dir = join(target, 'web-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}

const QUIET = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
/** SwiftShader's software WebGPU adapter. */
const WEBGPU = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];

/** Launches Chromium, with a WebGPU adapter unless `webgpu` is false. */
export function launch({ webgpu = true } = {}) {
  return chromium.launch({
    executablePath: process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: webgpu ? [...QUIET, ...WEBGPU] : QUIET,
  });
}

/** Opens the page at `url` and waits until the copilot has started. */
export async function openCopilot(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#notice.error'), null, {
    timeout: 120_000,
  });
  const failed = await page.$('#notice.error');
  if (failed) throw new Error(`the copilot did not start: ${await failed.textContent()} ${page.errors.join('\n')}`);
  return page;
}

/** Points the page's model control at a provider and connects. */
export async function useRemote(page, provider, key = 'sk-test-key') {
  await page.selectOption('#model', 'remote');
  await page.fill('#remote-provider', 'deepseek');
  await page.fill('#remote-model', 'deepseek-v4-flash');
  await page.fill('#remote-url', `${provider.url}/v1`);
  await page.fill('#remote-key', key);
  await page.click('#connect');
  await page.waitForFunction(() => document.querySelector('#provider').textContent === 'deepseek');
}

/** Types a question, sends it, and waits for the run to finish. */
export async function ask(page, question) {
  const before = await page.locator('#conversation li').count();
  await page.fill('#question', question);
  await page.click('#send');
  await page.waitForFunction((n) => document.querySelectorAll('#conversation li').length > n, before);
  await page.waitForFunction(() => !document.querySelector('#send').disabled, null, { timeout: 600_000 });
}

/** The tool messages of an OpenAI-style request, by the call they answer. */
export function toolMessages(body) {
  return Object.fromEntries(body.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content]));
}

/** The page's events of `type` (the page records everything its host reports). */
export function eventsOf(page, type) {
  return page.evaluate((t) => window.weft.events.filter((e) => e.type === t), type);
}

/**
 * The native build's greedy tokens for `weft bench`'s prompt: the reference
 * the page's local model must reproduce.
 */
export function nativeGreedyTokens(promptTokens, decodeTokens) {
  const weft = process.env.WEFT_BIN ?? join(target, 'debug', 'weft');
  const model = process.env.WEFT_SMOLLM2_GGUF ?? join(distDir, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
  const out = execFileSync(
    weft,
    ['bench', model, '--no-peer', '--prompt-tokens', `${promptTokens}`, '--decode-tokens', `${decodeTokens}`, '--runs', '1'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const match = out.match(/^weft[^:\n]*: greedy tokens ([\d ]+)/m);
  if (!match) throw new Error(`no greedy tokens in weft bench's output:\n${out}`);
  return match[1].trim().split(/\s+/).map(Number);
}
