// The model worker: Weft's model layer (crates/weft-web, Rust compiled to
// wasm32-unknown-unknown) off the page's main thread. It holds the one model
// the page talks to, local or remote, and the user's API key; components
// reach it only through the agent's `model` import, which the page forwards.
//
// Messages in: `{ id, op, ...args }`. Messages out: `{ id, progress }` and
// `{ id, event }` while an operation runs, then `{ id, result }` or
// `{ id, error }`; `{ violation }` for each Content-Security-Policy violation.

import init, { WebModel, validateArguments } from './pkg/weft_web.js';
import { cachedWeights, forgetWeights } from './weights.js';

await init();

let model = null;
let remoteBaseUrl = null;

// The page's Content-Security-Policy covers this worker: a provider whose
// origin its `connect-src` does not list is blocked before any request.
const violations = [];
self.addEventListener('securitypolicyviolation', (e) => {
  const violation = { directive: e.effectiveDirective, blocked: e.blockedURI };
  violations.push(violation);
  self.postMessage({ violation });
});

const originOf = (url) => {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
};

/**
 * After a failed request to a remote provider: whether the page's
 * Content-Security-Policy blocked it (its violation event may come a moment
 * after the failure).
 */
async function cspDiagnosis(baseUrl) {
  const origin = originOf(baseUrl);
  for (let waited = 0; waited <= 500; waited += 50) {
    if (violations.some((v) => v.directive === 'connect-src' && originOf(v.blocked) === origin)) {
      return (
        `the page's Content-Security-Policy does not allow connections to ${origin}: add it to \`connect\` ` +
        'in copilot.config.js, or serve the page with `node web/serve.mjs --connect ' + origin + '`'
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

/** Why WebGPU cannot be used here (`problem`), or the adapter it offers. */
async function webgpuAdapter() {
  if (!('gpu' in navigator)) return { problem: 'this browser has no WebGPU (navigator.gpu is missing)' };
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) return { problem: 'WebGPU is present but offers no adapter (it may be disabled or blocked for this GPU)' };
  const { vendor, architecture, device, description } = adapter.info ?? {};
  return { problem: null, adapter: { vendor, architecture, device, description } };
}

/**
 * After a failed request to a remote provider: whether the browser's CORS
 * rule is what blocked it. A `no-cors` request reaches servers that CORS
 * hides from the page, so if it gets through, CORS was the cause.
 */
async function corsDiagnosis(baseUrl) {
  try {
    await fetch(baseUrl, { mode: 'no-cors', cache: 'no-store' });
  } catch {
    return null;
  }
  return (
    `the provider at ${baseUrl} is reachable but does not allow calls from web pages (CORS): ` +
    'its responses lack Access-Control-Allow-Origin for this page. Use a provider that allows ' +
    'browser calls, or put a proxy in front of it, such as `weft serve --cors-origin ' +
    `${self.location.origin}\``  + ' (which only answers pages it names).'
  );
}

const ops = {
  async webgpu() {
    return webgpuAdapter();
  },

  async loadLocal({ url, name, backend, context }, progress) {
    const gpu = backend === 'webgpu' ? await webgpuAdapter() : null;
    if (gpu?.problem) throw new Error(`cannot use WebGPU: ${gpu.problem}`);
    const file = await cachedWeights(url, name, progress);
    const handle = await file.createSyncAccessHandle();
    const size = handle.getSize();
    let read = 0;
    const reader = (offset, length) => {
      const bytes = new Uint8Array(length);
      const n = handle.read(bytes, { at: offset });
      if (n !== length) throw new Error(`short read of ${name}: ${n} of ${length} bytes at byte ${offset}`);
      read += length;
      progress({ phase: 'load', loaded: read, total: size });
      return bytes;
    };
    const started = performance.now();
    try {
      model?.free();
      model = null;
      model = await WebModel.loadLocal(name, size, reader, backend, context);
    } finally {
      handle.close();
    }
    remoteBaseUrl = null;
    const details = JSON.parse(model.details);
    if (gpu) details.device.adapter_info = gpu.adapter; // browsers leave wgpu's adapter name empty
    return { provider: model.provider, details, loadMs: performance.now() - started };
  },

  async connect({ settings, apiKey }) {
    model?.free();
    model = null;
    model = WebModel.connect(JSON.stringify(settings), apiKey ?? null);
    remoteBaseUrl = settings.base_url ?? null;
    return { provider: model.provider, details: JSON.parse(model.details) };
  },

  async chat({ request }, progress, emit) {
    if (!model) throw new Error('no model is loaded');
    const reply = JSON.parse(await model.chat(JSON.stringify(request), (event) => emit(JSON.parse(event))));
    if (reply.error && 'transport' in reply.error && remoteBaseUrl) {
      const csp = await cspDiagnosis(remoteBaseUrl);
      const cors = csp ? null : await corsDiagnosis(remoteBaseUrl);
      if (csp) {
        reply.error = { transport: csp };
        reply.message = `transport error: ${csp}`;
        reply.csp = true;
      } else if (cors) {
        reply.error = { transport: cors };
        reply.message = `transport error: ${cors}`;
        reply.cors = true;
      }
    }
    return reply;
  },

  async capabilities() {
    if (!model) throw new Error('no model is loaded');
    return JSON.parse(model.capabilities());
  },

  async bench({ promptTokens, decodeTokens, runs }) {
    if (!model) throw new Error('no model is loaded');
    return JSON.parse(await model.bench(promptTokens, decodeTokens, runs));
  },

  async greedy({ promptTokens, decodeTokens }) {
    if (!model) throw new Error('no model is loaded');
    return JSON.parse(await model.greedy(promptTokens, decodeTokens));
  },

  async validate({ schema, args }) {
    return validateArguments(schema, args) ?? null;
  },

  async forget() {
    model?.free();
    model = null;
    await forgetWeights();
    return true;
  },
};

self.onmessage = async ({ data }) => {
  const { id, op } = data;
  const progress = (p) => self.postMessage({ id, progress: p });
  const emit = (event) => self.postMessage({ id, event });
  try {
    if (!(op in ops)) throw new Error(`unknown operation \`${op}\``);
    self.postMessage({ id, result: await ops[op](data, progress, emit) });
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};

self.postMessage({ ready: true });
