// One component in its own worker, so the page can stop it at its deadline
// (`Worker.terminate()`) however it misbehaves: a spinning component blocks
// this thread, never the page's. The page's host (host.js) starts one worker
// per component, and a fresh one after a timeout or a trap.
//
// The component gets the imports of wasi.js's allow-list for its world and
// policy. Weft's services are served here (logging, state, config, clock)
// or forwarded to the page, which enforces the policy (the agent's model,
// toolbox and approval, awaited through JSPI).
//
// Messages in:  { op: 'start', init }, { op: 'call', id, name, arguments },
//               { op: 'run', id, input, tools, capabilities },
//               { rpcReply: id, result | error }, { rpcEvent: id, event }.
// Messages out: { started: { tools, modules } } or { failed: message };
//               { done: id, ok | err | trap }; { rpc: id, method, args };
//               { notify: 'log' | 'output' | 'state' | 'denied' | 'violation', ... }.

import { componentImports } from './wasi.js';
import {
  capabilitiesToWit,
  chatRequestToSerde,
  chatResponseToWit,
  modelErrorToWit,
  streamEventToWit,
} from './wit.js';

/** An error a WIT `result` import hands to the component as its `err` value. */
class WitError extends Error {
  constructor(payload, message = payload?.val ?? String(payload)) {
    super(message);
    this.payload = payload;
  }
}

const post = (message) => self.postMessage(message);
const notify = (kind, fields) => post({ notify: kind, ...fields });

self.addEventListener('securitypolicyviolation', (e) =>
  notify('violation', { directive: e.effectiveDirective, blocked: e.blockedURI }),
);

// --- requests to the page ---

const pending = new Map(); // rpc id -> { resolve, reject, onEvent }
let nextRpc = 1;

function rpc(method, args, onEvent) {
  const id = nextRpc++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onEvent });
    post({ rpc: id, method, args });
  });
}

function answered({ rpcReply, rpcEvent, result, error, event }) {
  if (rpcEvent !== undefined) {
    pending.get(rpcEvent)?.onEvent?.(event);
    return;
  }
  const call = pending.get(rpcReply);
  pending.delete(rpcReply);
  if (error !== undefined) call?.reject(new Error(error));
  else call?.resolve(result);
}

// --- Weft's services ---

let run = { tools: [], capabilities: null }; // what the page gave the agent's current run

/** The component's key-value state: the page holds the copy that outlives this worker. */
function stateImports(initial, limitBytes) {
  const values = new Map(Object.entries(initial));
  let bytes = 0;
  for (const [k, v] of values) bytes += k.length + v.length;
  return {
    get: (key) => values.get(key),
    set: (key, value) => {
      const previous = values.get(key);
      const after = bytes - (previous === undefined ? 0 : key.length + previous.length) + key.length + value.length;
      if (after > limitBytes) {
        throw new WitError(`state limit of ${limitBytes} bytes for this component would be exceeded`);
      }
      values.set(key, value);
      bytes = after;
      notify('state', { key, value });
    },
    delete: (key) => {
      const previous = values.get(key);
      if (previous === undefined) return false;
      values.delete(key);
      bytes -= key.length + previous.length;
      notify('state', { key, deleted: true });
      return true;
    },
    keys: (prefix) => [...values.keys()].filter((k) => k.startsWith(prefix)).sort(),
  };
}

/** The agent's `model` import: requests go to the page, which asks the model worker. */
function modelImports() {
  // A streamed answer: `next()` hands over events as the page forwards them.
  class ResponseStream {
    constructor(request) {
      this.queue = [];
      this.waiting = null;
      rpc('chat', { request: chatRequestToSerde(request) }, (event) => this.push({ event })).then(
        (reply) => this.push({ reply }),
        (e) => this.push({ error: { transport: String(e?.message ?? e) } }),
      );
    }

    push(item) {
      this.queue.push(item);
      this.waiting?.();
    }

    async next() {
      while (this.queue.length === 0) await new Promise((resolve) => (this.waiting = resolve));
      const item = this.queue.shift();
      if (item.event) return streamEventToWit(item.event);
      const error = item.error ?? item.reply?.error;
      if (error) throw new WitError(modelErrorToWit(error), item.reply?.message);
      return undefined; // after `done`: the end of the stream
    }
  }
  return {
    ResponseStream,
    chat: async (request) => {
      const reply = await rpc('chat', { request: chatRequestToSerde(request) });
      if (reply.error) throw new WitError(modelErrorToWit(reply.error), reply.message);
      return chatResponseToWit(reply.response);
    },
    chatStream: async (request) => new ResponseStream(request),
    capabilities: () => capabilitiesToWit(run.capabilities),
  };
}

function weftImports({ config, state, policy }) {
  const configured = (key) => (Object.hasOwn(config, key) ? String(config[key]) : undefined);
  return {
    'weft:plugins/logging': { log: (level, message) => notify('log', { level, message }) },
    'weft:plugins/state': stateImports(state, policy.limits['max-state-kb'] * 1024),
    'weft:plugins/config': { get: configured },
    'weft:plugins/clock': { nowMs: () => BigInt(Date.now()) },
    'weft:plugins/model': modelImports(),
    'weft:plugins/toolbox': {
      list: () => run.tools,
      call: async (call) => {
        const outcome = await rpc('callTool', { call });
        if (outcome.err) throw new WitError(outcome.err);
        return outcome.ok;
      },
    },
    'weft:plugins/approval': { request: (call, reason) => rpc('approve', { call, reason }) },
  };
}

// --- the component ---

let instance = null;
let stderrTail = [];

async function start({ name, world, url, config, state, policy, modules = {} }) {
  const who = world === 'agent-plugin' ? `the agent \`${name}\`` : `tool component \`${name}\``;
  const imports = componentImports({
    who,
    world,
    policy,
    weft: weftImports({ config, state, policy }),
    onOutput: (stream, line) => {
      if (stream === 'stderr' && line.trim()) stderrTail = [...stderrTail.slice(-4), line];
      notify('output', { stream, line });
    },
    onDenied: (reason) => notify('denied', { reason }),
  });
  const module = await import(url);
  const base = new URL('.', url);
  const compiled = {};
  const getCoreModule = async (file) => {
    compiled[file] = modules[file] ?? (await WebAssembly.compileStreaming(fetch(new URL(file, base))));
    return compiled[file];
  };
  instance = await module.instantiate(getCoreModule, imports);
  const tools = world === 'tool-plugin' ? instance.tool.listTools() : [];
  return { tools, modules: compiled };
}

/** How a call into the component ended: its value, its `err`, or a trap. */
async function outcome(call) {
  try {
    return { ok: await call() };
  } catch (e) {
    if (e?.payload !== undefined) return { err: e.payload };
    const detail = String(e?.message ?? e);
    return { trap: stderrTail.length ? `${detail}; guest output: ${stderrTail.join(' | ')}` : detail };
  }
}

self.onmessage = async ({ data }) => {
  if (data.rpcReply !== undefined || data.rpcEvent !== undefined) {
    answered(data);
    return;
  }
  switch (data.op) {
    case 'start':
      try {
        post({ started: await start(data.init) });
      } catch (e) {
        post({ failed: String(e?.message ?? e) });
      }
      break;
    case 'call':
      post({ done: data.id, ...(await outcome(() => instance.tool.call(data.name, data.arguments))) });
      break;
    case 'run':
      run = { tools: data.tools, capabilities: data.capabilities };
      post({ done: data.id, ...(await outcome(() => instance.agent.run(data.input))) });
      break;
    default:
      post({ done: data.id, trap: `unknown operation \`${data.op}\`` });
  }
};
