//! CONTROL/MONITORING: the daemon's state, the peer and both config serials, the live
//! routing table with each real server's health, auto update, and the service buttons.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Frame, redirect_with};
use crate::control::{Request, Response as Answer};
use crate::web::view::Control;
use crate::web::{State, daemon};

/// Piranha's default auto-update interval.
pub const DEFAULT_INTERVAL: u32 = 10;

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "control.html")]
pub struct ControlPage {
    frame: Frame,
    control: Control,
    auto: bool,
    interval: u32,
}

/// The MONITOR form: auto update and its interval, in the query so a refresh keeps them.
#[derive(Debug, Deserialize)]
pub struct Monitor {
    /// The checkbox.
    #[serde(default)]
    pub auto: Option<String>,
    /// Seconds between updates.
    #[serde(default)]
    pub interval: Option<String>,
}

/// GET /control.
pub async fn page(
    Extract(state): Extract<State>,
    session: Session,
    Query(monitor): Query<Monitor>,
) -> ControlPage {
    // One exchange for the state, the table and the charts (`monitor`): for 1,000 x 10
    // servers, `status` then `history` sent 4.3 MB, mostly counters the page does not show.
    let control = match daemon::ask(state.control.clone(), Request::Monitor).await {
        Ok(Answer::Monitor(report)) => {
            Control::from_monitor(*report, crate::web::security::now_seconds() / 60)
        }
        Ok(other) => Control::unreachable(format!("unexpected answer: {other:?}")),
        Err(why) => Control::unreachable(why),
    };
    let interval = monitor
        .interval
        .and_then(|i| i.trim().parse::<u32>().ok())
        .filter(|i| *i >= 1)
        .unwrap_or(DEFAULT_INTERVAL);
    ControlPage {
        frame: Frame::of(&session, "control").await,
        control,
        auto: monitor.auto.is_some(),
        interval,
    }
}

/// POST /control/{start|stop|restart|reload|sync}: asks the daemon, then shows the page with
/// the outcome.
pub async fn act(
    Extract(state): Extract<State>,
    session: Session,
    Path(action): Path<String>,
) -> Response {
    let request = match action.as_str() {
        "start" => Request::Start,
        "stop" => Request::Stop,
        "restart" => Request::Restart,
        "reload" => Request::Reload,
        "sync" => Request::Push,
        _ => return (StatusCode::NOT_FOUND, "no such action\n").into_response(),
    };
    let outcome = match daemon::ask(state.control.clone(), request).await {
        Ok(answer) => describe(&action, &answer),
        Err(why) => format!("{action} failed: {why}"),
    };
    tracing::info!("web UI: {action}: {outcome}");
    redirect_with(&session, "/control", outcome)
        .await
        .into_response()
}

fn describe(action: &str, answer: &Answer) -> String {
    match answer {
        Answer::Service(report) if report.errors.is_empty() => format!(
            "{action}: the service is {} ({} kernel operations)",
            report.state, report.operations
        ),
        Answer::Service(report) => format!(
            "{action}: the service is {}, with errors: {}",
            report.state,
            report.errors.join("; ")
        ),
        Answer::Reload(report) if report.applied => format!(
            "reload: serial_no {} in use ({} kernel operations)",
            report.serial_no,
            report.operations.len()
        ),
        Answer::Reload(report) => format!(
            "reload refused, the running configuration stays: {}",
            report.errors.join("; ")
        ),
        Answer::Pushed {
            to,
            applied: true,
            message,
        } => format!("sync to backup: {to} {message}"),
        Answer::Pushed { to, message, .. } => {
            format!("sync to backup: {to} did not take it: {message}")
        }
        other => format!("{action}: unexpected answer {other:?}"),
    }
}
