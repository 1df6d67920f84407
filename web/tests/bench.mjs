// The copilot's model in a real browser: prefill and decode throughput, and
// the time from page load to the first token with the weights already in
// browser storage. Prints the figures WebLLM (prefill / decode tok/s) and
// llama.cpp's llama-bench (pp<N> / tg<N> t/s) publish, so a run on a real
// GPU compares directly with theirs.
//
//   npm run bench                                   # SwiftShader, small sizes
//   npm run bench -- --prompt-tokens 512 --decode-tokens 128 --runs 3
//   npm run bench -- --backend cpu                  # only the CPU backend
//
// Needs the page built (`scripts/build-web.sh`). On a machine without a GPU,
// Chromium's SwiftShader adapter runs WebGPU in software: those figures show
// that the path works, not how fast it is on a GPU.

import { parseArgs } from 'node:util';
import { distDir, launch, openCopilot } from './harness.mjs';
import { serveStatic } from './servers.mjs';

const { values: opts } = parseArgs({
  options: {
    'prompt-tokens': { type: 'string', default: '8' },
    'decode-tokens': { type: 'string', default: '4' },
    runs: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'both' },
  },
});
const prompt = Number(opts['prompt-tokens']);
const decode = Number(opts['decode-tokens']);
const runs = Number(opts.runs);
const backends = opts.backend === 'both' ? ['webgpu', 'cpu'] : [opts.backend];

const site = await serveStatic(distDir);
const browser = await launch();
const rows = [];
try {
  for (const backend of backends) {
    const context = await browser.newContext();
    let page = await openCopilot(context, site.url);
    await page.selectOption('#model', `local-${backend}`);
    // The first load downloads the weights into browser storage.
    await page.evaluate(() => window.weft.ensureModel());
    // Page load to first token, weights already stored: a reload, then the
    // model is read from storage and one greedy token generated.
    await page.reload();
    page = await openCopilot(context, site.url);
    await page.selectOption('#model', `local-${backend}`);
    const first = await page.evaluate(async (p) => {
      await window.weft.ensureModel();
      const loadedAt = performance.now();
      const run = await window.weft.greedy(p, 1);
      return { loadedAt, firstTokenMs: run.first_token_ms };
    }, prompt);
    const loaded = await page.evaluate(() => window.weft.events.find((e) => e.type === 'model-loaded').info);
    const measured = await page.evaluate(([p, d, r]) => window.weft.bench(p, d, r), [prompt, decode, runs]);
    const gpu = loaded.details.device.adapter_info;
    rows.push({
      backend,
      device: gpu ? [gpu.vendor, gpu.architecture, gpu.description].filter(Boolean).join(' ') : loaded.details.device.adapter,
      prefill: measured.prefill_tokens_per_second,
      decode: measured.decode_tokens_per_second,
      loadS: loaded.loadMs / 1e3,
      firstTokenS: (first.loadedAt + first.firstTokenMs) / 1e3,
      generated: measured.generated,
    });
    await context.close();
  }
} finally {
  await browser.close();
  site.close();
}

const version = await (async () => {
  const b = await launch({ webgpu: false });
  const v = b.version();
  await b.close();
  return v;
})();
console.log(`Weft in the browser: SmolLM2-135M-Instruct Q4_1, Chromium ${version}, batch 1, greedy`);
console.log(`median of ${runs} run(s) after one warm-up; prompt ${prompt} tokens, ${decode} decoded\n`);
console.log(`| backend | device | prefill tok/s (pp${prompt}) | decode tok/s (tg${decode}) | load from storage | page load → first token (cached weights) |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${r.device} | ${r.prefill.toFixed(3)} | ${r.decode.toFixed(3)} | ${r.loadS.toFixed(1)} s | ${r.firstTokenS.toFixed(1)} s |`,
  );
}
for (const r of rows) console.log(`${r.backend}: greedy tokens ${r.generated.join(' ')}`);
