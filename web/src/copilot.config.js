// What the copilot runs: the agent, its tools and its policy, and the models
// the page can switch between. A product team edits this file; the
// components are the same .wasm files the server host runs
// (plugins/dist/), transpiled by `scripts/build-web.sh`.

export default {
  agent: {
    component: './components/tool_loop_agent/tool_loop_agent.js',
    // Configuration keys of plugins/tool-loop-agent.
    config: {
      'max-steps': '5',
      'max-output-tokens': '256',
      stream: 'true',
      'system-prompt':
        'You are the support copilot of Acme Cloud, helping an agent answer the ticket shown beside this chat. ' +
        'Use the tools when they help: extract_entities finds emails, URLs and dates in text; ' +
        'memory_set and memory_get keep notes for this conversation. Answer briefly.',
    },
    // The same policy fields as weft.toml's `policy` (web/src/policy.js):
    // deny by default. The agent's time limit covers its whole run, model
    // time and tool calls included; the local model on a CPU is slow.
    policy: {
      tools: ['extract_entities', 'count_words', 'split_chunks', 'memory_set', 'memory_get', 'memory_list'],
      approve: [],
      limits: { 'timeout-ms': 600_000 },
    },
  },
  // Each tool runs in its own worker, stopped at its `limits.timeout-ms`
  // (default 30 s). A tool reaches the network only through `wasi:http`, and
  // only the hosts of its `http` list (`host`, `host:port`, `*.domain`).
  tools: [
    { name: 'text-tools', component: './components/text_tools/text_tools.js', policy: { limits: { 'timeout-ms': 10_000 } } },
    { name: 'kv-memory', component: './components/kv_memory/kv_memory.js', policy: { limits: { 'timeout-ms': 10_000 } } },
  ],
  // The origins the page may connect to besides its own: the remote
  // providers a user may choose. `node web/serve.mjs` puts them, and every
  // tool's `http` hosts, in the Content-Security-Policy's `connect-src`
  // (`--connect ORIGIN` adds more, e.g. a local Ollama).
  connect: ['https://api.deepseek.com'],
  models: {
    local: {
      label: 'SmolLM2-135M-Instruct (Q4_1), in this browser',
      url: './models/SmolLM2-135M-Instruct.Q4_1.gguf',
      name: 'SmolLM2-135M-Instruct.Q4_1.gguf',
      context: 2048,
    },
    remote: {
      label: 'DeepSeek (remote API)',
      provider: 'deepseek',
      model: 'deepseek-v4-flash',
      base_url: '',
    },
  },
};
