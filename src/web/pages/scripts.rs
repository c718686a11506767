//! The MONITORING SCRIPTS subsection of a virtual server: the sending program, the
//! send and expect strings (current text beside the replacement), and whether expect
//! is a regular expression. A blank replacement keeps the current text; NO SEND
//! PROGRAM, BLANK SEND and BLANK EXPECT remove it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::Frame;
use super::edit::{self, Current, Group, Planned, Refusal, Section, Status};
use super::virtuals::{self, Nav, locate};
use crate::config::Loaded;
use crate::config::keywords::VIRTUAL;
use crate::config::model::VirtualServer;
use crate::web::form::{self, FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState};

/// The three texts, their labels and the button that removes each.
const TEXTS: [(&str, &str, &str, &str); 3] = [
    (
        "send_program",
        "Sending program",
        "no_send_program",
        "NO SEND PROGRAM",
    ),
    ("send", "Send", "blank_send", "BLANK SEND"),
    ("expect", "Expect", "blank_expect", "BLANK EXPECT"),
];

/// One row of the table.
pub struct Row {
    /// The replacement input's id and the keyword.
    pub id: &'static str,
    /// Label.
    pub label: &'static str,
    /// The text in lvs.cf now.
    pub current: String,
    /// What the replacement input holds.
    pub replacement: String,
    /// Its error.
    pub error: Option<String>,
    /// The keyword's help.
    pub help: &'static str,
    /// The button's value and id (ids with dashes: `no-send-program`).
    pub button: &'static str,
    /// The button's id.
    pub button_id: String,
    /// Its label.
    pub button_label: &'static str,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "scripts.html")]
pub struct ScriptsPage {
    frame: Frame,
    status: Status,
    nav: Nav,
    action: String,
    rows: Vec<Row>,
    sections: Vec<Section>,
}

fn specs() -> Vec<Spec<VirtualServer>> {
    TEXTS
        .iter()
        .map(|(id, label, _, _)| Spec::text(VIRTUAL, id, label))
        .collect()
}

fn regex_group() -> Vec<Group<VirtualServer>> {
    vec![Group::new(
        "regex",
        "EXPECT",
        vec![Spec::switch(
            VIRTUAL,
            "use_regex",
            "Treat expect string as a regular expression",
        )],
    )]
}

async fn render(
    session: &Session,
    current: &Current,
    at: usize,
    submitted: Option<&Submitted>,
    mut errors: FormErrors,
    code: StatusCode,
) -> Response {
    let server = &current.loaded.config.virtual_servers[at];
    let specs = specs();
    let rows = specs
        .iter()
        .zip(TEXTS)
        .map(|(spec, (id, label, button, button_label))| Row {
            id,
            label,
            current: form::text_of(spec.keyword, server),
            replacement: submitted
                .and_then(|s| s.get(id))
                .unwrap_or_default()
                .to_string(),
            error: errors.take(id),
            help: spec.keyword.help,
            button,
            button_id: button.replace('_', "-"),
            button_label,
        })
        .collect();
    let sections = edit::sections(&regex_group(), server, submitted, &mut errors);
    let page = ScriptsPage {
        frame: Frame::of(session, "virtual").await,
        nav: Nav::new(at, &server.name, "scripts"),
        action: format!("{}/scripts", virtuals::url(at, &server.name)),
        rows,
        sections,
        status: Status::of(current, errors),
    };
    (code, page).into_response()
}

/// GET /virtual/{index}/{name}/scripts.
pub async fn page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
) -> Response {
    match virtuals::load_for(&state, &session, index, name).await {
        Ok((current, at)) => {
            render(
                &session,
                &current,
                at,
                None,
                FormErrors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

fn plan(
    state: &WebState,
    loaded: &Loaded,
    (index, name): (usize, &str),
    submitted: &Submitted,
    errors: &mut FormErrors,
) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let old = &loaded.config.virtual_servers[at];
    let texts = form::apply(&specs(), old, submitted, &state.resolver, errors);
    let regex = edit::apply_groups(&regex_group(), &texts.block, submitted, state, errors);
    let new = regex.block;
    let emptied = [texts.emptied, regex.emptied].concat();
    let mut fields = edit::field_map(&regex_group());
    fields.extend(TEXTS.iter().map(|(id, _, _, _)| (*id, *id)));
    let mut config = loaded.config.clone();
    let summary = format!("Monitoring scripts of '{}' changed", old.name);
    let redirect = format!("{}/scripts", virtuals::url(at, &old.name));
    config.virtual_servers[at] = new;
    Ok(Planned {
        config,
        scope: Scope::Virtual(at),
        fields,
        summary,
        redirect,
        emptied,
    })
}

/// POST /virtual/{index}/{name}/scripts: ACCEPT, or one of the buttons that remove a
/// text (their form has nothing else).
pub async fn accept(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut submitted = Submitted::new(fields);
    for (id, _, button, _) in TEXTS {
        if submitted.get("action") == Some(button) {
            submitted.set(id, "");
        } else if submitted.get(id).is_some_and(|text| text.trim().is_empty()) {
            submitted.remove(id);
        }
    }
    let sent = submitted.clone();
    let back = format!("{}/scripts", virtuals::url(index, &name));
    let wanted = name.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, &back, &|loaded, errors| {
            plan(state, loaded, (index, &name), &sent, errors)
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => match locate(&current.loaded.config, index, &wanted) {
            Ok(at) => {
                render(
                    &session,
                    &current,
                    at,
                    Some(&submitted),
                    errors,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(_) => (StatusCode::CONFLICT, "gone\n").into_response(),
        },
    }
}
