//! The `wasi:http` gate: every outgoing request of a component passes
//! [`HttpGate`], which enforces its `http` and `secrets` policy, bounds
//! what the request may hold and how long it may take, and sends it
//! itself ([`connect`]) so that the address checked is the address used.
//!
//! In order, for each request:
//! 1. `TRACE` and `CONNECT` are refused (a `TRACE` echoes the request,
//!    secrets included);
//! 2. the host and port must match the component's `http` patterns;
//! 3. at most `limits.max-http-requests` requests may be open at once;
//! 4. `{{secret:NAME}}` placeholders are substituted, only for granted
//!    secrets, only in the headers their grant names, only towards their
//!    hosts and only over `https` (or plain `http` to loopback);
//! 5. the guest's own timeouts are clamped to what is left of its call's
//!    deadline;
//! 6. the name is resolved and only permitted addresses are connected to
//!    (public ones, or what the policy names explicitly);
//! 7. the response has every substituted secret replaced by its
//!    placeholder, in headers and body ([`redact`]).

mod connect;
mod redact;

use crate::limits::{Deadline, Usage};
use crate::observe::{Event, Observer};
use crate::secrets::SecretStore;
use crate::store::ComponentInfo;
use connect::{Target, Timeouts};
use redact::Redactor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// The placeholder's opening, as components write it.
const PLACEHOLDER: &str = "{{secret:";

/// Enforces one component's HTTP policy on its outgoing requests.
pub(crate) struct HttpGate {
    info: Arc<ComponentInfo>,
    secrets: Arc<SecretStore>,
    observer: Arc<dyn Observer>,
    usage: Arc<Usage>,
    open: Arc<tokio::sync::Semaphore>,
    /// The deadline of the guest call in progress.
    pub deadline: Option<Deadline>,
}

/// A request that passed the policy.
struct Authorized {
    target: Target,
    substituted: Vec<(String, String)>,
    permit: tokio::sync::OwnedSemaphorePermit,
}

impl HttpGate {
    /// A gate for the component `info`.
    pub fn new(
        info: Arc<ComponentInfo>,
        secrets: Arc<SecretStore>,
        observer: Arc<dyn Observer>,
        usage: Arc<Usage>,
    ) -> Self {
        let open = Arc::new(tokio::sync::Semaphore::new(
            info.policy.limits.max_http_requests as usize,
        ));
        HttpGate {
            info,
            secrets,
            observer,
            usage,
            open,
            deadline: None,
        }
    }

    fn deny(&self, reason: String, error: Error) -> Error {
        deny(&self.info.name, self.observer.as_ref(), reason);
        error
    }

    fn authorize(&self, request: &mut http::Request<WasiBody>) -> Result<Authorized, Error> {
        let name = &self.info.name;
        let method = request.method().clone();
        if method == http::Method::TRACE || method == http::Method::CONNECT {
            return Err(self.deny(
                format!(
                    "`{name}` may not send {method} requests (they echo or tunnel the request)"
                ),
                Error::HttpRequestMethodInvalid,
            ));
        }
        let uri = request.uri().clone();
        let tls = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let policy = &self.info.policy;
        if !policy.allows_http(&host, Some(port)) {
            return Err(self.deny(
                format!("`{name}` may not connect to {host}:{port} (not in its `http` policy)"),
                Error::HttpRequestDenied,
            ));
        }
        let permit = self.open.clone().try_acquire_owned().map_err(|_| {
            self.deny(
                format!(
                    "`{name}` already has {} requests open, its limit (limits.max-http-requests)",
                    policy.limits.max_http_requests
                ),
                Error::ConnectionLimitReached,
            )
        })?;
        let open = policy.limits.max_http_requests as usize - self.open.available_permits();
        self.usage.http_request(open);
        let target = Target { host, port, tls };
        let substituted = self.substitute_secrets(request, &target)?;
        Ok(Authorized {
            target,
            substituted,
            permit,
        })
    }

    /// Replaces the placeholders in every header; returns the values put
    /// in, with their names.
    fn substitute_secrets(
        &self,
        request: &mut http::Request<WasiBody>,
        target: &Target,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut used = Vec::new();
        for (header, value) in request.headers_mut().iter_mut() {
            let Ok(text) = value.to_str() else { continue };
            if !text.contains(PLACEHOLDER) {
                continue;
            }
            let replaced = self.substitute(text, header.as_str(), target, &mut used)?;
            *value = http::HeaderValue::from_str(&replaced).map_err(|_| {
                self.deny(
                    "a secret is not a valid header value".into(),
                    Error::HttpRequestDenied,
                )
            })?;
            value.set_sensitive(true);
        }
        Ok(used)
    }

    fn substitute(
        &self,
        text: &str,
        header: &str,
        target: &Target,
        used: &mut Vec<(String, String)>,
    ) -> Result<String, Error> {
        let component = &self.info.name;
        let denied = |reason: String| self.deny(reason, Error::HttpRequestDenied);
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(PLACEHOLDER) {
            out.push_str(&rest[..start]);
            let after = &rest[start + PLACEHOLDER.len()..];
            let Some(end) = after.find("}}") else {
                return Err(denied("unterminated `{{secret:` placeholder".into()));
            };
            let name = &after[..end];
            let grant = self.info.policy.secret(name).ok_or_else(|| {
                denied(format!("`{component}` is not granted the secret `{name}`"))
            })?;
            if !grant.allows_header(header) {
                return Err(denied(format!(
                    "`{component}` may not send the secret `{name}` in the header `{header}` (its grant allows: {})",
                    grant.headers.join(", ")
                )));
            }
            if !grant
                .hosts
                .iter()
                .any(|p| crate::policy::host_matches(p, &target.host, Some(target.port)))
            {
                return Err(denied(format!(
                    "`{component}` may not send the secret `{name}` to {}:{}",
                    target.host, target.port
                )));
            }
            if !target.tls && !is_loopback_host(&target.host) {
                return Err(denied(format!(
                    "the secret `{name}` is sent only over https, not in plain text to http://{}:{}",
                    target.host, target.port
                )));
            }
            let value = self.secrets.get(name).ok_or_else(|| {
                denied(format!(
                    "the secret `{name}` has no value configured on the host"
                ))
            })?;
            out.push_str(value.expose());
            used.push((value.expose().to_string(), name.to_string()));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The guest's timeouts, none longer than what is left of its call.
    fn timeouts(&self, options: Option<RequestOptions>) -> Timeouts {
        let left = self
            .deadline
            .map(|d| d.at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(self.info.policy.limits.timeout_ms));
        let clamp = |asked: Option<Duration>| asked.map_or(left, |a| a.min(left));
        let options = options.unwrap_or_default();
        Timeouts {
            connect: clamp(options.connect_timeout),
            first_byte: clamp(options.first_byte_timeout),
            between_bytes: clamp(options.between_bytes_timeout),
        }
    }
}

/// Logs and reports a refusal.
fn deny(component: &str, observer: &dyn Observer, reason: String) {
    tracing::warn!(%component, %reason, "outgoing request denied");
    observer.event(&Event::Denied {
        component: component.to_string(),
        reason,
    });
}

/// Whether `host` is a loopback IP literal or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl wasmtime_wasi_http::WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        _ = fut;
        let verdict = self.authorize(&mut request);
        let timeouts = self.timeouts(options);
        let info = self.info.clone();
        let observer = self.observer.clone();
        Box::new(async move {
            let Authorized {
                target,
                substituted,
                permit,
            } = verdict?;
            let policy = &info.policy;
            let addresses = match connect::resolve(&target, timeouts.connect, |ip| {
                policy.allows_address(&target.host, ip, Some(target.port))
            })
            .await
            {
                Ok(addresses) => addresses,
                Err(Err(e)) => return Err(e),
                Err(Ok(refused)) => {
                    let list: Vec<String> =
                        refused.addresses.iter().map(|a| a.to_string()).collect();
                    deny(
                        &info.name,
                        observer.as_ref(),
                        format!(
                            "`{}` may not connect to {} at {} (not a public address; grant it explicitly, e.g. as an IP literal or a CIDR range in `http`)",
                            info.name,
                            target.host,
                            list.join(", ")
                        ),
                    );
                    return Err(Error::DestinationIpProhibited);
                }
            };
            tracing::debug!(component = %info.name, uri = %request.uri(), "outgoing request");
            let redactor = Redactor::new(
                substituted
                    .iter()
                    .map(|(value, name)| (value.as_str(), name.as_str())),
            );
            connect::send(request, target, addresses, timeouts, redactor, permit).await
        })
    }
}
