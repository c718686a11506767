//! The pages, one module a panel, as in Piranha's tool: CONTROL/MONITORING, GLOBAL
//! SETTINGS, REDUNDANCY, VIRTUAL SERVERS (with its subsections), and the login and
//! password pages.

pub mod control;
pub mod edit;
pub mod global;
pub mod login;
pub mod password;
pub mod real;
pub mod redundancy;
pub mod scripts;
pub mod virtuals;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use tower_sessions::Session;

use super::State;
use super::security::{self, keys};

/// Every route of the UI, public ones included (the layers around them are added by
/// [`super::router`]). A route added here must be added to [`route_paths`] too: the
/// security tests request every path listed there with every method, without a
/// session and with a forged one, and a unit test fails while one is missing.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/static/shoal.css", get(stylesheet))
        .route("/", get(|| async { Redirect::to("/control") }))
        .route("/control", get(control::page))
        .route("/control/{action}", post(control::act))
        .route("/password", get(password::form).post(password::submit))
        .route("/global", get(global::page).post(global::accept))
        .route(
            "/redundancy",
            get(redundancy::page).post(redundancy::accept),
        )
        .route("/redundancy/{action}", post(redundancy::switch))
        .route(
            "/virtual",
            get(virtuals::list_page).post(virtuals::list_action),
        )
        .route(
            "/virtual/{index}/{name}",
            get(virtuals::edit_page).post(virtuals::edit_accept),
        )
        .route(
            "/virtual/{index}/{name}/delete",
            get(virtuals::delete_page).post(virtuals::delete_accept),
        )
        .route(
            "/virtual/{index}/{name}/real",
            get(real::list_page).post(real::list_action),
        )
        .route(
            "/virtual/{index}/{name}/real/{server}/{server_name}",
            get(real::edit_page).post(real::edit_accept),
        )
        .route(
            "/virtual/{index}/{name}/real/{server}/{server_name}/delete",
            get(real::delete_page).post(real::delete_accept),
        )
        .route(
            "/virtual/{index}/{name}/scripts",
            get(scripts::page).post(scripts::accept),
        )
}

/// Every path [`routes`] registers, in axum's syntax (`{name}` for a path parameter).
pub fn route_paths() -> Vec<&'static str> {
    vec![
        "/login",
        "/logout",
        "/static/shoal.css",
        "/",
        "/control",
        "/control/{action}",
        "/password",
        "/global",
        "/redundancy",
        "/redundancy/{action}",
        "/virtual",
        "/virtual/{index}/{name}",
        "/virtual/{index}/{name}/delete",
        "/virtual/{index}/{name}/real",
        "/virtual/{index}/{name}/real/{server}/{server_name}",
        "/virtual/{index}/{name}/real/{server}/{server_name}/delete",
        "/virtual/{index}/{name}/scripts",
    ]
}

/// The stylesheet, compiled in so the UI is one binary.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../static/shoal.css"),
    )
}

/// What every page's frame shows: the tabs, the CSRF token for its forms, a message
/// left by the previous request.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// The tab to highlight.
    pub tab: &'static str,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// A one-time message (the outcome of the last action).
    pub flash: Option<String>,
    /// Whether the user is logged in (the login page has no tabs).
    pub logged_in: bool,
}

impl Frame {
    /// The frame of a logged-in page; takes the pending message.
    pub async fn of(session: &Session, tab: &'static str) -> Frame {
        let flash = session.remove::<String>(keys::FLASH).await.ok().flatten();
        Frame {
            tab,
            csrf: security::csrf_token(session).await,
            flash,
            logged_in: true,
        }
    }
}

/// Leaves a message for the next page and sends the browser there (POST, then GET).
pub async fn redirect_with(session: &Session, to: &str, message: impl Into<String>) -> Redirect {
    let _ = session.insert(keys::FLASH, message.into()).await;
    Redirect::to(to)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::web::WebState;
    use crate::web::password::PasswordFile;
    use crate::web::security::LoginLimiter;

    /// The `.rs` files of the web UI, tests of each cut off (the first `#[cfg(test)]`).
    fn web_sources(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        let entries = std::fs::read_dir(dir).expect("src/web is readable");
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                web_sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source is readable");
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
                found.push((path, code));
            }
        }
    }

    /// The string literal that opens each `.route(` call (rustfmt may put it on the
    /// next line).
    fn registered(code: &str) -> Vec<String> {
        code.match_indices(".route(")
            .filter_map(|(at, call)| {
                let rest = code[at + call.len()..].trim_start();
                let literal = rest.strip_prefix('"')?;
                literal.split_once('"').map(|(path, _)| path.to_string())
            })
            .collect()
    }

    #[test]
    fn route_paths_lists_every_registered_route() {
        let mut sources = Vec::new();
        web_sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
            &mut sources,
        );
        let mut found = BTreeSet::new();
        for (path, code) in &sources {
            for call in [".nest(", ".nest_service(", ".route_service(", ".merge("] {
                assert!(
                    !code.contains(call),
                    "{} uses {call}: register full paths with .route(\"/...\") in pages::routes() \
                     so route_paths() and the security tests see them",
                    path.display()
                );
            }
            found.extend(registered(code));
        }
        let listed: BTreeSet<String> = route_paths().into_iter().map(String::from).collect();
        assert_eq!(
            listed.len(),
            route_paths().len(),
            "route_paths() lists a path twice"
        );
        let missing: Vec<_> = found.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&found).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "route_paths() must list exactly the registered routes: missing {missing:?}, not registered {stale:?}"
        );
    }

    #[test]
    fn the_source_scan_sees_split_calls() {
        let code = "Router::new()\n  .route(\"/a\", get(x))\n  .route(\n      \"/b/{id}\",\n      post(y),\n  )";
        assert_eq!(registered(code), ["/a", "/b/{id}"]);
    }

    /// Fills `{name}` parameters with a sample value.
    fn sample(path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some((before, after)) = rest.split_once('{') {
            out.push_str(before);
            rest = after.split_once('}').map_or("", |(_, tail)| tail);
            out.push_str("sample");
        }
        out.push_str(rest);
        out
    }

    #[tokio::test]
    async fn every_listed_path_is_routed() {
        let dir = std::env::temp_dir();
        let state = Arc::new(WebState {
            lvs_cf: dir.join("shoal-route-test-lvs.cf"),
            control: dir.join("shoal-route-test-no-daemon.sock"),
            passwords: PasswordFile::new(dir.join("shoal-route-test-no-passwd")),
            limiter: LoginLimiter::new(5, Duration::from_secs(300)),
            tls: false,
            session_max: Duration::from_secs(60),
            versions: Default::default(),
            checked: Default::default(),
            resolver: crate::config::resolve::SystemResolver::new(),
            kernel: crate::config::KernelFeatures::detect(),
        });
        let app = routes().with_state(state);
        // No route answers TRACE: a registered path says 405 without running a
        // handler, an unknown one 404.
        let unknown = Request::builder()
            .method(Method::TRACE)
            .uri("/no/such/route")
            .body(Body::empty())
            .expect("request");
        let answer = app.clone().oneshot(unknown).await.expect("answers");
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
        for path in route_paths() {
            let request = Request::builder()
                .method(Method::TRACE)
                .uri(sample(path))
                .body(Body::empty())
                .expect("request");
            let answer = app.clone().oneshot(request).await.expect("answers");
            assert_eq!(
                answer.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{path} is listed but not routed"
            );
        }
    }
}
