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

/// Every page route (the layers around them are added by [`super::router`]).
pub fn routes() -> Router<State> {
    Router::new()
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
            "/virtual/{index}/{name}/real",
            get(real::list_page).post(real::list_action),
        )
        .route(
            "/virtual/{index}/{name}/real/{server}/{server_name}",
            get(real::edit_page).post(real::edit_accept),
        )
        .route(
            "/virtual/{index}/{name}/scripts",
            get(scripts::page).post(scripts::accept),
        )
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
