// The copilot page: a chat panel beside a support ticket. The agent and its
// tools are WASM components, each in its own worker under the page's host
// (host.js); the model, local or remote, lives in a worker too
// (model-worker.js). One control switches models.

import config from './copilot.config.js';
import { ComponentHost } from './host.js';

const $ = (id) => document.getElementById(id);

/** Requests to the model worker, answered by id. */
class ModelWorker {
  constructor() {
    this.worker = new Worker(new URL('./model-worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.ready = new Promise((resolve, reject) => {
      this.worker.onmessage = ({ data }) => (data.ready ? resolve() : this.dispatch(data));
      this.worker.onerror = (e) => reject(new Error(`the model worker failed to start: ${e.message ?? e}`));
    });
  }

  dispatch({ id, progress, event, result, error, violation }) {
    if (violation) {
      onHostEvent({ type: 'csp-violation', source: 'model-worker', ...violation });
      return;
    }
    const call = this.pending.get(id);
    if (!call) return;
    if (progress) call.onProgress?.(progress);
    else if (event) call.onEvent?.(event);
    else {
      this.pending.delete(id);
      if (error !== undefined) call.reject(new Error(error));
      else call.resolve(result);
    }
  }

  call(op, args = {}, { onProgress, onEvent } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, onEvent });
      this.worker.postMessage({ id, op, ...args });
    });
  }
}

const events = []; // everything that happened, for the page's tests
const totals = { tokens: 0, costUsd: 0, priced: true };
let worker;
let host;
let loaded = null; // the choice the worker's model was made for
let capabilities = null;
let current = null; // the assistant bubble being streamed into
const toolItems = new Map();

function notice(text, kind = 'info') {
  const el = $('notice');
  el.hidden = !text;
  el.textContent = text ?? '';
  el.className = kind;
}

function bubble(kind, text = '') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = text;
  $('conversation').append(li);
  li.scrollIntoView({ block: 'end' });
  return li;
}

function showProgress(p) {
  const box = $('progress');
  if (!p) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const mb = (n) => (n / 1e6).toFixed(1);
  const labels = { download: 'Downloading weights', cached: 'Weights found in browser storage', load: 'Uploading tensors' };
  box.querySelector('progress').value = p.total ? p.loaded / p.total : 0;
  box.querySelector('span').textContent = `${labels[p.phase] ?? p.phase}: ${mb(p.loaded)} / ${mb(p.total)} MB`;
}

function meter() {
  $('tokens').textContent = totals.tokens.toLocaleString('en-US');
  $('cost').textContent = totals.priced ? `$${totals.costUsd.toFixed(6)}` : 'unknown (model not in the price catalog)';
}

/** Shows what the host reports, as it happens. */
function onHostEvent(event) {
  events.push({ ...event, t: performance.now() });
  switch (event.type) {
    case 'model-start':
      current = null;
      break;
    case 'model-event':
      if ('text_delta' in event.event) {
        current ??= bubble('assistant');
        current.textContent += event.event.text_delta;
        current.scrollIntoView({ block: 'end' });
      }
      break;
    case 'model-done': {
      const { response, provider, cost_usd: cost } = event.reply;
      totals.tokens += (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0);
      if (cost === null || cost === undefined) totals.priced = false;
      else totals.costUsd += cost;
      $('provider').textContent = `${provider} · ${response.model}`;
      meter();
      break;
    }
    case 'model-error': {
      const cause = event.csp ? 'Blocked by the Content-Security-Policy' : event.cors ? 'Blocked by CORS' : 'The model failed';
      notice(`${cause}: ${event.message}`, 'error');
      break;
    }
    case 'denied':
      bubble('denied', `⛔ ${event.reason}`);
      break;
    case 'tool-call': {
      const li = bubble('tool', `→ ${event.call.name}(${event.call.arguments})`);
      toolItems.set(event.call.id, li);
      break;
    }
    case 'tool-result': {
      const li = toolItems.get(event.call.id) ?? bubble('tool');
      if (event.error) {
        li.classList.add('failed');
        li.textContent += `\n✗ ${event.error.tag}: ${event.error.message}`;
      } else {
        li.textContent += `\n← ${event.output.length > 400 ? `${event.output.slice(0, 400)}…` : event.output}`;
      }
      break;
    }
    default:
      break;
  }
}

/** Makes the worker's model the one the control names. */
async function ensureModel() {
  const choice = $('model').value;
  if (loaded === choice) return;
  notice(null);
  if (choice === 'remote') {
    const settings = {
      provider: $('remote-provider').value.trim(),
      model: $('remote-model').value.trim(),
      base_url: $('remote-url').value.trim() || undefined,
    };
    await worker.call('connect', { settings, apiKey: $('remote-key').value });
  } else {
    const local = config.models.local;
    const backend = choice === 'local-webgpu' ? 'webgpu' : 'cpu';
    const info = await worker.call(
      'loadLocal',
      { url: local.url, name: local.name, backend, context: local.context },
      { onProgress: showProgress },
    );
    events.push({ type: 'model-loaded', info, t: performance.now() });
    showProgress(null);
  }
  capabilities = await worker.call('capabilities');
  loaded = choice;
  $('provider').textContent = choice === 'remote' ? $('remote-provider').value : `local/${choice.slice(6)}`;
}

/** Runs the agent on the ticket and the user's question. */
async function send(question) {
  $('send').disabled = true;
  bubble('user', question);
  try {
    await ensureModel();
    const input = `Ticket:\n${$('ticket-text').textContent.replace(/\s+/g, ' ').trim()}\n\nQuestion: ${question}`;
    const outcome = await host.run(input, capabilities);
    if (outcome.ok) {
      const answer = outcome.ok.answer;
      // The streamed text of the last step is the answer; show it whole.
      (current ?? bubble('assistant')).textContent = answer;
      return { answer, steps: outcome.ok.steps };
    }
    const message = `${outcome.err.tag}: ${JSON.stringify(outcome.err.val ?? '')}`;
    bubble('error', `The agent stopped: ${message}`);
    return { error: outcome.err };
  } catch (e) {
    showProgress(null);
    bubble('error', String(e?.message ?? e));
    notice(String(e?.message ?? e), 'error');
    return { error: String(e?.message ?? e) };
  } finally {
    $('send').disabled = false;
  }
}

// A violation of the page's Content-Security-Policy (web/serve.mjs sends it)
// is recorded: the page's tests assert there are none.
document.addEventListener('securitypolicyviolation', (e) =>
  onHostEvent({ type: 'csp-violation', source: 'page', directive: e.effectiveDirective, blocked: e.blockedURI }),
);

async function start() {
  if (typeof WebAssembly.Suspending !== 'function') {
    throw new Error(
      'this browser lacks JSPI (WebAssembly.Suspending), which lets the agent component wait for the model and ' +
        'tools: use Chromium or Chrome 137 or later',
    );
  }
  worker = new ModelWorker();
  await worker.ready;
  host = new ComponentHost({
    model: { chat: (request, onEvent) => worker.call('chat', { request }, { onEvent }) },
    validate: (schema, args) => worker.call('validate', { schema, args }),
    approve: async (call, reason) => window.confirm(`Allow the agent to call ${call.name}? (${reason})`),
    events: onHostEvent,
  });
  // A tool that cannot be loaded (a wrong policy, an import the page does
  // not give) is left out and named; the copilot runs without it.
  const unavailable = [];
  for (const tool of config.tools) {
    try {
      await host.addTool(tool.name, tool.component, tool);
    } catch (e) {
      const message = String(e?.message ?? e);
      events.push({ type: 'tool-unavailable', component: tool.name, message, t: performance.now() });
      unavailable.push(`${tool.name}: ${message}`);
    }
  }
  if (unavailable.length) {
    $('components-status').hidden = false;
    $('components-status').textContent = `Tools left out: ${unavailable.join('; ')}`;
  }
  await host.setAgent(config.agent.component, config.agent);

  const remote = config.models.remote;
  $('remote-provider').value = remote.provider;
  $('remote-model').value = remote.model;
  $('remote-url').value = remote.base_url;
  const { problem } = await worker.call('webgpu');
  if (problem) {
    $('model').querySelector('[value=local-webgpu]').disabled = true;
    $('model').value = 'local-cpu';
    // Stays up while the page is open: it explains the fallback.
    $('webgpu-status').hidden = false;
    $('webgpu-status').textContent = `WebGPU is not available: ${problem}. The local model runs on the CPU instead (slower), or choose a remote provider.`;
  }
  $('model').addEventListener('change', () => {
    $('remote-settings').hidden = $('model').value !== 'remote';
  });
  $('connect').addEventListener('click', () => {
    loaded = null;
    ensureModel().catch((e) => notice(String(e.message ?? e), 'error'));
  });
  $('forget').addEventListener('click', async () => {
    await worker.call('forget');
    loaded = null;
    notice('Stored weights deleted: the next local answer downloads them again.');
  });
  $('ask').addEventListener('submit', (e) => {
    e.preventDefault();
    const question = $('question').value.trim();
    if (question) send(question);
  });
  document.body.dataset.ready = 'true';
  return { webgpuProblem: problem };
}

// What the page's tests (and a curious developer) can reach.
window.weft = {
  events,
  totals,
  send,
  ensureModel,
  bench: async (promptTokens, decodeTokens, runs = 1) => {
    await ensureModel();
    return worker.call('bench', { promptTokens, decodeTokens, runs });
  },
  greedy: async (promptTokens, decodeTokens) => {
    await ensureModel();
    return worker.call('greedy', { promptTokens, decodeTokens });
  },
  state: (component) => host.stateOf(component),
  ready: start().catch((e) => {
    notice(`The copilot could not start: ${e.message ?? e}`, 'error');
    throw e;
  }),
};
