// The page's component host: what crates/weft-host does under wasmtime, for
// components transpiled by jco. It instantiates the agent and its tools,
// gives each its own services (logging, state, config), enforces the agent's
// policy on every tool call, and binds the agent's `model` import to the
// model worker.
//
// Deny by default, as natively: a tool the agent's policy does not grant is
// neither listed to the agent nor callable by it; components get WASI from
// @bytecodealliance/preview2-shim with no environment, no preopened
// directories, and no network.

import * as shim from './shim/index.js';
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

const toolError = (tag, message) => new WitError({ tag, val: message }, message);

const kebabCase = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** WASI for a component: preview2-shim, with nothing granted. */
function wasiImports() {
  const imports = {};
  for (const [pkg, module] of Object.entries(shim)) {
    for (const [name, iface] of Object.entries(module)) {
      if (iface && typeof iface === 'object') imports[`wasi:${pkg}/${kebabCase(name)}`] = iface;
    }
  }
  imports['wasi:cli/environment'] = { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined };
  imports['wasi:filesystem/preopens'] = { getDirectories: () => [] };
  return imports;
}

/** Whether `name` is in a policy list (`"*"` grants all). */
const granted = (list = [], name) => list.includes('*') || list.includes(name);

/** One component's state, with the host's size limit. On the page it lasts as long as the
 * page: the conversation, so the key-value memory carries over between questions. */
class ComponentState {
  constructor(limitBytes = 1 << 20) {
    this.values = new Map();
    this.limitBytes = limitBytes;
  }

  bytes() {
    let n = 0;
    for (const [k, v] of this.values) n += k.length + v.length;
    return n;
  }

  imports() {
    return {
      get: (key) => this.values.get(key),
      set: (key, value) => {
        const previous = this.values.get(key);
        const after = this.bytes() - (previous === undefined ? 0 : key.length + previous.length) + key.length + value.length;
        if (after > this.limitBytes) {
          throw new WitError(`state limit of ${this.limitBytes} bytes for this component would be exceeded`);
        }
        this.values.set(key, value);
      },
      delete: (key) => this.values.delete(key),
      keys: (prefix) => [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort(),
    };
  }
}

/** Fetches and compiles a transpiled component and instantiates it. */
async function instantiate(url, imports) {
  const module = await import(url);
  const base = new URL('.', new URL(url, location.href));
  const getCoreModule = (file) => WebAssembly.compileStreaming(fetch(new URL(file, base)));
  return module.instantiate(getCoreModule, imports);
}

/**
 * Hosts one agent and its tools on the page.
 *
 * `events` receives what happens, for the page to show: `log`, `tool-call`,
 * `tool-result`, `model-start`, `model-event`, `model-done`, `model-error`.
 */
export class ComponentHost {
  constructor({ model, validate, approve, events }) {
    this.model = model; // { chat(request, onEvent) -> reply, capabilities() }
    this.validate = validate; // (schema, args) -> problem | null
    this.approve = approve ?? (async () => false);
    this.events = events ?? (() => {});
    this.tools = new Map(); // tool name -> { component, spec }
    this.components = new Map(); // component name -> { url, config, state, instance }
  }

  services(name, config, state) {
    return {
      'weft:plugins/logging': {
        log: (level, message) => this.events({ type: 'log', component: name, level, message }),
      },
      'weft:plugins/state': state.imports(),
      'weft:plugins/config': { get: (key) => config[key] },
      'weft:plugins/clock': { nowMs: () => BigInt(Date.now()) },
    };
  }

  /** Loads a tool component and registers the tools it lists. */
  async addTool(name, url, config = {}) {
    const entry = { url, config, state: new ComponentState(), instance: null };
    this.components.set(name, entry);
    await this.instantiateTool(name);
    for (const spec of entry.instance.tool.listTools()) {
      if (this.tools.has(spec.name)) {
        throw new Error(`tool \`${spec.name}\` of component \`${name}\` is already offered by \`${this.tools.get(spec.name).component}\``);
      }
      this.tools.set(spec.name, { component: name, spec });
    }
  }

  async instantiateTool(name) {
    const entry = this.components.get(name);
    entry.instance = await instantiate(entry.url, { ...wasiImports(), ...this.services(name, entry.config, entry.state) });
  }

  /** The state a component has written this run (for the page and tests). */
  stateOf(component) {
    return Object.fromEntries(this.components.get(component)?.state.values ?? []);
  }

  /** Loads the agent component with its configuration and policy. */
  async setAgent(url, { config = {}, policy = {} } = {}) {
    this.policy = policy;
    const state = new ComponentState();
    this.agentState = state;
    this.agent = await instantiate(url, {
      ...wasiImports(),
      ...this.services('agent', config, state),
      'weft:plugins/model': this.modelImports(),
      'weft:plugins/toolbox': {
        list: () => [...this.tools.values()].filter((t) => granted(policy.tools, t.spec.name)).map((t) => t.spec),
        call: (call) => this.callTool(call),
      },
      'weft:plugins/approval': { request: (call, reason) => this.approve(call, reason) },
    });
  }

  /** The agent's `model` import, served by the model worker. */
  modelImports() {
    const host = this;
    // A streamed answer: `next()` hands over events as the worker sends them.
    class ResponseStream {
      constructor(request) {
        this.queue = [];
        this.waiting = null;
        host.ask(request, (event) => this.push({ event })).then(
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
        const reply = await host.ask(request, () => {});
        if (reply.error) throw new WitError(modelErrorToWit(reply.error), reply.message);
        return chatResponseToWit(reply.response);
      },
      chatStream: async (request) => new ResponseStream(request),
      capabilities: () => capabilitiesToWit(host.capabilities),
    };
  }

  /** One model call: converts the request, reports its progress. */
  async ask(request, onEvent) {
    const serde = chatRequestToSerde(request);
    this.events({ type: 'model-start', request: serde });
    const reply = await this.model.chat(serde, (event) => {
      this.events({ type: 'model-event', event });
      onEvent(event);
    });
    if (reply.error) this.events({ type: 'model-error', error: reply.error, message: reply.message, cors: reply.cors });
    else this.events({ type: 'model-done', reply });
    return reply;
  }

  /** `toolbox.call`: policy, approval, schema, then the tool's own sandbox. */
  async callTool(call) {
    const { name } = call;
    this.events({ type: 'tool-call', call });
    const fail = (tag, message) => {
      this.events({ type: 'tool-result', call, error: { tag, message } });
      return toolError(tag, message);
    };
    if (!granted(this.policy.tools, name)) {
      throw fail('denied', `tool \`${name}\` is not granted by the agent's policy`);
    }
    const tool = this.tools.get(name);
    if (!tool) throw fail('not-found', `no installed tool is called \`${name}\``);
    if (granted(this.policy.approve, name) && !(await this.approve(call, 'the policy requires approval'))) {
      throw fail('denied', `a person declined the call to \`${name}\``);
    }
    const problem = await this.validate(tool.spec.inputSchema, call.arguments);
    if (problem) throw fail('invalid-arguments', problem);
    const entry = this.components.get(tool.component);
    try {
      const output = entry.instance.tool.call(name, call.arguments);
      this.events({ type: 'tool-result', call, output });
      return output;
    } catch (e) {
      if (e?.payload) {
        const { tag, val } = e.payload;
        throw fail(tag, val);
      }
      // A trap: the instance cannot be entered again, so make a new one;
      // the agent gets an error value and the page keeps going.
      await this.instantiateTool(tool.component);
      throw fail('crashed', `component \`${tool.component}\` trapped in \`${name}\`: ${e?.message ?? e}`);
    }
  }

  /** Runs the agent on `input`; resolves to its `run-output`. */
  async run(input, capabilities) {
    this.capabilities = capabilities;
    try {
      return { ok: await this.agent.agent.run(input) };
    } catch (e) {
      if (e?.payload) return { err: e.payload };
      throw e;
    }
  }
}
