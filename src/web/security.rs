//! The layers every request passes: security headers, the login check, the same-origin
//! and CSRF check, and the failed-login limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as Extract};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::State;

/// Session keys.
pub mod keys {
    /// The logged-in user.
    pub const USER: &str = "user";
    /// The user's password hash at login: a password change ends older sessions.
    pub const STAMP: &str = "stamp";
    /// Unix seconds of the login, for the absolute expiry.
    pub const LOGIN_AT: &str = "login_at";
    /// The CSRF token of this session.
    pub const CSRF: &str = "csrf";
    /// A one-time message for the next page.
    pub const FLASH: &str = "flash";
}

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// Largest form body read (a virtual server form is a few KiB).
pub const FORM_LIMIT: usize = 256 * 1024;

/// Paths served without a login: the login page itself and its stylesheet.
pub const PUBLIC_PATHS: [&str; 2] = ["/login", "/static/shoal.css"];

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
}

/// Adds the headers that keep the pages from being framed, sniffed, cached or made to
/// run foreign script.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Lets a request through only with a live session of a user whose password has not
/// changed since the login, or to a public path. GET and HEAD without one are sent to
/// the login page; any other method is refused outright.
pub async fn require_login(
    Extract(state): Extract<State>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    if logged_in(&state, &session).await {
        return next.run(request).await;
    }
    match *request.method() {
        Method::GET | Method::HEAD => Redirect::to("/login").into_response(),
        _ => (StatusCode::FORBIDDEN, "log in first\n").into_response(),
    }
}

/// Whether the session belongs to a user whose password is still the one they logged in
/// with, within the absolute lifetime. A stale session is emptied.
pub async fn logged_in(state: &State, session: &Session) -> bool {
    let user = session.get::<String>(keys::USER).await.ok().flatten();
    let stamp = session.get::<String>(keys::STAMP).await.ok().flatten();
    let login_at = session.get::<u64>(keys::LOGIN_AT).await.ok().flatten();
    let (Some(user), Some(stamp), Some(login_at)) = (user, stamp, login_at) else {
        return false;
    };
    let fresh = now_seconds().saturating_sub(login_at) < state.session_max.as_secs();
    let current = state.passwords.hash_of(&user).ok();
    if fresh && current.as_deref() == Some(stamp.as_str()) {
        return true;
    }
    let _ = session.flush().await;
    false
}

/// Seconds since the epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Refuses a state-changing request that comes from another site or lacks this
/// session's CSRF token.
pub async fn same_origin_and_token(
    Extract(state): Extract<State>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if let Err(why) = same_origin(request.headers(), state.tls) {
        return forbidden(why);
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response(),
    };
    let expected = session.get::<String>(keys::CSRF).await.ok().flatten();
    let sent = form_field(&bytes, CSRF_FIELD);
    match (expected, sent) {
        (Some(expected), Some(sent)) if constant_time_eq(&expected, &sent) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => forbidden("missing or wrong CSRF token: reload the page and try again"),
    }
}

fn forbidden(why: &str) -> Response {
    (StatusCode::FORBIDDEN, format!("{why}\n")).into_response()
}

/// The browser's own word on where a request comes from: `Sec-Fetch-Site` when sent,
/// and `Origin` when sent, must both say this site.
fn same_origin(headers: &HeaderMap, tls: bool) -> Result<(), &'static str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
    {
        return Err("cross-site request refused");
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = text(header::HOST).ok_or("request without a Host header refused")?;
        let scheme = if tls { "https" } else { "http" };
        if origin != format!("{scheme}://{host}") {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}

/// One field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// This session's CSRF token, made on first use.
pub async fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(keys::CSRF).await {
        return token;
    }
    let token = random_token();
    let _ = session.insert(keys::CSRF, &token).await;
    token
}

/// 32 random bytes from the kernel, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled rest of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n > 0 {
            filled += n as usize;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The client's address, from the connection.
pub fn client_of(connect: &ConnectInfo<SocketAddr>) -> IpAddr {
    let ip = connect.0.ip();
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Failed logins per client address: after `limit` failures within `window`, that
/// client's logins are refused until the window has passed, whatever the password.
pub struct LoginLimiter {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// A limit of `limit` failures per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        LoginLimiter {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may try now; `Err` says for how long it may not.
    pub fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        match failures.get(&client) {
            Some((count, since)) if *count >= self.limit => {
                Err(self.window.saturating_sub(now.duration_since(*since)))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(client).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    /// A successful login clears the client's count.
    pub fn succeeded(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_trips_after_the_limit_and_forgets_after_the_window() {
        let limiter = LoginLimiter::new(3, Duration::from_millis(200));
        let client: IpAddr = "192.0.2.7".parse().expect("ip");
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.admit(client).is_ok());
            limiter.failed(client);
        }
        assert!(limiter.admit(client).is_err());
        assert!(limiter.admit(other).is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.admit(client).is_ok());
    }

    #[test]
    fn origins_must_be_this_site() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("192.0.2.1:3636"));
        assert!(same_origin(&headers, false).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://192.0.2.1:3636"),
        );
        assert!(same_origin(&headers, false).is_ok());
        assert!(same_origin(&headers, true).is_err());
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(same_origin(&headers, false).is_err());
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&headers, false).is_err());
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
        assert!(!constant_time_eq(&a, &a[..63]));
    }
}
