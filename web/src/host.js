// The page's component host: what crates/weft-host does under wasmtime, for
// components transpiled by jco. Each component (the agent and every tool)
// runs in its own worker (component-worker.js) that the page terminates at
// the component's deadline, so a spinning component cannot freeze the tab;
// a fresh worker replaces it for the next call.
//
// Deny by default, as natively: a component imports only what wasi.js's
// allow-list gives its world and policy (no environment, no preopened
// directory, no sockets; `wasi:http` only towards the hosts its policy
// grants). A tool the agent's policy does not grant is neither listed to the
// agent nor callable by it. The policies live in copilot.config.js, with the
// field names of weft.toml (policy.js).

import { checkPolicy, granted } from './policy.js';

const workerUrl = new URL('./component-worker.js', import.meta.url);

/**
 * One component's sandbox: the worker it runs in, replaced after a timeout
 * or a trap. Its key-value state lives here, on the page, so it outlasts
 * the workers (on the page it lasts as long as the page: the conversation).
 */
class Sandbox {
  constructor(host, { name, world, url, config, policy }) {
    this.host = host;
    this.name = name;
    this.world = world;
    this.url = new URL(url, location.href).href;
    this.config = config;
    this.policy = policy;
    this.state = new Map();
    this.modules = undefined; // compiled core modules, reused by the next worker
    this.worker = null;
    this.calls = new Map(); // call id -> resolve
    this.nextCall = 1;
  }

  /** Starts a fresh worker and instantiates the component in it; resolves to its tool specs. */
  start() {
    this.worker?.terminate();
    const worker = new Worker(workerUrl, { type: 'module', name: `weft: ${this.name}` });
    this.worker = worker;
    const limit = this.policy.limits['timeout-ms'];
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop();
        reject(new Error(`${this.who()} did not start within its time limit of ${limit} ms`));
      }, limit);
      this.starting = {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), this.stop(), reject(e)),
      };
    });
    worker.onmessage = ({ data }) => {
      if (worker === this.worker) this.received(data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      if (worker !== this.worker) return;
      const message = `the worker of ${this.who()} failed: ${e.message || 'it could not be loaded'}`;
      this.starting?.reject(new Error(message));
      this.settleAll({ trap: message });
    };
    worker.postMessage({
      op: 'start',
      init: {
        name: this.name,
        world: this.world,
        url: this.url,
        config: this.config,
        state: Object.fromEntries(this.state),
        policy: this.policy,
        modules: this.modules,
      },
    });
    return this.ready;
  }

  who() {
    return this.world === 'agent-plugin' ? `the agent \`${this.name}\`` : `tool component \`${this.name}\``;
  }

  /** Terminates the worker; calls in flight end as `stopped`. */
  stop() {
    this.worker?.terminate();
    this.worker = null;
    this.settleAll({ stopped: true });
  }

  settleAll(outcome) {
    for (const resolve of this.calls.values()) resolve(outcome);
    this.calls.clear();
  }

  /** Stops the worker and starts a fresh one in the background, for the next call. */
  restart() {
    this.stop();
    this.start().catch((e) => this.host.events({ type: 'crashed', component: this.name, reason: String(e.message ?? e) }));
  }

  /**
   * Sends `message` to the component and resolves to its outcome:
   * `{ ok }`, `{ err }`, `{ trap }` or, past `timeoutMs`, `{ timedOut }`
   * (the worker is then terminated and replaced).
   */
  async call(message, timeoutMs) {
    try {
      await this.ready;
    } catch (e) {
      this.restart();
      return { trap: `it could not be started: ${e.message ?? e}` };
    }
    const worker = this.worker;
    const id = this.nextCall++;
    let timer;
    const outcome = await new Promise((resolve) => {
      this.calls.set(id, resolve);
      timer = setTimeout(() => resolve({ timedOut: true }), Math.max(1, timeoutMs));
      worker.postMessage({ ...message, id });
    });
    clearTimeout(timer);
    this.calls.delete(id);
    // A trapped instance cannot be entered again, and a late one may still
    // spin: either way the worker goes, and a fresh one takes its place.
    if ((outcome.timedOut || outcome.trap) && worker === this.worker) this.restart();
    return outcome;
  }

  received(data) {
    if (data.started) {
      this.modules = data.started.modules;
      this.starting.resolve(data.started);
    } else if (data.failed !== undefined) {
      this.starting.reject(new Error(data.failed));
    } else if (data.done !== undefined) {
      this.calls.get(data.done)?.(data);
    } else if (data.rpc !== undefined) {
      this.serve(data);
    } else if (data.notify) {
      this.notified(data);
    }
  }

  /** A request from the component's worker, answered by the host. */
  async serve({ rpc, method, args }) {
    const worker = this.worker;
    const reply = (message) => {
      if (worker === this.worker) worker.postMessage({ rpcReply: rpc, ...message });
    };
    try {
      const onEvent = (event) => worker === this.worker && worker.postMessage({ rpcEvent: rpc, event });
      reply({ result: await this.host.serve(this, method, args, onEvent) });
    } catch (e) {
      reply({ error: String(e?.message ?? e) });
    }
  }

  notified({ notify, ...fields }) {
    const component = this.name;
    switch (notify) {
      case 'state':
        if (fields.deleted) this.state.delete(fields.key);
        else this.state.set(fields.key, fields.value);
        break;
      case 'log':
        this.host.events({ type: 'log', component, level: fields.level, message: fields.message });
        break;
      case 'output':
        this.host.events({ type: 'output', component, stream: fields.stream, line: fields.line });
        break;
      case 'denied':
        this.host.events({ type: 'denied', component, reason: fields.reason });
        break;
      case 'violation':
        this.host.events({ type: 'csp-violation', source: component, directive: fields.directive, blocked: fields.blocked });
        break;
      default:
        break;
    }
  }
}

/**
 * Hosts one agent and its tools on the page.
 *
 * `events` receives what happens, for the page to show: `log`, `output`,
 * `tool-call`, `tool-result`, `denied`, `crashed`, `model-start`,
 * `model-event`, `model-done`, `model-error`, `csp-violation`.
 */
export class ComponentHost {
  constructor({ model, validate, approve, events }) {
    this.model = model; // { chat(request, onEvent) -> reply }
    this.validate = validate; // (schema, args) -> problem | null
    this.approve = approve ?? (async () => false);
    this.events = events ?? (() => {});
    this.tools = new Map(); // tool name -> { component, spec }
    this.components = new Map(); // component name -> Sandbox
    this.deadline = Infinity; // when the agent's current run must end (performance.now())
  }

  /** Loads a tool component in its worker and registers the tools it lists. */
  async addTool(name, url, { config = {}, policy = {} } = {}) {
    if (this.components.has(name)) throw new Error(`two tool components are called \`${name}\``);
    const sandbox = new Sandbox(this, {
      name,
      world: 'tool-plugin',
      url,
      config,
      policy: checkPolicy(policy, `tool \`${name}\``),
    });
    const { tools } = await sandbox.start();
    for (const spec of tools) {
      if (this.tools.has(spec.name)) {
        sandbox.stop();
        throw new Error(`tool \`${spec.name}\` of component \`${name}\` is already offered by \`${this.tools.get(spec.name).component}\``);
      }
    }
    this.components.set(name, sandbox);
    for (const spec of tools) this.tools.set(spec.name, { component: name, spec });
  }

  /** The state a component has written (for the page and tests). */
  stateOf(component) {
    return Object.fromEntries(this.components.get(component)?.state ?? []);
  }

  /** Loads the agent component in its worker, with its configuration and policy. */
  async setAgent(url, { config = {}, policy = {} } = {}) {
    this.policy = checkPolicy(policy, 'the agent');
    this.agent?.stop();
    this.agent = new Sandbox(this, { name: 'agent', world: 'agent-plugin', url, config, policy: this.policy });
    await this.agent.start();
  }

  /** Runs the agent on `input` within its time limit; resolves to `{ ok: run-output }` or `{ err }`. */
  async run(input, capabilities) {
    const limit = this.policy.limits['timeout-ms'];
    this.deadline = performance.now() + limit;
    const tools = [...this.tools.values()].filter((t) => granted(this.policy.tools, t.spec.name)).map((t) => t.spec);
    try {
      const outcome = await this.agent.call({ op: 'run', input, tools, capabilities }, limit);
      if ('ok' in outcome) return { ok: outcome.ok };
      if ('err' in outcome) return { err: outcome.err };
      const what = outcome.timedOut ? `exceeded its time limit of ${limit} ms` : `trapped: ${outcome.trap ?? 'it was stopped'}`;
      const reason = `the agent \`${this.agent.name}\` ${what}; it will be restarted for the next run`;
      this.events({ type: 'crashed', component: this.agent.name, reason });
      return { err: { tag: 'crashed', val: reason } };
    } finally {
      this.deadline = Infinity;
    }
  }

  /** What the agent's worker asks of the page: its model, its toolbox, approval. */
  async serve(sandbox, method, args, onEvent) {
    if (sandbox !== this.agent) throw new Error(`${sandbox.who()} may not ask the page for \`${method}\``);
    switch (method) {
      case 'chat':
        return this.ask(args.request, onEvent);
      case 'callTool':
        return this.callTool(args.call);
      case 'approve':
        return Boolean(await this.approve(args.call, args.reason));
      default:
        throw new Error(`unknown request \`${method}\``);
    }
  }

  /** One model call (a request in serde's shape); reports its progress. */
  async ask(request, onEvent) {
    this.events({ type: 'model-start', request });
    const reply = await this.model.chat(request, (event) => {
      this.events({ type: 'model-event', event });
      onEvent(event);
    });
    if (reply.error) this.events({ type: 'model-error', error: reply.error, message: reply.message, cors: reply.cors, csp: reply.csp });
    else this.events({ type: 'model-done', reply });
    return reply;
  }

  /**
   * `toolbox.call`: policy, approval, schema, then the tool's own worker,
   * within the tool's time limit and the agent's. Resolves to `{ ok }` or
   * `{ err: tool-error }`.
   */
  async callTool(call) {
    const { name } = call;
    this.events({ type: 'tool-call', call });
    const fail = (tag, message) => {
      this.events({ type: 'tool-result', call, error: { tag, message } });
      return { err: { tag, val: message } };
    };
    if (!granted(this.policy.tools, name)) return fail('denied', `tool \`${name}\` is not granted by the agent's policy`);
    const tool = this.tools.get(name);
    if (!tool) return fail('not-found', `no installed tool is called \`${name}\``);
    if (granted(this.policy.approve, name) && !(await this.approve(call, 'the policy requires approval'))) {
      return fail('denied', `a person declined the call to \`${name}\``);
    }
    const problem = await this.validate(tool.spec.inputSchema, call.arguments);
    if (problem) return fail('invalid-arguments', problem);

    const sandbox = this.components.get(tool.component);
    const { limits } = sandbox.policy;
    const left = this.deadline - performance.now();
    const byAgent = left < limits['timeout-ms'];
    const outcome = await sandbox.call({ op: 'call', name, arguments: call.arguments }, byAgent ? left : limits['timeout-ms']);
    if ('ok' in outcome) {
      const limit = limits['max-output-kb'] * 1024;
      if (outcome.ok.length > limit) {
        return fail('failed', `\`${name}\` returned ${outcome.ok.length} bytes, over its limit of ${limits['max-output-kb']} KiB`);
      }
      this.events({ type: 'tool-result', call, output: outcome.ok });
      return { ok: outcome.ok };
    }
    if ('err' in outcome) return fail(outcome.err.tag, outcome.err.val);
    let what;
    if (outcome.timedOut) {
      what = byAgent
        ? `was stopped in \`${name}\` at the agent's deadline (its time limit of ${this.policy.limits['timeout-ms']} ms)`
        : `exceeded its time limit of ${limits['timeout-ms']} ms in \`${name}\``;
    } else {
      what = `trapped in \`${name}\`: ${outcome.trap ?? 'it was stopped'}`;
    }
    const reason = `tool component \`${tool.component}\` ${what}; it will be restarted for the next call`;
    this.events({ type: 'crashed', component: tool.component, reason });
    return fail('crashed', reason);
  }
}
