//! Per-component capability policy: deny by default, granted in TOML.
//!
//! ```toml
//! tools = ["count_words", "extract_entities"] # an agent's callable tools ("*" = all)
//! approve = ["fetch"]                         # tools that need human approval
//! http = ["api.example.com", "*.example.org", "127.0.0.1:8080", "10.20.0.0/16"]
//! env = ["LANG", "REGION=eu-west"]            # copy from the host, or set a value
//! dirs = [{ host = "./docs", guest = "/docs" }, { host = "./out", guest = "/out", writable = true }]
//! secrets = [{ name = "EXAMPLE_KEY", hosts = ["api.example.com"], headers = ["x-api-key"] }]
//! limits = { memory-mb = 64, timeout-ms = 30000, fuel = 1000000000, max-output-kb = 1024 }
//! ```
//!
//! **Hosts.** A pattern without a port allows only the default ports (443
//! and 80). A granted name must resolve to a public address: loopback,
//! private, link-local, shared (CGNAT) and unique-local addresses are
//! refused unless the policy names them explicitly, as an IP literal
//! (`127.0.0.1:8080`), as `localhost`, or inside a CIDR range
//! (`10.20.0.0/16`). The host connects to the very address it checked, so a
//! DNS answer cannot change between the check and the connection.
//!
//! **Secrets** are never placed in guest memory: a component writes the
//! placeholder `{{secret:NAME}}` into an outgoing HTTP header value and the
//! host substitutes the value as the request leaves, only for granted
//! secrets, only in the headers granted for them (`authorization` unless
//! `headers` says otherwise), only towards the hosts listed for them, and
//! only over `https` (plain `http` only to a loopback address, for tests). A
//! response that contains a substituted value has it replaced by its
//! placeholder before the guest sees it, in headers and body alike.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
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
    /// `host:port`, `*.domain` for any subdomain, or a CIDR range
    /// (`10.0.0.0/8`) of non-public addresses it may connect to.
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
    /// Request headers the secret may be substituted into, by name
    /// (case-insensitive); `authorization` when not given.
    #[serde(default = "default_secret_headers")]
    pub headers: Vec<String>,
}

fn default_secret_headers() -> Vec<String> {
    vec!["authorization".into()]
}

impl SecretGrant {
    /// A grant of `name` towards `hosts`, in the `authorization` header.
    pub fn new(name: impl Into<String>, hosts: Vec<String>) -> Self {
        SecretGrant {
            name: name.into(),
            hosts,
            headers: default_secret_headers(),
        }
    }

    /// Whether the secret may go into the header `name`.
    pub fn allows_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// Resource limits for one component.
///
/// Everything a component can make the host hold is bounded here: its
/// linear memories, its log lines, its state, its resource-table entries
/// (streams, pollables, HTTP objects), the HTTP header bytes it holds and its
/// concurrent outgoing requests. Hitting a limit ends the call with an
/// error that names the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Linear memory cap in MiB, for all of the component's memories
    /// together.
    pub memory_mb: u32,
    /// Wall-clock limit per call in milliseconds, whatever the call waits
    /// on (a sleep, HTTP, a model, a nested tool). For an agent it is the
    /// whole run, model and tool time included.
    pub timeout_ms: u64,
    /// Optional fuel budget per call (instruction-count based CPU limit).
    pub fuel: Option<u64>,
    /// Largest result a tool may return, in KiB; an error message counts
    /// too.
    pub max_output_kb: u32,
    /// Largest total size of this component's key-value state, in KiB.
    pub max_state_kb: u32,
    /// Log bytes the component may write in one session (one run), in KiB.
    pub max_log_kb: u32,
    /// Resource-table entries the component may hold at once (streams,
    /// pollables, HTTP requests, responses and header maps, model streams).
    pub max_resources: u32,
    /// Outgoing HTTP requests the component may have open at once.
    pub max_http_requests: u32,
    /// HTTP header bytes the component may hold at once, in KiB, over all
    /// its `wasi:http` header maps and requests; one header map holds at
    /// most 16 KiB.
    pub max_http_headers_kb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 64,
            timeout_ms: 30_000,
            fuel: None,
            max_output_kb: 1024,
            max_state_kb: 1024,
            max_log_kb: 1024,
            max_resources: 256,
            max_http_requests: 8,
            max_http_headers_kb: 1024,
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
        self.http
            .iter()
            .filter(|p| !is_cidr(p))
            .any(|p| host_matches(p, host, port))
    }

    /// Whether a request for `host` may connect to the resolved address
    /// `ip`: any public address, or a non-public one the policy names
    /// explicitly (an IP-literal pattern, `localhost` for loopback, or a
    /// CIDR range).
    pub fn allows_address(&self, host: &str, ip: IpAddr, port: Option<u16>) -> bool {
        let ip = canonical_ip(ip);
        if is_public(ip) {
            return true;
        }
        self.http.iter().any(|pattern| {
            if let Some(range) = Cidr::parse(pattern) {
                return range.contains(ip);
            }
            if !host_matches(pattern, host, port) {
                return false;
            }
            let (pat_host, _) = split_host_port(pattern);
            let pat_host = pat_host.trim_start_matches('[').trim_end_matches(']');
            match pat_host.parse::<IpAddr>() {
                Ok(literal) => canonical_ip(literal) == ip,
                Err(_) => pat_host.eq_ignore_ascii_case("localhost") && ip.is_loopback(),
            }
        })
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
            if pattern.contains('/') && !pattern.contains("://") && Cidr::parse(pattern).is_some() {
                continue;
            }
            if pattern.is_empty() || pattern.contains('/') || pattern.contains("://") {
                return Err(format!(
                    "`{pattern}` is not a host pattern (use `host`, `host:port`, `*.domain` or a CIDR range like `10.0.0.0/8`, without a scheme or path)"
                ));
            }
        }
        for grant in &self.secrets {
            if grant.headers.is_empty() {
                return Err(format!(
                    "secret `{}` names no header it may be sent in",
                    grant.name
                ));
            }
            if let Some(bad) = grant
                .headers
                .iter()
                .find(|h| http::HeaderName::from_bytes(h.as_bytes()).is_err())
            {
                return Err(format!(
                    "secret `{}`: `{bad}` is not a header name",
                    grant.name
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
        if self.limits.max_resources < 16 {
            return Err(
                "limits.max-resources must be at least 16 (WASI's own streams need a few)".into(),
            );
        }
        Ok(())
    }
}

/// Matches `host[:port]` against a pattern `host`, `host:port` or `*.domain`.
/// A pattern without a port matches only the default ports (443 and 80),
/// or no port at all.
pub fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (pat_host, pat_port) = split_host_port(pattern);
    match pat_port {
        Some(pp) if Some(pp) != port => return false,
        None if !matches!(port, None | Some(80) | Some(443)) => return false,
        _ => {}
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

fn is_cidr(pattern: &str) -> bool {
    Cidr::parse(pattern).is_some()
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT, 100.64/10), unique-local, unspecified,
/// broadcast, multicast, documentation or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64
        }
    }
}

/// A CIDR range such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(pattern: &str) -> Option<Self> {
        let (addr, prefix) = pattern.split_once('/')?;
        let network: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Cidr { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
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
        // Without a port, only the default ports.
        assert!(host_matches("api.example.com", "api.example.com", Some(80)));
        assert!(!host_matches(
            "api.example.com",
            "api.example.com",
            Some(8080)
        ));
        assert!(!host_matches("*.example.com", "a.example.com", Some(22)));
    }

    #[test]
    fn non_public_addresses_need_an_explicit_grant() {
        let p = Policy {
            http: vec![
                "api.example.com".into(),
                "127.0.0.1:8080".into(),
                "localhost:9000".into(),
                "10.20.0.0/16".into(),
            ],
            ..Policy::default()
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A granted name resolving to a public address is fine; to loopback,
        // link-local (cloud metadata) or private, it is not.
        assert!(p.allows_address("api.example.com", ip("93.184.216.34"), Some(443)));
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "192.168.1.1",
            "::1",
            "::ffff:127.0.0.1",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(
                !p.allows_address("api.example.com", ip(bad), Some(443)),
                "{bad}"
            );
        }
        // An IP literal or `localhost` names itself; a CIDR range grants its addresses.
        assert!(p.allows_address("127.0.0.1", ip("127.0.0.1"), Some(8080)));
        assert!(!p.allows_address("127.0.0.1", ip("127.0.0.1"), Some(8081)));
        assert!(p.allows_address("localhost", ip("127.0.0.1"), Some(9000)));
        assert!(p.allows_address("localhost", ip("::1"), Some(9000)));
        assert!(p.allows_address("api.example.com", ip("10.20.3.4"), Some(443)));
        assert!(!p.allows_address("api.example.com", ip("10.21.3.4"), Some(443)));
        // A CIDR range is not a host pattern: it grants no names.
        assert!(!p.allows_http("10.20.0.0/16", Some(443)));
        assert!(p.validate().is_ok());
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
        let g: SecretGrant = toml::from_str("name = 'K'\nhosts = ['x.com']").unwrap();
        assert!(g.allows_header("Authorization") && !g.allows_header("x-api-key"));
    }
}
