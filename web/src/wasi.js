// What a component on the page may import: an explicit allow-list per
// world, built for one component inside its worker (component-worker.js).
//
// - Every component gets the WASI a Rust `wasm32-wasip2` component needs for
//   std (STD_WASI), from @bytecodealliance/preview2-shim's browser build:
//   no environment, no arguments, stdio to the page's log, the filesystem
//   with no preopened directory (so no file can be opened).
// - `wasi:http` only for a component whose policy grants `http` hosts, and
//   then through a gate like weft-host's: the same host patterns, deny by
//   default; a denied request is an error value for the guest and a `denied`
//   event on the page, and never reaches the network. The page holds no
//   secrets, so a request carrying a `{{secret:NAME}}` placeholder is refused.
// - The Weft interfaces of the component's world (wit/worlds.wit).
// - Nothing else: `wasi:sockets` is never offered. A component importing an
//   interface it is not given fails to instantiate with a message naming it.

import { createCli } from './shim/cli.js';
import { monotonicClock, wallClock } from './shim/clocks.js';
import { types as filesystemTypes } from './shim/filesystem.js';
import { outgoingHandler, types as httpTypes } from './shim/http.js';
import { error, poll, streams } from './shim/io.js';
import { insecure, insecureSeed, random } from './shim/random.js';
import { hostMatches, splitHostPort } from './policy.js';

/** The WASI interfaces every component gets: what Rust's std needs. */
export const STD_WASI = Object.freeze([
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
]);

/** The WASI interfaces a component gets only when its policy grants `http` hosts. */
export const HTTP_WASI = Object.freeze(['wasi:http/types', 'wasi:http/outgoing-handler']);

/** The Weft interfaces each world imports (wit/worlds.wit). */
export const WORLDS = Object.freeze({
  'agent-plugin': Object.freeze([
    'weft:plugins/model',
    'weft:plugins/toolbox',
    'weft:plugins/approval',
    'weft:plugins/logging',
    'weft:plugins/state',
    'weft:plugins/clock',
    'weft:plugins/config',
  ]),
  'tool-plugin': Object.freeze(['weft:plugins/logging', 'weft:plugins/state', 'weft:plugins/config']),
  'model-plugin': Object.freeze(['weft:plugins/logging', 'weft:plugins/config', 'weft:plugins/model']),
});

/** Every interface a component of `world` with `policy` may import. */
export function allowedInterfaces(world, policy) {
  if (!(world in WORLDS)) throw new Error(`unknown world \`${world}\` (known: ${Object.keys(WORLDS).join(', ')})`);
  return [...STD_WASI, ...(policy.http.length > 0 ? HTTP_WASI : []), ...WORLDS[world]];
}

/** Why `key` is not offered, for the instantiation error. */
function notOffered(who, world, key) {
  const what = `${who} imports \`${key}\`, which the page does not give it`;
  if (key.startsWith('wasi:http/')) {
    return `${what}: \`wasi:http\` is given only to a component whose policy grants \`http\` hosts (add them to its \`policy.http\` in copilot.config.js)`;
  }
  if (key.startsWith('wasi:sockets/')) {
    return `${what}: the page never offers \`wasi:sockets\`; components reach the network only through \`wasi:http\`, as their policy allows`;
  }
  if (key.startsWith('weft:plugins/')) return `${what}: it is not part of the \`${world}\` world`;
  return `${what}: only the WASI a Rust std component needs, and the interfaces of its world, are offered`;
}

/** A stdio stream that hands complete lines (cut at 4 KiB) to `onLine`. */
function lineStream(onLine) {
  const decoder = new TextDecoder();
  let pending = '';
  const emit = (line) => onLine(line.length > 4096 ? `${line.slice(0, 4096)}…` : line);
  const flush = () => {
    pending += decoder.decode();
    if (pending) emit(pending);
    pending = '';
  };
  return {
    write(contents) {
      pending += decoder.decode(contents, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) emit(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (pending.length > 4096) flush();
    },
    flush,
    blockingFlush: flush,
    drop: flush,
  };
}

const DEFAULT_PORTS = { 'http:': 80, 'https:': 443 };

/**
 * Why an outgoing request may not leave, or null: `{ code, reason }`, where
 * `code` is the wasi:http `error-code` the guest gets.
 */
export function requestVerdict(who, patterns, { scheme, authority, headers }) {
  const protocol = scheme === undefined ? 'https:' : { HTTP: 'http:', HTTPS: 'https:' }[scheme.tag];
  if (!protocol) {
    const reason = `${who} may only use http and https, not \`${scheme.val ?? scheme.tag}\``;
    return { code: { tag: 'HTTP-request-denied' }, reason };
  }
  if (!authority) return { code: { tag: 'HTTP-request-URI-invalid' }, reason: `${who} sent a request without a host` };
  const { host, port = DEFAULT_PORTS[protocol] } = splitHostPort(authority);
  if (!patterns.some((p) => hostMatches(p, host, port))) {
    return { code: { tag: 'HTTP-request-denied' }, reason: `${who} may not connect to ${host}:${port} (not in its \`http\` policy)` };
  }
  for (const [name, value] of headers) {
    const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
    const at = text.indexOf('{{secret:');
    if (at >= 0) {
      const secret = text.slice(at + '{{secret:'.length).split('}}')[0].slice(0, 64);
      const reason =
        `${who} put the secret placeholder \`{{secret:${secret}}}\` in header \`${name}\`; ` +
        'a web page holds no secrets, so requests that need one are refused (a tool that needs one runs under the native host, `weft run`)';
      return { code: { tag: 'internal-error', val: reason }, reason };
    }
  }
  return null;
}

/** `wasi:http/outgoing-handler` behind the policy's gate. */
function gatedOutgoingHandler(who, patterns, onDenied) {
  return {
    handle(request, options) {
      const verdict = requestVerdict(who, patterns, {
        scheme: request.scheme(),
        authority: request.authority(),
        headers: request.headers().entries(),
      });
      if (verdict) {
        onDenied(verdict.reason);
        throw verdict.code;
      }
      return outgoingHandler.handle(request, options);
    },
  };
}

/**
 * The import object for one component: the allow-list of its world and
 * policy, and nothing else. `weft` holds the Weft interfaces the worker
 * serves; `onOutput(stream, line)` gets stdout and stderr lines,
 * `onDenied(reason)` each refused request.
 */
export function componentImports({ who, world, policy, weft, onOutput, onDenied }) {
  const cli = createCli({
    stdout: lineStream((line) => onOutput('stdout', line)),
    stderr: lineStream((line) => onOutput('stderr', line)),
  });
  const available = {
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': cli.exit,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:clocks/monotonic-clock': monotonicClock,
    'wasi:clocks/wall-clock': wallClock,
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': filesystemTypes,
    'wasi:io/error': error,
    'wasi:io/poll': poll,
    'wasi:io/streams': streams,
    'wasi:random/random': random,
    'wasi:random/insecure': insecure,
    'wasi:random/insecure-seed': insecureSeed,
    'wasi:http/types': httpTypes,
    'wasi:http/outgoing-handler': gatedOutgoingHandler(who, policy.http, onDenied),
    ...weft,
  };
  const offered = {};
  for (const key of allowedInterfaces(world, policy)) {
    if (key in available) offered[key] = available[key];
  }
  return new Proxy(offered, {
    get(target, key) {
      if (typeof key !== 'string' || Object.hasOwn(target, key)) return target[key];
      throw new Error(notOffered(who, world, key));
    },
  });
}
