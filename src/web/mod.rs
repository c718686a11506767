//! `shoal web`: the configuration UI on port 3636 (Piranha's piranha-gui).
//!
//! Server-rendered pages and plain forms. The process needs no privilege: it reads and
//! writes lvs.cf through the config module's writer and talks to the daemon only through
//! the control socket; it never touches the kernel.
//!
//! Every request passes, in this order: the allowed networks (`listen`, before a byte is
//! read), the security headers, the session, the login check (every route but the login
//! page and the stylesheet), and for every method but GET and HEAD the same-origin and
//! CSRF-token check. The checks are layers around the whole router, so a route added
//! later is covered without remembering to (Piranha's CVE-2013-6492 was a POST that its
//! access control did not cover).

pub mod daemon;
pub mod form;
pub mod listen;
pub mod pages;
pub mod password;
pub mod security;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, SessionManagerLayer};

use crate::config::KernelFeatures;
use crate::config::resolve::SystemResolver;
use crate::config::settings::Web as WebSettings;
use password::PasswordFile;
use security::LoginLimiter;

/// What every handler shares.
pub struct WebState {
    /// The lvs.cf the pages edit.
    pub lvs_cf: PathBuf,
    /// The daemon's control socket.
    pub control: PathBuf,
    /// The password file, read again on every request.
    pub passwords: PasswordFile,
    /// Failed logins per client.
    pub limiter: LoginLimiter,
    /// Whether the UI is served over TLS (cookies get `Secure`, origins are https).
    pub tls: bool,
    /// A session ends this long after its login, however busy.
    pub session_max: Duration,
    /// The versions of lvs.cf that forms were recently made from, to show a conflict.
    pub versions: form::Versions,
    /// The last lvs.cf checked for a page.
    pub checked: pages::edit::Checked,
    /// Host and service names in lvs.cf, as `shoal check` resolves them.
    pub resolver: SystemResolver,
    /// The kernel's schedulers, as `shoal check` knows them.
    pub kernel: KernelFeatures,
}

/// Shared state as handlers receive it.
pub type State = Arc<WebState>;

/// The whole UI: routes inside the security layers.
pub fn router(state: State, settings: &WebSettings) -> Router {
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_name("shoal_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.tls)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(
                i64::try_from(settings.session_idle).unwrap_or(i64::MAX),
            ),
        ));
    pages::routes()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::same_origin_and_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::require_login,
        ))
        .layer(sessions)
        .layer(middleware::from_fn(security::headers))
        .with_state(state)
}

/// Why `shoal web` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No usable password: the UI never runs open.
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    /// `allow` has a bad entry.
    #[error("[web] allow: {0}")]
    Allowed(String),
    /// TLS is half configured or unreadable.
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
    /// `tls_cert` without `tls_key` or the reverse.
    #[error("[web] needs both tls_cert and tls_key for HTTPS, or neither")]
    HalfTls,
    /// The address is taken or not ours.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What `shoal web` serves from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lvs.cf to edit.
    pub lvs_cf: PathBuf,
    /// The daemon's control socket.
    pub control: PathBuf,
    /// `[web]` of shoal.toml.
    pub settings: WebSettings,
}

/// Failed logins allowed per client per window.
pub const LOGIN_LIMIT: u32 = 5;
/// The window of the failed-login limit.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// Checks everything that can be wrong before binding, then binds: the caller serves
/// the returned future.
pub async fn bind(
    options: Options,
) -> Result<(std::net::SocketAddr, impl Future<Output = ()>), StartError> {
    let settings = &options.settings;
    let passwords = PasswordFile::new(&settings.password_file);
    passwords
        .hash_of(password::DEFAULT_USER)
        .or_else(|e| match e {
            password::PasswordError::NoUser { .. } => Ok(String::new()),
            other => Err(other),
        })?;
    let allowed = listen::Allowed::parse(&settings.allow).map_err(StartError::Allowed)?;
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(listen::tls_acceptor(cert, key)?),
        (None, None) => None,
        _ => return Err(StartError::HalfTls),
    };
    let state = Arc::new(WebState {
        lvs_cf: options.lvs_cf.clone(),
        control: options.control.clone(),
        passwords,
        limiter: LoginLimiter::new(LOGIN_LIMIT, LOGIN_WINDOW),
        tls: tls.is_some(),
        session_max: Duration::from_secs(settings.session_max),
        versions: form::Versions::default(),
        checked: pages::edit::Checked::default(),
        resolver: SystemResolver::new(),
        kernel: KernelFeatures::detect(),
    });
    let app = router(state, settings);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Listen {
            address: settings.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| StartError::Listen {
        address: settings.listen,
        source,
    })?;
    Ok((address, listen::serve(listener, app, allowed, tls)))
}
