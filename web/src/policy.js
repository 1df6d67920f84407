// A component's policy on the page: the fields of weft.toml's `policy`
// (crates/weft-host/src/policy.rs) that make sense in a browser, with the
// same names and defaults. Deny by default.
//
//   tools   = ["extract_entities"]                 an agent's callable tools ("*" = all)
//   approve = ["fetch"]                            tools that need a person's approval
//   http    = ["api.example.com", "*.example.org", "127.0.0.1:8080"]
//   limits  = { "timeout-ms": 30000, "max-output-kb": 1024, "max-state-kb": 1024 }
//
// The page has no environment, no directories and no secrets to hand out,
// so `env`, `dirs` and `secrets` are refused with a message saying so, as is
// any field the page does not know.

const FIELDS = new Set(['tools', 'approve', 'http', 'limits']);
const NOT_ON_THE_PAGE = {
  env: 'a web page has no environment variables to give',
  dirs: 'a web page has no host directories to preopen',
  secrets: 'a web page holds no secrets (an API key typed into the page stays in the model worker)',
  'memory-mb': 'the browser gives no per-component memory cap',
  fuel: 'the browser has no fuel metering; `timeout-ms` bounds a call',
};

/** The page's defaults, as natively (`Limits::default`). */
export const DEFAULT_LIMITS = Object.freeze({ 'timeout-ms': 30_000, 'max-output-kb': 1024, 'max-state-kb': 1024 });

/** Whether `name` is in a policy list (`"*"` grants all). */
export const granted = (list = [], name) => list.includes('*') || list.includes(name);

/**
 * Splits a pattern or authority into host and port: `[::1]:8080`,
 * `host:8080`, `host`, `::1` (a bare IPv6 address has several colons).
 */
export function splitHostPort(text) {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close > 0) {
      const rest = text.slice(close + 1);
      return { host: text.slice(1, close), port: rest.startsWith(':') ? portOf(rest.slice(1)) : undefined };
    }
  }
  const colon = text.lastIndexOf(':');
  if (colon >= 0 && !text.slice(0, colon).includes(':')) {
    const port = portOf(text.slice(colon + 1));
    if (port !== undefined) return { host: text.slice(0, colon), port };
  }
  return { host: text, port: undefined };
}

function portOf(text) {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/**
 * Matches `host` (and `port`) against a pattern `host`, `host:port` or
 * `*.domain`, exactly as weft-host's `host_matches`: a pattern without a
 * port allows only the default ports (443 and 80); host names compare
 * case-insensitively.
 */
export function hostMatches(pattern, host, port) {
  const bare = host.replace(/^\[/, '').replace(/\]$/, '');
  const { host: patternHost, port: patternPort } = splitHostPort(pattern);
  if (patternPort !== undefined && patternPort !== port) return false;
  if (patternPort === undefined && ![undefined, 80, 443].includes(port)) return false;
  const wanted = patternHost.replace(/^\[/, '').replace(/\]$/, '');
  if (wanted === '*') return true;
  if (wanted.startsWith('*.')) {
    const domain = wanted.slice(2);
    return (
      bare.length > domain.length + 1 && bare.endsWith(domain) && bare[bare.length - domain.length - 1] === '.'
    );
  }
  return wanted.toLowerCase() === bare.toLowerCase();
}

/**
 * Checks a page policy and fills in the default limits. Throws an error
 * naming `who` and the problem; returns `{ tools, approve, http, limits }`.
 */
export function checkPolicy(policy = {}, who = 'a component') {
  const fail = (problem) => {
    throw new Error(`the policy of ${who} in copilot.config.js: ${problem}`);
  };
  for (const key of Object.keys(policy)) {
    if (key in NOT_ON_THE_PAGE) fail(`\`${key}\` is not supported on the page: ${NOT_ON_THE_PAGE[key]}`);
    if (!FIELDS.has(key)) fail(`unknown field \`${key}\` (known: ${[...FIELDS].join(', ')})`);
  }
  const list = (key) => {
    const value = policy[key] ?? [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail(`\`${key}\` must be a list of strings`);
    return value;
  };
  const http = list('http');
  for (const pattern of http) {
    if (!pattern || pattern.includes('/') || pattern.includes('://')) {
      fail(`\`${pattern}\` is not a host pattern (use \`host\`, \`host:port\` or \`*.domain\`, without a scheme or path)`);
    }
  }
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(policy.limits ?? {})) {
    if (key in NOT_ON_THE_PAGE) fail(`\`limits.${key}\` is not supported on the page: ${NOT_ON_THE_PAGE[key]}`);
    if (!(key in DEFAULT_LIMITS)) fail(`unknown limit \`${key}\` (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (!Number.isSafeInteger(value) || value < 1) fail(`\`limits.${key}\` must be a whole number of at least 1`);
    limits[key] = value;
  }
  return { tools: list('tools'), approve: list('approve'), http, limits };
}

/**
 * A host pattern as a Content-Security-Policy source for `connect-src`:
 * a pattern without a port stays without one, so it allows only the
 * scheme's default port, as `hostMatches` does.
 */
export function patternToCspSource(pattern) {
  return pattern;
}
