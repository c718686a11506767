//! Login and logout. A successful login gets a new session id (no fixation), the
//! password hash as its stamp and a new CSRF token; failures are counted per client.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{ConnectInfo, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::Frame;
use crate::web::State;
use crate::web::password::DEFAULT_USER;
use crate::web::security::{self, keys};

/// The login page.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    frame: Frame,
    user: String,
    error: Option<String>,
}

/// What the login form sends.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// The user name (Piranha's is `piranha`).
    #[serde(default)]
    pub user: String,
    /// The password.
    #[serde(default)]
    pub password: String,
}

/// GET /login (already logged in: straight to CONTROL/MONITORING).
pub async fn form(Extract(state): Extract<State>, session: Session) -> Response {
    if security::logged_in(&state, &session).await {
        return Redirect::to("/control").into_response();
    }
    page(&session, DEFAULT_USER.to_string(), None)
        .await
        .into_response()
}

async fn page(session: &Session, user: String, error: Option<String>) -> LoginPage {
    let frame = Frame {
        tab: "login",
        csrf: security::csrf_token(session).await,
        flash: session.remove::<String>(keys::FLASH).await.ok().flatten(),
        logged_in: false,
    };
    LoginPage { frame, user, error }
}

/// POST /login.
pub async fn submit(
    Extract(state): Extract<State>,
    connect: ConnectInfo<SocketAddr>,
    session: Session,
    Form(credentials): Form<Credentials>,
) -> Response {
    let client = security::client_of(&connect);
    if let Err(wait) = state.limiter.admit(client) {
        let message = format!(
            "too many failed logins from {client}: try again in {} s",
            wait.as_secs() + 1
        );
        let page = page(&session, credentials.user, Some(message)).await;
        return (StatusCode::TOO_MANY_REQUESTS, page).into_response();
    }
    // argon2 takes tens of milliseconds of CPU by design: off the async thread.
    let verified = {
        let (passwords, user, password) = (
            state.passwords.clone(),
            credentials.user.clone(),
            credentials.password.clone(),
        );
        tokio::task::spawn_blocking(move || passwords.verify(&user, &password)).await
    };
    let verified =
        verified.unwrap_or_else(|e| Err(crate::web::password::PasswordError::Hash(e.to_string())));
    match verified {
        Ok(true) => {}
        Ok(false) => {
            state.limiter.failed(client);
            tracing::warn!(
                "web UI: failed login for '{}' from {client}",
                credentials.user
            );
            let page = page(
                &session,
                credentials.user,
                Some("wrong user or password".into()),
            )
            .await;
            return (StatusCode::UNAUTHORIZED, page).into_response();
        }
        Err(e) => {
            let page = page(&session, credentials.user, Some(e.to_string())).await;
            return (StatusCode::INTERNAL_SERVER_ERROR, page).into_response();
        }
    }
    state.limiter.succeeded(client);
    match start_session(&state, &session, &credentials.user).await {
        Ok(()) => {
            tracing::info!("web UI: '{}' logged in from {client}", credentials.user);
            Redirect::to("/control").into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("session: {e}\n")).into_response(),
    }
}

async fn start_session(state: &State, session: &Session, user: &str) -> Result<(), String> {
    let stamp = state.passwords.hash_of(user).map_err(|e| e.to_string())?;
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.clear().await;
    let fields: [(&str, serde_json::Value); 4] = [
        (keys::USER, user.into()),
        (keys::STAMP, stamp.into()),
        (keys::LOGIN_AT, security::now_seconds().into()),
        (keys::CSRF, security::random_token().into()),
    ];
    for (key, value) in fields {
        session
            .insert(key, value)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// POST /logout: the session is deleted from the store, so its cookie is worth nothing.
pub async fn logout(session: Session) -> Redirect {
    let _ = session.flush().await;
    Redirect::to("/login")
}
