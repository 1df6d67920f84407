// The page's policy (web/src/policy.js) against weft-host's: the same host
// patterns (the cases of crates/weft-host/src/policy.rs's tests), the same
// deny-by-default, and clear errors for fields a page cannot honour.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPolicy, DEFAULT_LIMITS, granted, hostMatches, patternToCspSource } from '../src/policy.js';
import { connectSources, contentSecurityPolicy } from '../serve.mjs';

test('host patterns match as natively', () => {
  assert.ok(hostMatches('api.example.com', 'api.example.com', 443));
  assert.ok(hostMatches('API.example.com', 'api.example.com', undefined));
  assert.ok(!hostMatches('api.example.com', 'evil.com', 443));
  assert.ok(hostMatches('*.example.com', 'a.b.example.com', undefined));
  assert.ok(!hostMatches('*.example.com', 'example.com', undefined));
  assert.ok(!hostMatches('*.example.com', 'badexample.com', undefined));
  assert.ok(hostMatches('127.0.0.1:8080', '127.0.0.1', 8080));
  assert.ok(!hostMatches('127.0.0.1:8080', '127.0.0.1', 9090));
  assert.ok(hostMatches('[::1]:80', '[::1]', 80));
  assert.ok(!hostMatches('127.0.0.1', '127.0.0.1', 9090), 'a pattern without a port allows only the default ports');
  assert.ok(hostMatches('api.example.com', 'api.example.com', 80));
  assert.ok(!hostMatches('*.example.com', 'a.example.com', 22));
  assert.ok(!hostMatches('api.example.com', 'api.example.com.evil.com', 443));
});

test('deny by default, with the native defaults', () => {
  const p = checkPolicy({});
  assert.deepEqual(p, { tools: [], approve: [], http: [], limits: DEFAULT_LIMITS });
  assert.ok(!granted(p.tools, 'x'));
  assert.ok(granted(['*'], 'x'));
  assert.equal(checkPolicy({ limits: { 'timeout-ms': 500 } }).limits['timeout-ms'], 500);
  assert.equal(checkPolicy({ limits: { 'timeout-ms': 500 } }).limits['max-output-kb'], 1024);
});

test('fields a page cannot honour, unknown fields and bad values are refused, naming them', () => {
  const refused = (policy, pattern) => assert.throws(() => checkPolicy(policy, 'tool `t`'), pattern);
  refused({ secrets: [{ name: 'K', hosts: ['x.com'] }] }, /the policy of tool `t` in copilot.config.js: `secrets` is not supported on the page: a web page holds no secrets/);
  refused({ env: ['HOME'] }, /`env` is not supported on the page/);
  refused({ dirs: [] }, /`dirs` is not supported on the page/);
  refused({ htp: [] }, /unknown field `htp`/);
  refused({ http: ['https://x.com/'] }, /`https:\/\/x.com\/` is not a host pattern/);
  refused({ http: 'x.com' }, /`http` must be a list of strings/);
  refused({ limits: { 'timeout-ms': 0 } }, /`limits.timeout-ms` must be a whole number of at least 1/);
  refused({ limits: { fuel: 10 } }, /`limits.fuel` is not supported on the page/);
  refused({ limits: { 'timeout-sec': 1 } }, /unknown limit `timeout-sec`/);
});

test("connect-src holds the configured providers and the tools' granted hosts", () => {
  assert.equal(patternToCspSource('api.example.com'), 'api.example.com');
  assert.equal(patternToCspSource('127.0.0.1:8080'), '127.0.0.1:8080');
  assert.equal(patternToCspSource('*.example.org'), '*.example.org');
  const config = {
    connect: ['https://api.deepseek.com'],
    tools: [{ name: 'a', policy: { http: ['api.github.com', '127.0.0.1:8080'] } }, { name: 'b' }],
  };
  assert.deepEqual(connectSources(config), ['https://api.deepseek.com', 'api.github.com', '127.0.0.1:8080']);
  assert.match(contentSecurityPolicy(connectSources(config)), /connect-src 'self' https:\/\/api.deepseek.com api.github.com 127.0.0.1:8080;/);
  assert.throws(() => contentSecurityPolicy(["x.com; script-src *"]), /is not a CSP source/);
});
