//! REDUNDANCY: the backup director (ENABLE/DISABLE), its addresses, the heartbeat and
//! the kernel's connection sync daemon.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::Frame;
use super::edit::{self, Current, Group, Planned, Refusal, Section, Status};
use crate::config::Loaded;
use crate::config::keywords::GLOBAL;
use crate::config::model::GlobalSettings;
use crate::web::form::{FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState};

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "redundancy.html")]
pub struct RedundancyPage {
    frame: Frame,
    status: Status,
    sections: Vec<Section>,
    backup_active: bool,
}

fn sync_id(global: &GlobalSettings) -> Result<(), String> {
    if global.syncd_id > 255 {
        Err(format!(
            "the sync daemon id is 0 to 255, not {}",
            global.syncd_id
        ))
    } else {
        Ok(())
    }
}

fn groups() -> Vec<Group<GlobalSettings>> {
    vec![
        Group::new(
            "backup",
            "BACKUP DIRECTOR",
            vec![
                Spec::text(GLOBAL, "backup", "Redundant server public IP"),
                Spec::text(GLOBAL, "backup_private", "Redundant server private IP"),
                Spec::text(GLOBAL, "keepalive", "Heartbeat interval (seconds)"),
                Spec::text(GLOBAL, "deadtime", "Assume dead after (seconds)"),
                Spec::text(GLOBAL, "heartbeat_port", "Heartbeat runs on port"),
                Spec::switch(GLOBAL, "monitor_links", "Monitor NIC links for failures"),
                Spec::switch(GLOBAL, "preempt", "Primary takes the service back"),
            ],
        )
        .note("The private IP is the backup's end of the second heartbeat path: set it when GLOBAL SETTINGS has a primary private IP."),
        Group::new(
            "sync",
            "CONNECTION SYNC DAEMON",
            vec![
                Spec::switch(GLOBAL, "syncdaemon", "Use sync daemon"),
                Spec::text(GLOBAL, "syncd_iface", "Sync daemon interface"),
                Spec::text(GLOBAL, "syncd_id", "Sync daemon id (0-255)").limited(sync_id),
            ],
        ),
    ]
}

/// GET /redundancy (also what RESET shows: the file's values).
pub async fn page(Extract(state): Extract<State>, session: Session) -> Response {
    match edit::blocking(&state, edit::load).await.and_then(|c| c) {
        Ok(current) => {
            render(
                &session,
                &current,
                None,
                FormErrors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(why) => {
            edit::problem(
                &session,
                "redundancy",
                StatusCode::INTERNAL_SERVER_ERROR,
                why,
            )
            .await
        }
    }
}

async fn render(
    session: &Session,
    current: &Current,
    submitted: Option<&Submitted>,
    mut errors: FormErrors,
    code: StatusCode,
) -> Response {
    let groups = groups();
    let global = &current.loaded.config.global;
    let sections = edit::sections(&groups, global, submitted, &mut errors);
    let page = RedundancyPage {
        frame: Frame::of(session, "redundancy").await,
        backup_active: global.backup_active,
        status: Status::of(current, errors),
        sections,
    };
    (code, page).into_response()
}

/// What a form of this page does.
#[derive(Clone, Copy)]
enum Action {
    Accept,
    Enable,
    Disable,
}

fn plan(
    state: &WebState,
    loaded: &Loaded,
    submitted: &Submitted,
    action: Action,
    errors: &mut FormErrors,
) -> Result<Planned, Refusal> {
    let groups = groups();
    let mut config = loaded.config.clone();
    let global = &mut config.global;
    let mut emptied = Vec::new();
    let summary = match action {
        Action::Accept => {
            let applied =
                edit::apply_groups(&groups, &loaded.config.global, submitted, state, errors);
            *global = applied.block;
            emptied = applied.emptied;
            "Redundancy changed"
        }
        Action::Enable => {
            global.backup_active = true;
            "Backup enabled"
        }
        Action::Disable => {
            global.backup_active = false;
            "Backup disabled"
        }
    };
    Ok(Planned {
        config,
        scope: Scope::Global,
        fields: edit::field_map(&groups),
        summary: summary.into(),
        redirect: "/redundancy".into(),
        emptied,
    })
}

async fn submit(
    state: State,
    session: Session,
    fields: Vec<(String, String)>,
    action: Action,
) -> Response {
    let submitted = Submitted::new(fields);
    let sent = submitted.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, "/redundancy", &|loaded, errors| {
            plan(state, loaded, &sent, action, errors)
        })
    })
    .await;
    match edit::respond(&state, &session, "redundancy", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => {
            let shown = matches!(action, Action::Accept).then_some(&submitted);
            render(
                &session,
                &current,
                shown,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// POST /redundancy: ACCEPT.
pub async fn accept(
    Extract(state): Extract<State>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    submit(state, session, fields, Action::Accept).await
}

/// POST /redundancy/{enable|disable}.
pub async fn switch(
    Extract(state): Extract<State>,
    session: Session,
    Path(action): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let action = match action.as_str() {
        "enable" => Action::Enable,
        "disable" => Action::Disable,
        _ => return (StatusCode::NOT_FOUND, "no such action\n").into_response(),
    };
    submit(state, session, fields, action).await
}
