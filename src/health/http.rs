//! `monitor = http|https`: one HTTP/1.1 request to the real server, judged by its status
//! code and, optionally, a regular expression on the start of its body.
//!
//! Health checks must see the real server itself, so redirects are never followed,
//! proxies from the environment are ignored, and no connection is reused between probes.
//! Certificates are not verified unless `tls_verify = 1`: real servers commonly carry
//! certificates for the public name, not their own address.

use std::net::IpAddr;

use regex::bytes::RegexBuilder;
use reqwest::header::{HOST, HeaderValue};
use reqwest::{Client, Method, Response, redirect};
use serde::Serialize;

use super::Target;
use super::check::{Outcome, ProbeError, Progress};
use super::expect::show;
use crate::config::model::{StatusRange, VirtualServer};

/// The most body bytes read for `http_body`; the rest of a large page is never fetched.
pub const BODY_READ_LIMIT: usize = 64 * 1024;

/// What `http_status` accepts when it is empty: any success or redirect.
const DEFAULT_STATUS: StatusRange = StatusRange {
    low: 200,
    high: 399,
};

/// An HTTP check, from `http_method`, `http_path`, `http_host`, `http_status`,
/// `http_body` and `tls_verify`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpCheck {
    /// HTTPS instead of HTTP.
    pub tls: bool,
    /// The request method (`GET`, `HEAD`, ...).
    pub method: String,
    /// The request path, with its query.
    pub path: String,
    /// The Host header (and TLS server name when it is a name); the address by default.
    pub host: Option<String>,
    /// Accepted status codes.
    pub status: Vec<StatusRange>,
    /// A regular expression the first 64 KiB of the body must match.
    pub body: Option<String>,
    /// Verify the server's certificate against the system's roots.
    pub tls_verify: bool,
}

impl HttpCheck {
    /// Reads the `http_*` and `tls_verify` keywords of `vs`.
    pub fn from_server(vs: &VirtualServer, tls: bool) -> HttpCheck {
        HttpCheck {
            tls,
            method: vs.http_method.clone(),
            path: vs.http_path.clone(),
            host: vs.http_host.clone().filter(|h| !h.is_empty()),
            status: vs.http_status.clone(),
            body: vs.http_body.clone(),
            tls_verify: vs.tls_verify,
        }
    }

    fn accepts(&self, code: u16) -> bool {
        let ranges: &[StatusRange] = if self.status.is_empty() {
            &[DEFAULT_STATUS]
        } else {
            &self.status
        };
        ranges.iter().any(|r| (r.low..=r.high).contains(&code))
    }

    fn accepted(&self) -> String {
        if self.status.is_empty() {
            return DEFAULT_STATUS.to_string();
        }
        let ranges: Vec<String> = self.status.iter().map(|r| r.to_string()).collect();
        ranges.join(" ")
    }
}

/// Sends the request to `target` and judges the response.
pub async fn probe(check: &HttpCheck, target: Target, progress: &Progress) -> Outcome {
    let body_regex = check.body.as_deref().map(compile_body).transpose()?;
    let method = Method::from_bytes(check.method.as_bytes())
        .map_err(|_| ProbeError::Config(format!("invalid HTTP method '{}'", check.method)))?;
    let server_name = server_name(check.host.as_deref());
    let url = url(check, target, server_name);
    let client = client(check, target, server_name)?;
    let mut request = client.request(method, &url);
    if let Some(host) = &check.host {
        let value = HeaderValue::from_str(host)
            .map_err(|_| ProbeError::Config(format!("invalid http_host '{host}'")))?;
        request = request.header(HOST, value);
    }
    progress.note(format!("requesting {url}"));
    let response = request.send().await.map_err(request_error)?;
    let code = response.status().as_u16();
    if !check.accepts(code) {
        return Err(ProbeError::Mismatch(format!(
            "HTTP {code}, expected {}",
            check.accepted()
        )));
    }
    let Some(regex) = body_regex else {
        return Ok(format!("HTTP {code}"));
    };
    progress.note(format!("HTTP {code}, reading the body"));
    let body = read_body(response, BODY_READ_LIMIT).await?;
    if regex.is_match(&body) {
        Ok(format!("HTTP {code}, body matches /{}/", regex.as_str()))
    } else {
        Err(ProbeError::Mismatch(format!(
            "HTTP {code}, body {} does not match /{}/",
            show(&body),
            regex.as_str()
        )))
    }
}

fn compile_body(pattern: &str) -> Result<regex::bytes::Regex, ProbeError> {
    RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ProbeError::Config(format!("invalid http_body expression: {e}")))
}

/// The DNS name part of `http_host` (without a `:port`), when it is a name rather than
/// an address: it becomes the URL's host, so TLS sends it as the server name and
/// verifies the certificate against it, while the connection still goes to the target.
fn server_name(host: Option<&str>) -> Option<&str> {
    let host = host?;
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    valid.then_some(name)
}

fn url(check: &HttpCheck, target: Target, server_name: Option<&str>) -> String {
    let scheme = if check.tls { "https" } else { "http" };
    let host = match (server_name, target.address) {
        (Some(name), _) => name.to_string(),
        (None, IpAddr::V4(v4)) => v4.to_string(),
        (None, IpAddr::V6(v6)) => format!("[{v6}]"),
    };
    let slash = if check.path.starts_with('/') { "" } else { "/" };
    format!("{scheme}://{host}:{}{slash}{}", target.port, check.path)
}

/// A client for one probe: no redirects, no proxy, no pooled connection, the server
/// name (if any) pinned to the target's address.
fn client(
    check: &HttpCheck,
    target: Target,
    server_name: Option<&str>,
) -> Result<Client, ProbeError> {
    let mut builder = Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
        .http1_only()
        .tls_danger_accept_invalid_certs(!check.tls_verify);
    if let Some(name) = server_name {
        builder = builder.resolve(name, target.socket());
    }
    builder
        .build()
        .map_err(|e| ProbeError::Protocol(format!("cannot build the HTTP client: {e}")))
}

/// reqwest's error with its causes, which say what actually went wrong (refused,
/// certificate, reset).
fn request_error(error: reqwest::Error) -> ProbeError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ProbeError::Protocol(text)
}

async fn read_body(mut response: Response, limit: usize) -> Result<Vec<u8>, ProbeError> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await.map_err(request_error)? {
            Some(chunk) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            None => break,
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HttpCheck {
        HttpCheck::from_server(&VirtualServer::new("web"), false)
    }

    fn target() -> Target {
        Target {
            address: "2001:db8::1".parse().expect("literal"),
            port: 8080,
        }
    }

    #[test]
    fn status_ranges_accept_their_codes() {
        let mut check = check();
        assert!(check.accepts(200) && check.accepts(302) && !check.accepts(404));
        check.status = vec![
            StatusRange {
                low: 200,
                high: 200,
            },
            StatusRange {
                low: 401,
                high: 403,
            },
        ];
        assert!(check.accepts(402) && !check.accepts(301));
        assert_eq!(check.accepted(), "200 401-403");
        check.status.clear();
        assert!(check.accepts(399));
    }

    #[test]
    fn urls_bracket_ipv6_and_use_a_host_name_when_given() {
        let mut check = check();
        check.path = "health?x=1".into();
        assert_eq!(
            url(&check, target(), None),
            "http://[2001:db8::1]:8080/health?x=1"
        );
        check.tls = true;
        assert_eq!(
            url(&check, target(), Some("www.example.org")),
            "https://www.example.org:8080/health?x=1"
        );
    }

    #[test]
    fn only_names_become_server_names() {
        assert_eq!(
            server_name(Some("www.example.org")),
            Some("www.example.org")
        );
        assert_eq!(
            server_name(Some("www.example.org:8443")),
            Some("www.example.org")
        );
        assert_eq!(server_name(Some("192.0.2.1")), None);
        assert_eq!(server_name(Some("[2001:db8::1]:80")), None);
        assert_eq!(server_name(Some("2001:db8::1")), None);
        assert_eq!(server_name(Some("bad name")), None);
        assert_eq!(server_name(None), None);
    }
}
