//! Per-component capability policy: deny by default, granted in TOML.
//!
//! ```toml
//! tools = ["count_words", "extract_entities"] # an agent's callable tools ("*" = all)
//! approve = ["fetch"]                         # tools that need human approval
//! http = ["api.example.com", "*.example.org", "127.0.0.1:8080"]
//! env = ["LANG", "REGION=eu-west"]            # copy from the host, or set a value
//! dirs = [{ host = "./docs", guest = "/docs" }, { host = "./out", guest = "/out", writable = true }]
//! secrets = [{ name = "EXAMPLE_KEY", hosts = ["api.example.com"] }]
//! limits = { memory-mb = 64, timeout-ms = 30000, fuel = 1000000000, max-output-kb = 1024 }
//! ```
//!
//! Secrets are never placed in guest memory: a component writes the
//! placeholder `{{secret:NAME}}` into an outgoing HTTP header value and the
//! host substitutes the value as the request leaves, only for granted
//! secrets and only towards the hosts listed for them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What one component may do. Everything not granted here is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Tools an agent may call, by name; `"*"` allows every installed tool.
    pub tools: Vec<String>,
    /// Tools whose calls need human approval first; `"*"` means all.
    pub approve: Vec<String>,
    /// Hosts the component may reach through `wasi:http`: `host`,
    /// `host:port`, or `*.domain` for any subdomain.
    pub http: Vec<String>,
    /// Environment variables the component sees: `NAME` copies the host's
    /// value (if set), `NAME=value` sets one.
    pub env: Vec<String>,
    /// Host directories preopened for the component.
    pub dirs: Vec<DirGrant>,
    /// Named secrets the host may inject into this component's requests.
    pub secrets: Vec<SecretGrant>,
    /// Resource limits.
    pub limits: Limits,
}

/// A host directory made visible to a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DirGrant {
    /// The directory on the host (relative to the configuration file).
    pub host: PathBuf,
    /// Where the component sees it.
    pub guest: String,
    /// Whether the component may write; read-only by default.
    #[serde(default)]
    pub writable: bool,
}

/// Permission to use one named secret towards some hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretGrant {
    /// The secret's name, as in `{{secret:NAME}}`.
    pub name: String,
    /// Hosts the secret may be sent to (same patterns as `http`).
    pub hosts: Vec<String>,
}

/// Resource limits for one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Linear memory cap in MiB.
    pub memory_mb: u32,
    /// Wall-clock limit per call in milliseconds (for an agent: the whole
    /// run, model time included).
    pub timeout_ms: u64,
    /// Optional fuel budget per call (instruction-count based CPU limit).
    pub fuel: Option<u64>,
    /// Largest result a tool may return, in KiB.
    pub max_output_kb: u32,
    /// Largest total size of this component's key-value state, in KiB.
    pub max_state_kb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 64,
            timeout_ms: 30_000,
            fuel: None,
            max_output_kb: 1024,
            max_state_kb: 1024,
        }
    }
}

impl Policy {
    /// Whether the agent may call `tool`.
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == "*" || t == tool)
    }

    /// Whether calls to `tool` need approval.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.approve.iter().any(|t| t == "*" || t == tool)
    }

    /// Whether an HTTP request to `host` (with `port`) is allowed.
    pub fn allows_http(&self, host: &str, port: Option<u16>) -> bool {
        self.http.iter().any(|p| host_matches(p, host, port))
    }

    /// The grant for secret `name`, if any.
    pub fn secret(&self, name: &str) -> Option<&SecretGrant> {
        self.secrets.iter().find(|s| s.name == name)
    }

    /// Checks internal consistency; returns a message naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        for pattern in self
            .http
            .iter()
            .chain(self.secrets.iter().flat_map(|s| &s.hosts))
        {
            if pattern.is_empty() || pattern.contains('/') || pattern.contains("://") {
                return Err(format!(
                    "`{pattern}` is not a host pattern (use `host`, `host:port` or `*.domain`, without a scheme or path)"
                ));
            }
        }
        for e in &self.env {
            let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n);
            if name.is_empty() {
                return Err(format!("env entry `{e}` has no variable name"));
            }
        }
        if self.limits.memory_mb == 0 {
            return Err("limits.memory-mb must be at least 1".into());
        }
        if self.limits.timeout_ms == 0 {
            return Err("limits.timeout-ms must be at least 1".into());
        }
        Ok(())
    }
}

/// Matches `host[:port]` against a pattern `host`, `host:port` or `*.domain`.
pub fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (pat_host, pat_port) = split_host_port(pattern);
    if let Some(pp) = pat_port
        && Some(pp) != port
    {
        return false;
    }
    let pat_host = pat_host.trim_start_matches('[').trim_end_matches(']');
    if pat_host == "*" {
        return true;
    }
    if let Some(domain) = pat_host.strip_prefix("*.") {
        return host.len() > domain.len() + 1
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.';
    }
    pat_host.eq_ignore_ascii_case(host)
}

fn split_host_port(pattern: &str) -> (&str, Option<u16>) {
    // `[::1]:8080`, `host:8080`, `host`, `::1` (bare IPv6 has several colons).
    if let Some(rest) = pattern.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        return (h, p.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match pattern.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (pattern, None),
        },
        _ => (pattern, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert!(host_matches(
            "api.example.com",
            "api.example.com",
            Some(443)
        ));
        assert!(host_matches("API.example.com", "api.example.com", None));
        assert!(!host_matches("api.example.com", "evil.com", Some(443)));
        assert!(host_matches("*.example.com", "a.b.example.com", None));
        assert!(!host_matches("*.example.com", "example.com", None));
        assert!(!host_matches("*.example.com", "badexample.com", None));
        assert!(host_matches("127.0.0.1:8080", "127.0.0.1", Some(8080)));
        assert!(!host_matches("127.0.0.1:8080", "127.0.0.1", Some(9090)));
        assert!(host_matches("[::1]:80", "[::1]", Some(80)));
    }

    #[test]
    fn deny_by_default() {
        let p = Policy::default();
        assert!(!p.allows_tool("x"));
        assert!(!p.allows_http("example.com", Some(443)));
        assert!(p.secret("K").is_none());
        assert!(p.env.is_empty() && p.dirs.is_empty());
    }

    #[test]
    fn parses_toml_and_rejects_unknown_keys() {
        let p: Policy = toml::from_str(
            r#"tools = ["*"]
               http = ["example.com"]
               limits = { memory-mb = 16, timeout-ms = 500 }"#,
        )
        .unwrap();
        assert!(p.allows_tool("anything"));
        assert_eq!(p.limits.memory_mb, 16);
        assert_eq!(p.limits.max_output_kb, 1024);
        let err = toml::from_str::<Policy>("htp = []")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `htp`"), "{err}");
        let bad = Policy {
            http: vec!["https://x.com/".into()],
            ..Policy::default()
        };
        assert!(bad.validate().unwrap_err().contains("not a host pattern"));
    }
}
