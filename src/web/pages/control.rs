//! CONTROL/MONITORING: the daemon's state, the peer and both config serials, the live
//! routing table with each real server's health, auto update, and the service buttons.

use askama::Template;
use askama_web::WebTemplate;
use std::path::Path;

use axum::extract::{Path as Segment, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Frame, redirect_with};
use crate::control::{MonitorReport, Request, Response as Answer, UNREADABLE_REQUEST};
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
    let control = match ask_monitor(&state.control).await {
        Ok(report) => Control::from_monitor(report, crate::web::security::now_seconds() / 60),
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

/// What the page draws, in one exchange (`monitor`): for 1,000 x 10 servers, `status` then
/// `history` sent 4.3 MB, mostly counters the page does not show. A daemon older than that
/// request is asked the old way.
async fn ask_monitor(socket: &Path) -> Result<MonitorReport, String> {
    match daemon::ask(socket.to_path_buf(), Request::Monitor).await {
        Ok(Answer::Monitor(report)) => Ok(*report),
        Ok(other) => Err(format!("unexpected answer: {other:?}")),
        Err(why) if why.starts_with(UNREADABLE_REQUEST) => from_status(socket).await,
        Err(why) => Err(why),
    }
}

/// The page's answer from `status` and `history`, as a daemon without `monitor` gives them.
async fn from_status(socket: &Path) -> Result<MonitorReport, String> {
    let status = match daemon::ask(socket.to_path_buf(), Request::Status).await {
        Ok(Answer::Status(report)) => *report,
        Ok(other) => return Err(format!("unexpected answer: {other:?}")),
        Err(why) => return Err(why),
    };
    let history = match daemon::ask(socket.to_path_buf(), Request::History).await {
        Ok(Answer::History { services }) => services,
        _ => Vec::new(),
    };
    Ok(MonitorReport::from_status(status, &history))
}

/// POST /control/{start|stop|restart|reload|sync}: asks the daemon, then shows the page with
/// the outcome.
pub async fn act(
    Extract(state): Extract<State>,
    session: Session,
    Segment(action): Segment<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    /// A daemon from before `monitor`: it answers `status` and `history` and cannot read
    /// `monitor`. Serves `rounds` connections and returns the commands it was sent.
    fn older_daemon(socket: &Path, rounds: usize) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(socket).expect("bind");
        std::thread::spawn(move || {
            let mut asked = Vec::new();
            for stream in listener.incoming().take(rounds) {
                let mut stream = stream.expect("accept");
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).expect("read");
                let request: serde_json::Value = serde_json::from_str(&line).expect("json");
                let command = request["command"].as_str().unwrap_or_default().to_string();
                let answer = match command.as_str() {
                    "status" => serde_json::json!({
                        "result": "status", "state": "active", "dry_run": true,
                        "lvs_cf": "lvs.cf", "serial_no": 8, "info": null, "services": [],
                        "names": [], "kernel_error": null,
                    }),
                    "history" => serde_json::json!({"result": "history", "services": []}),
                    other => serde_json::json!({
                        "result": "error",
                        "message": format!("{UNREADABLE_REQUEST}: unknown variant `{other}`"),
                    }),
                };
                writeln!(stream, "{answer}").expect("write");
                asked.push(command);
            }
            asked
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_older_daemon_is_asked_for_status_and_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("control.sock");
        let daemon = older_daemon(&socket, 3);
        let report = ask_monitor(&socket).await.expect("the page's answer");
        assert_eq!((report.serial_no, report.state.as_str()), (8, "active"));
        assert_eq!(
            daemon.join().expect("the daemon thread"),
            ["monitor", "status", "history"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_errors_are_shown_as_they_are() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("none.sock");
        let why = ask_monitor(&missing).await.expect_err("no daemon");
        assert!(why.contains("cannot reach the shoal daemon"), "{why}");
    }
}
