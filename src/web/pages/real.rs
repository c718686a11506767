//! The REAL SERVER subsection of a virtual server: its real servers (ADD, DELETE, EDIT,
//! (DE)ACTIVATE, CANCEL) and the form of one of them. Real servers are named in URLs
//! by index and name, as virtual servers are.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::edit::{self, Current, Group, Planned, Refusal, Section, Status};
use super::virtuals::{self, Nav, locate};
use super::{Frame, redirect_with};
use crate::config::Loaded;
use crate::config::keywords::SERVER;
use crate::config::model::{Config, Forwarding, RealServer, TunnelChecksum, TunnelType};
use crate::web::form::{self, FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState};

/// The list's URL.
pub fn list_url(index: usize, name: &str) -> String {
    format!("{}/real", virtuals::url(index, name))
}

/// A real server's URL.
pub fn url(index: usize, name: &str, server: usize, server_name: &str) -> String {
    format!(
        "{}/{server}/{}",
        list_url(index, name),
        form::segment(server_name)
    )
}

/// The URL of the page that asks before deleting a real server.
pub fn delete_url(index: usize, name: &str, server: usize, server_name: &str) -> String {
    format!("{}/delete", url(index, name, server, server_name))
}

fn locate_server(
    config: &Config,
    at: usize,
    server: usize,
    server_name: &str,
) -> Result<usize, Refusal> {
    let virtual_server = &config.virtual_servers[at];
    edit::find(
        &virtual_server.servers,
        |r| r.name.as_str(),
        server,
        server_name,
    )
    .ok_or_else(|| {
        Refusal::Gone(format!(
            "Real server '{server_name}' of virtual server '{}' is not in lvs.cf any more: it was renamed or deleted after this page was made. Nothing was done; choose it again in REAL SERVER.",
            virtual_server.name
        ))
    })
}

/// One row of the list.
pub struct Row {
    /// The radio's value, `INDEX:NAME`.
    pub value: String,
    /// Its position.
    pub index: usize,
    /// `up` when active, else `down`.
    pub status: &'static str,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Weight.
    pub weight: i64,
    /// Its page.
    pub url: String,
}

/// The list.
#[derive(Template, WebTemplate)]
#[template(path = "real_list.html")]
pub struct ListPage {
    frame: Frame,
    status: Status,
    nav: Nav,
    action: String,
    rows: Vec<Row>,
}

async fn list(
    session: &Session,
    current: &Current,
    at: usize,
    errors: FormErrors,
    code: StatusCode,
) -> Response {
    let virtual_server = &current.loaded.config.virtual_servers[at];
    let rows = virtual_server
        .servers
        .iter()
        .enumerate()
        .map(|(index, r)| Row {
            value: format!("{index}:{}", r.name),
            index,
            status: if r.active { "up" } else { "down" },
            name: r.name.clone(),
            address: r.address.map(|a| a.to_string()).unwrap_or_default(),
            weight: r.weight,
            url: url(at, &virtual_server.name, index, &r.name),
        })
        .collect();
    let page = ListPage {
        frame: Frame::of(session, "virtual").await,
        nav: Nav::new(at, &virtual_server.name, "real"),
        action: list_url(at, &virtual_server.name),
        rows,
        status: Status::of(current, errors),
    };
    (code, page).into_response()
}

/// The list again, with the errors of a refused list action or DELETE, when its virtual
/// server is still in the version refused.
async fn refused_list(
    session: &Session,
    current: &Current,
    (index, name): (usize, &str),
    errors: FormErrors,
) -> Response {
    match locate(&current.loaded.config, index, name) {
        Ok(at) => {
            list(
                session,
                current,
                at,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(_) => (StatusCode::CONFLICT, "gone\n").into_response(),
    }
}

/// GET /virtual/{index}/{name}/real.
pub async fn list_page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
) -> Response {
    match virtuals::load_for(&state, &session, index, name).await {
        Ok((current, at)) => {
            list(
                &session,
                &current,
                at,
                FormErrors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

fn list_plan(
    loaded: &Loaded,
    index: usize,
    name: &str,
    action: &str,
    selected: Option<(usize, String)>,
) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let mut config = loaded.config.clone();
    let virtual_name = config.virtual_servers[at].name.clone();
    let servers = &mut config.virtual_servers[at].servers;
    let back = list_url(at, &virtual_name);
    let (summary, redirect) = match (action, selected) {
        ("add", _) => {
            let new = edit::unused_name(servers, |r| r.name.as_str(), "server");
            servers.push(RealServer::new(new.clone()));
            (
                format!("Real server '{new}' added to '{virtual_name}' (inactive)"),
                url(at, &virtual_name, servers.len() - 1, &new),
            )
        }
        ("toggle", Some((server, server_name))) => {
            let found = locate_server(&loaded.config, at, server, &server_name)?;
            let real = &mut servers[found];
            real.active = !real.active;
            let done = if real.active {
                "activated"
            } else {
                "deactivated"
            };
            (
                format!("Real server '{server_name}' of '{virtual_name}' {done}"),
                back,
            )
        }
        _ => return Err(Refusal::Gone(format!("unknown action '{action}'"))),
    };
    Ok(Planned {
        config,
        scope: Scope::File,
        fields: Vec::new(),
        summary,
        redirect,
        emptied: Vec::new(),
    })
}

/// POST /virtual/{index}/{name}/real: ADD, DELETE, EDIT or (DE)ACTIVATE on the real
/// server whose radio (`rs`) is selected. EDIT goes to the real server's page and
/// DELETE to the page that asks first; the other two change the file.
pub async fn list_action(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let action = submitted.get("action").unwrap_or("").to_string();
    let selected = edit::selection(submitted.get("rs"));
    let here = list_url(index, &name);
    match (action.as_str(), &selected) {
        ("add", _) => {}
        ("delete" | "toggle" | "edit", None) => {
            return redirect_with(&session, &here, "Select a real server first.")
                .await
                .into_response();
        }
        ("delete" | "toggle" | "edit", Some(_)) => {}
        _ => return (StatusCode::BAD_REQUEST, "unknown action\n").into_response(),
    }
    if let ("edit" | "delete", Some((server, server_name))) = (action.as_str(), &selected) {
        let page = if action == "edit" { url } else { delete_url };
        let (current, at) = match virtuals::load_for(&state, &session, index, name).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        let config = &current.loaded.config;
        return match locate_server(config, at, *server, server_name) {
            Ok(found) => {
                let virtual_server = &config.virtual_servers[at];
                Redirect::to(&page(
                    at,
                    &virtual_server.name,
                    found,
                    &virtual_server.servers[found].name,
                ))
                .into_response()
            }
            Err(Refusal::Gone(why)) => {
                edit::problem(&session, "virtual", StatusCode::CONFLICT, why).await
            }
            Err(Refusal::Invalid) => (StatusCode::BAD_REQUEST, "bad selection\n").into_response(),
        };
    }
    let sent = submitted.clone();
    let wanted = name.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, &here, &|loaded, _| {
            list_plan(loaded, index, &name, &action, selected.clone())
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => refused_list(&session, &current, (index, &wanted), errors).await,
    }
}

/// GET /virtual/{index}/{name}/real/{server}/{server_name}/delete: the real server's
/// block as lvs.cf has it, and DELETE (a form) or CANCEL (back to the list).
pub async fn delete_page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name, server, server_name)): Path<(usize, String, usize, String)>,
) -> Response {
    let (current, (at, found)) =
        match load_server(&state, &session, (index, name), (server, &server_name)).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let virtual_server = &current.loaded.config.virtual_servers[at];
    let real = &virtual_server.servers[found].name;
    let confirm = edit::Confirm {
        what: format!(
            "real server '{real}' of virtual server '{}'",
            virtual_server.name
        ),
        scope: Scope::Real(at, found),
        action: delete_url(at, &virtual_server.name, found, real),
        back: list_url(at, &virtual_server.name),
    };
    edit::confirm_page(&session, "virtual", &current, confirm).await
}

fn delete_plan(
    loaded: &Loaded,
    (index, name): (usize, &str),
    (server, server_name): (usize, &str),
) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let found = locate_server(&loaded.config, at, server, server_name)?;
    let mut config = loaded.config.clone();
    let virtual_server = &mut config.virtual_servers[at];
    virtual_server.servers.remove(found);
    Ok(Planned {
        scope: Scope::File,
        fields: Vec::new(),
        summary: format!(
            "Real server '{server_name}' of '{}' deleted",
            virtual_server.name
        ),
        redirect: list_url(at, &virtual_server.name),
        emptied: Vec::new(),
        config,
    })
}

/// POST /virtual/{index}/{name}/real/{server}/{server_name}/delete: the confirmed
/// DELETE.
pub async fn delete_accept(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name, server, server_name)): Path<(usize, String, usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let back = delete_url(index, &name, server, &server_name);
    let wanted = name.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &submitted, &back, &|loaded, _| {
            delete_plan(loaded, (index, &name), (server, &server_name))
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => refused_list(&session, &current, (index, &wanted), errors).await,
    }
}

fn groups() -> Vec<Group<RealServer>> {
    vec![
        Group::new(
            "real",
            "REAL SERVER",
            vec![
                Spec::text(SERVER, "address", "Address"),
                Spec::text(SERVER, "weight", "Weight"),
                Spec::text(SERVER, "port", "Port"),
            ],
        )
        .note("The address has no port: the real server uses the virtual server's, unless a port is set here (which needs NAT)."),
        Group::new(
            "extensions",
            "SHOAL EXTENSIONS",
            vec![
                Spec::choices::<Forwarding>(SERVER, "forwarding", "Forwarding", true),
                Spec::choices::<TunnelType>(SERVER, "tunnel_type", "Tunnel type", true),
                Spec::text(SERVER, "tunnel_port", "Tunnel port"),
                Spec::choices::<TunnelChecksum>(SERVER, "tunnel_csum", "Tunnel checksums", true),
                Spec::text(SERVER, "upper_threshold", "Upper connection threshold"),
                Spec::text(SERVER, "lower_threshold", "Lower connection threshold"),
            ],
        ),
    ]
}

/// The form of one real server.
#[derive(Template, WebTemplate)]
#[template(path = "real_edit.html")]
pub struct EditPage {
    frame: Frame,
    status: Status,
    nav: Nav,
    action: String,
    back: String,
    sections: Vec<Section>,
}

async fn edit_form(
    session: &Session,
    current: &Current,
    (at, found): (usize, usize),
    submitted: Option<&Submitted>,
    mut errors: FormErrors,
    code: StatusCode,
) -> Response {
    let groups = groups();
    let virtual_server = &current.loaded.config.virtual_servers[at];
    let server = &virtual_server.servers[found];
    let name = edit::name_view(&server.name, "real server", submitted, &mut errors);
    let mut sections = edit::sections(&groups, server, submitted, &mut errors);
    sections[0].fields.insert(0, name);
    let page = EditPage {
        frame: Frame::of(session, "virtual").await,
        nav: Nav::new(at, &virtual_server.name, "real"),
        action: url(at, &virtual_server.name, found, &server.name),
        back: list_url(at, &virtual_server.name),
        sections,
        status: Status::of(current, errors),
    };
    (code, page).into_response()
}

/// GET /virtual/{index}/{name}/real/{server}/{server_name}.
pub async fn edit_page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name, server, server_name)): Path<(usize, String, usize, String)>,
) -> Response {
    match load_server(&state, &session, (index, name), (server, &server_name)).await {
        Ok((current, place)) => {
            edit_form(
                &session,
                &current,
                place,
                None,
                FormErrors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

/// Reads lvs.cf for a page of one real server: the file and where the virtual and the
/// real server are, or the page that says why not.
async fn load_server(
    state: &State,
    session: &Session,
    (index, name): (usize, String),
    (server, server_name): (usize, &str),
) -> Result<(Current, (usize, usize)), Response> {
    let (current, at) = virtuals::load_for(state, session, index, name).await?;
    match locate_server(&current.loaded.config, at, server, server_name) {
        Ok(found) => Ok((current, (at, found))),
        Err(Refusal::Gone(why)) => {
            Err(edit::problem(session, "virtual", StatusCode::NOT_FOUND, why).await)
        }
        Err(Refusal::Invalid) => Err((StatusCode::BAD_REQUEST, "bad request\n").into_response()),
    }
}

fn edit_plan(
    state: &WebState,
    loaded: &Loaded,
    (index, name): (usize, &str),
    (server, server_name): (usize, &str),
    submitted: &Submitted,
    errors: &mut FormErrors,
) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let found = locate_server(&loaded.config, at, server, server_name)?;
    let groups = groups();
    let virtual_server = &loaded.config.virtual_servers[at];
    let old = &virtual_server.servers[found];
    let applied = edit::apply_groups(&groups, old, submitted, state, errors);
    let mut new = applied.block;
    new.name = edit::new_name(&old.name, submitted, errors);
    let mut fields = edit::field_map(&groups);
    fields.push(("name", "name"));
    let summary = if new.name == old.name {
        format!(
            "Real server '{}' of '{}' changed",
            old.name, virtual_server.name
        )
    } else {
        format!(
            "Real server '{}' of '{}' changed and renamed '{}'",
            old.name, virtual_server.name, new.name
        )
    };
    let redirect = url(at, &virtual_server.name, found, &new.name);
    let mut config = loaded.config.clone();
    config.virtual_servers[at].servers[found] = new;
    Ok(Planned {
        config,
        scope: Scope::Real(at, found),
        fields,
        summary,
        redirect,
        emptied: applied.emptied,
    })
}

/// POST /virtual/{index}/{name}/real/{server}/{server_name}: ACCEPT.
pub async fn edit_accept(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name, server, server_name)): Path<(usize, String, usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let sent = submitted.clone();
    let back = url(index, &name, server, &server_name);
    let (wanted, wanted_server) = (name.clone(), server_name.clone());
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, &back, &|loaded, errors| {
            edit_plan(
                state,
                loaded,
                (index, &name),
                (server, &server_name),
                &sent,
                errors,
            )
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => {
            let config = &current.loaded.config;
            let found = locate(config, index, &wanted)
                .and_then(|at| locate_server(config, at, server, &wanted_server).map(|f| (at, f)));
            match found {
                Ok(place) => {
                    edit_form(
                        &session,
                        &current,
                        place,
                        Some(&submitted),
                        errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
                Err(_) => (StatusCode::CONFLICT, "gone\n").into_response(),
            }
        }
    }
}
