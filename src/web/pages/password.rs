//! CHANGE PASSWORD. As in Piranha, changing it during a session asks for the new one:
//! every session made with the old password, this one included, stops working.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Frame, redirect_with};
use crate::web::State;
use crate::web::security::keys;

/// The form.
#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    frame: Frame,
    user: String,
    error: Option<String>,
}

/// What the form sends.
#[derive(Debug, Deserialize)]
pub struct Change {
    /// The password now.
    #[serde(default)]
    pub current: String,
    /// The new one.
    #[serde(default)]
    pub new: String,
    /// The new one again.
    #[serde(default)]
    pub confirm: String,
}

async fn user_of(session: &Session) -> String {
    session
        .get::<String>(keys::USER)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// GET /password.
pub async fn form(session: Session) -> PasswordPage {
    PasswordPage {
        frame: Frame::of(&session, "control").await,
        user: user_of(&session).await,
        error: None,
    }
}

/// POST /password.
pub async fn submit(
    Extract(state): Extract<State>,
    session: Session,
    Form(change): Form<Change>,
) -> Response {
    let user = user_of(&session).await;
    let refused = |error: String| async {
        let page = PasswordPage {
            frame: Frame::of(&session, "control").await,
            user: user.clone(),
            error: Some(error),
        };
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    match state.passwords.verify(&user, &change.current) {
        Ok(true) => {}
        Ok(false) => return refused("the current password is wrong".into()).await,
        Err(e) => return refused(e.to_string()).await,
    }
    if change.new != change.confirm {
        return refused("the two new passwords differ".into()).await;
    }
    if let Err(e) = state.passwords.set(&user, &change.new) {
        return refused(e.to_string()).await;
    }
    tracing::info!("web UI: password of '{user}' changed");
    let _ = session.flush().await;
    redirect_with(
        &session,
        "/login",
        "password changed: log in with the new one",
    )
    .await
    .into_response()
}
