//! VIRTUAL SERVERS: the list (ADD, DELETE, EDIT, (DE)ACTIVATE) and the VIRTUAL SERVER
//! subsection of one of them. A virtual server is named in URLs by its index and its
//! name (`/virtual/0/http`); a page made before the file changed finds it by the name
//! when it moved, and refuses it, saying so, when it is gone.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::edit::{self, Current, Group, Planned, Refusal, Section, Status};
use super::{Frame, redirect_with};
use crate::config::Loaded;
use crate::config::keywords::VIRTUAL;
use crate::config::model::{
    Config, DnsRcode, DnsType, Forwarding, MonitorKind, Protocol, Scheduler, TunnelChecksum,
    TunnelType, VirtualServer,
};
use crate::web::form::{self, FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState};

/// The URL of a virtual server's page.
pub fn url(index: usize, name: &str) -> String {
    format!("/virtual/{index}/{}", form::segment(name))
}

/// The URL of the page that asks before deleting a virtual server.
pub fn delete_url(index: usize, name: &str) -> String {
    format!("{}/delete", url(index, name))
}

/// The virtual server a page names, in `config`.
pub fn locate(config: &Config, index: usize, name: &str) -> Result<usize, Refusal> {
    edit::find(&config.virtual_servers, |v| v.name.as_str(), index, name).ok_or_else(|| {
        Refusal::Gone(format!(
            "Virtual server '{name}' is not in lvs.cf any more: it was renamed or deleted after this page was made. Nothing was done; choose it again in VIRTUAL SERVERS."
        ))
    })
}

/// The sub-navigation of one virtual server.
pub struct Nav {
    /// Its name.
    pub name: String,
    /// Its page.
    pub base: String,
    /// `virtual`, `real` or `scripts`.
    pub current: &'static str,
}

impl Nav {
    /// The navigation of virtual server `index` on subsection `current`.
    pub fn new(index: usize, name: &str, current: &'static str) -> Nav {
        Nav {
            name: name.to_string(),
            base: url(index, name),
            current,
        }
    }
}

/// One row of the list.
pub struct Row {
    /// The radio's value, `INDEX:NAME`.
    pub value: String,
    /// Its position, for element ids.
    pub index: usize,
    /// `up` when active, else `down`.
    pub status: &'static str,
    /// Name.
    pub name: String,
    /// VIP.
    pub vip: String,
    /// VIP netmask.
    pub netmask: String,
    /// Port.
    pub port: String,
    /// Protocol.
    pub protocol: String,
    /// Device.
    pub interface: String,
    /// Its page.
    pub url: String,
}

/// The list.
#[derive(Template, WebTemplate)]
#[template(path = "virtual_list.html")]
pub struct ListPage {
    frame: Frame,
    status: Status,
    rows: Vec<Row>,
}

fn rows(config: &Config) -> Vec<Row> {
    config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(index, v)| Row {
            value: format!("{index}:{}", v.name),
            index,
            status: if v.active { "up" } else { "down" },
            name: v.name.clone(),
            vip: v
                .address
                .as_ref()
                .map(|a| a.address.to_string())
                .unwrap_or_default(),
            netmask: v.vip_nmask.map(|m| m.to_string()).unwrap_or_default(),
            port: if v.fwmark != 0 {
                format!("{} (fwmark {})", v.port, v.fwmark)
            } else {
                v.port.to_string()
            },
            protocol: v.protocol.to_string(),
            interface: v
                .address
                .as_ref()
                .map(|a| a.device.clone())
                .unwrap_or_default(),
            url: url(index, &v.name),
        })
        .collect()
}

async fn list(
    session: &Session,
    current: &Current,
    errors: FormErrors,
    code: StatusCode,
) -> Response {
    let page = ListPage {
        frame: Frame::of(session, "virtual").await,
        rows: rows(&current.loaded.config),
        status: Status::of(current, errors),
    };
    (code, page).into_response()
}

/// GET /virtual.
pub async fn list_page(Extract(state): Extract<State>, session: Session) -> Response {
    match edit::blocking(&state, edit::load).await.and_then(|c| c) {
        Ok(current) => list(&session, &current, FormErrors::default(), StatusCode::OK).await,
        Err(why) => {
            edit::problem(&session, "virtual", StatusCode::INTERNAL_SERVER_ERROR, why).await
        }
    }
}

fn list_plan(
    loaded: &Loaded,
    action: &str,
    selected: Option<(usize, String)>,
) -> Result<Planned, Refusal> {
    let mut config = loaded.config.clone();
    let servers = &mut config.virtual_servers;
    let (summary, redirect) = match (action, selected) {
        ("add", _) => {
            let name = edit::unused_name(servers, |v| v.name.as_str(), "virtual");
            servers.push(VirtualServer::new(name.clone()));
            (
                format!("Virtual server '{name}' added (inactive)"),
                url(servers.len() - 1, &name),
            )
        }
        ("toggle", Some((index, name))) => {
            let at = locate(&loaded.config, index, &name)?;
            let server = &mut servers[at];
            server.active = !server.active;
            let done = if server.active {
                "activated"
            } else {
                "deactivated"
            };
            (format!("Virtual server '{name}' {done}"), "/virtual".into())
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

/// POST /virtual: ADD, DELETE, EDIT or (DE)ACTIVATE, by the button's `action`, on the
/// virtual server whose radio (`vs`) is selected. EDIT goes to the virtual server's
/// page and DELETE to the page that asks first; the other two change the file.
pub async fn list_action(
    Extract(state): Extract<State>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let action = submitted.get("action").unwrap_or("").to_string();
    let selected = edit::selection(submitted.get("vs"));
    match (action.as_str(), &selected) {
        ("add", _) => {}
        ("delete" | "toggle" | "edit", None) => {
            return redirect_with(&session, "/virtual", "Select a virtual server first.")
                .await
                .into_response();
        }
        ("delete" | "toggle" | "edit", Some(_)) => {}
        _ => return (StatusCode::BAD_REQUEST, "unknown action\n").into_response(),
    }
    if let ("edit" | "delete", Some((index, name))) = (action.as_str(), &selected) {
        let (index, name) = (*index, name.clone());
        let page = if action == "edit" { url } else { delete_url };
        let found = edit::blocking(&state, move |state| {
            edit::load(state).map(|current| {
                locate(&current.loaded.config, index, &name)
                    .map(|at| page(at, &current.loaded.config.virtual_servers[at].name))
            })
        })
        .await
        .and_then(|r| r);
        return match found {
            Ok(Ok(to)) => Redirect::to(&to).into_response(),
            Ok(Err(Refusal::Gone(why))) => {
                edit::problem(&session, "virtual", StatusCode::CONFLICT, why).await
            }
            Ok(Err(Refusal::Invalid)) | Err(_) => {
                edit::problem(
                    &session,
                    "virtual",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "lvs.cf cannot be read".into(),
                )
                .await
            }
        };
    }
    let sent = submitted.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, "/virtual", &|loaded, _| {
            list_plan(loaded, &action, selected.clone())
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => {
            list(&session, &current, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// GET /virtual/{index}/{name}/delete: the virtual server's block as lvs.cf has it,
/// and DELETE (a form) or CANCEL (back to the list).
pub async fn delete_page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
) -> Response {
    match load_for(&state, &session, index, name).await {
        Ok((current, at)) => {
            let name = &current.loaded.config.virtual_servers[at].name;
            let confirm = edit::Confirm {
                what: format!("virtual server '{name}'"),
                scope: Scope::Virtual(at),
                action: delete_url(at, name),
                back: "/virtual".into(),
            };
            edit::confirm_page(&session, "virtual", &current, confirm).await
        }
        Err(response) => response,
    }
}

fn delete_plan(loaded: &Loaded, index: usize, name: &str) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let mut config = loaded.config.clone();
    config.virtual_servers.remove(at);
    Ok(Planned {
        config,
        scope: Scope::File,
        fields: Vec::new(),
        summary: format!("Virtual server '{name}' deleted"),
        redirect: "/virtual".into(),
        emptied: Vec::new(),
    })
}

/// POST /virtual/{index}/{name}/delete: the confirmed DELETE.
pub async fn delete_accept(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let back = delete_url(index, &name);
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &submitted, &back, &|loaded, _| {
            delete_plan(loaded, index, &name)
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => {
            list(&session, &current, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

fn scheduler_label(scheduler: Scheduler) -> &'static str {
    match scheduler {
        Scheduler::Rr => "Round robin",
        Scheduler::Wrr => "Weighted round robin",
        Scheduler::Lc => "Least-connection",
        Scheduler::Wlc => "Weighted least-connections",
        Scheduler::Lblc => "Locality-based least-connection",
        Scheduler::Lblcr => "Locality-based least-connection with replication",
        Scheduler::Dh => "Destination hashing",
        Scheduler::Sh => "Source hashing",
        Scheduler::Sed => "Shortest expected delay (shoal)",
        Scheduler::Nq => "Never queue (shoal)",
        Scheduler::Fo => "Weighted failover (shoal)",
        Scheduler::Ovf => "Weighted overflow (shoal)",
        Scheduler::Mh => "Maglev hashing (shoal)",
        Scheduler::Twos => "Weighted random twos choice (shoal)",
    }
}

fn groups() -> Vec<Group<VirtualServer>> {
    let schedulers = Scheduler::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), scheduler_label(*s).to_string()))
        .collect();
    let load_monitors = ["none", "uptime", "rup", "ruptime"]
        .iter()
        .map(|m| (m.to_string(), m.to_string()))
        .collect();
    vec![
        Group::new(
            "virtual",
            "VIRTUAL SERVER",
            vec![
                Spec::text(VIRTUAL, "port", "Application port"),
                Spec::choices::<Protocol>(VIRTUAL, "protocol", "Protocol", false),
                Spec::part(VIRTUAL, "address", "address", "Virtual IP address", 0),
                Spec::text(VIRTUAL, "vip_nmask", "Virtual IP network mask"),
                Spec::text(VIRTUAL, "fwmark", "Firewall mark"),
                Spec::part(VIRTUAL, "address", "address_device", "Device", 1),
                Spec::text(VIRTUAL, "reentry", "Re-entry time (seconds)"),
                Spec::text(VIRTUAL, "timeout", "Service timeout (seconds)"),
                Spec::switch(VIRTUAL, "quiesce_server", "Quiesce server"),
                Spec::choice(VIRTUAL, "load_monitor", "Load monitoring tool", load_monitors),
                Spec::choice(VIRTUAL, "scheduler", "Scheduling", schedulers),
                Spec::text(VIRTUAL, "persistent", "Persistence (seconds)"),
                Spec::text(VIRTUAL, "pmask", "Persistence network mask"),
                Spec::text(VIRTUAL, "sorry_server", "Sorry server"),
            ],
        )
        .note("The device is an alias of the public interface that carries the VIP (eth0:1). A firewall mark is set by iptables rules, not by shoal, and needs persistence."),
        Group::new(
            "extensions",
            "FORWARDING AND SCHEDULING (shoal)",
            vec![
                Spec::choices::<Forwarding>(VIRTUAL, "forwarding", "Forwarding", true),
                Spec::text(VIRTUAL, "scheduler_flags", "Scheduler flags"),
                Spec::choices::<TunnelType>(VIRTUAL, "tunnel_type", "Tunnel type", true),
                Spec::text(VIRTUAL, "tunnel_port", "Tunnel port"),
                Spec::choices::<TunnelChecksum>(VIRTUAL, "tunnel_csum", "Tunnel checksums", true),
                Spec::text(VIRTUAL, "drain_timeout", "Drain timeout (seconds)"),
                Spec::switch(VIRTUAL, "one_packet", "One-packet scheduling"),
            ],
        )
        .note("Piranha rejects these keywords: a file that uses them is for shoal directors only."),
        Group::new(
            "checks",
            "HEALTH CHECKS (shoal)",
            vec![
                Spec::choices::<MonitorKind>(VIRTUAL, "monitor", "Check", true),
                Spec::text(VIRTUAL, "monitor_port", "Check port"),
                Spec::text(VIRTUAL, "rise", "Rise"),
                Spec::text(VIRTUAL, "fall", "Fall"),
                Spec::text(VIRTUAL, "http_method", "HTTP method"),
                Spec::text(VIRTUAL, "http_path", "HTTP path"),
                Spec::text(VIRTUAL, "http_host", "HTTP host"),
                Spec::text(VIRTUAL, "http_status", "HTTP status"),
                Spec::text(VIRTUAL, "http_body", "HTTP body"),
                Spec::switch(VIRTUAL, "tls_verify", "Verify the certificate"),
                Spec::text(VIRTUAL, "dns_name", "DNS name"),
                Spec::choices::<DnsType>(VIRTUAL, "dns_type", "DNS type", false),
                Spec::choices::<DnsRcode>(VIRTUAL, "dns_rcode", "DNS response code", false),
            ],
        )
        .note("Without a check kind, Piranha's rules pick one from MONITORING SCRIPTS (send, expect, sending program)."),
        Group::new(
            "compatibility",
            "PIRANHA COMPATIBILITY (no effect in shoal)",
            vec![
                Spec::text(VIRTUAL, "client_monitor", "Client monitor"),
                Spec::text(VIRTUAL, "start_cmd", "Start command"),
                Spec::text(VIRTUAL, "stop_cmd", "Stop command"),
                Spec::text(VIRTUAL, "master", "Master"),
                Spec::text(VIRTUAL, "dirs", "Directories"),
            ],
        )
        .folded(),
    ]
}

/// The VIRTUAL SERVER subsection.
#[derive(Template, WebTemplate)]
#[template(path = "virtual_edit.html")]
pub struct EditPage {
    frame: Frame,
    status: Status,
    nav: Nav,
    action: String,
    sections: Vec<Section>,
}

async fn edit_form(
    session: &Session,
    current: &Current,
    at: usize,
    submitted: Option<&Submitted>,
    mut errors: FormErrors,
    code: StatusCode,
) -> Response {
    let groups = groups();
    let server = &current.loaded.config.virtual_servers[at];
    let name = edit::name_view(&server.name, "virtual server", submitted, &mut errors);
    let mut sections = edit::sections(&groups, server, submitted, &mut errors);
    sections[0].fields.insert(0, name);
    let page = EditPage {
        frame: Frame::of(session, "virtual").await,
        nav: Nav::new(at, &server.name, "virtual"),
        action: url(at, &server.name),
        sections,
        status: Status::of(current, errors),
    };
    (code, page).into_response()
}

/// Reads lvs.cf for a page of virtual server `index`/`name`: the file and where the
/// virtual server is, or the problem page.
pub async fn load_for(
    state: &State,
    session: &Session,
    index: usize,
    name: String,
) -> Result<(Current, usize), Response> {
    let found = edit::blocking(state, move |state| {
        edit::load(state).map(|current| {
            let at = locate(&current.loaded.config, index, &name);
            (current, at)
        })
    })
    .await
    .and_then(|r| r);
    match found {
        Ok((current, Ok(at))) => Ok((current, at)),
        Ok((_, Err(Refusal::Gone(why)))) => {
            Err(edit::problem(session, "virtual", StatusCode::NOT_FOUND, why).await)
        }
        Ok((_, Err(Refusal::Invalid))) => Err(edit::problem(
            session,
            "virtual",
            StatusCode::INTERNAL_SERVER_ERROR,
            "lvs.cf cannot be read".into(),
        )
        .await),
        Err(why) => {
            Err(edit::problem(session, "virtual", StatusCode::INTERNAL_SERVER_ERROR, why).await)
        }
    }
}

/// GET /virtual/{index}/{name}.
pub async fn edit_page(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
) -> Response {
    match load_for(&state, &session, index, name).await {
        Ok((current, at)) => {
            edit_form(
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

fn edit_plan(
    state: &WebState,
    loaded: &Loaded,
    index: usize,
    name: &str,
    submitted: &Submitted,
    errors: &mut FormErrors,
) -> Result<Planned, Refusal> {
    let at = locate(&loaded.config, index, name)?;
    let groups = groups();
    let old = &loaded.config.virtual_servers[at];
    let applied = edit::apply_groups(&groups, old, submitted, state, errors);
    let mut new = applied.block;
    new.name = edit::new_name(&old.name, submitted, errors);
    let mut fields = edit::field_map(&groups);
    fields.push(("name", "name"));
    let summary = if new.name == old.name {
        format!("Virtual server '{}' changed", old.name)
    } else {
        format!(
            "Virtual server '{}' changed and renamed '{}'",
            old.name, new.name
        )
    };
    let redirect = url(at, &new.name);
    let mut config = loaded.config.clone();
    config.virtual_servers[at] = new;
    Ok(Planned {
        config,
        scope: Scope::Virtual(at),
        fields,
        summary,
        redirect,
        emptied: applied.emptied,
    })
}

/// POST /virtual/{index}/{name}: ACCEPT.
pub async fn edit_accept(
    Extract(state): Extract<State>,
    session: Session,
    Path((index, name)): Path<(usize, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let sent = submitted.clone();
    let back = url(index, &name);
    let wanted = name.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, &back, &|loaded, errors| {
            edit_plan(state, loaded, index, &name, &sent, errors)
        })
    })
    .await;
    match edit::respond(&state, &session, "virtual", outcome).await {
        Ok(response) => response,
        // Refused after it was found in that version, so it is there.
        Err((current, errors)) => match locate(&current.loaded.config, index, &wanted) {
            Ok(at) => {
                edit_form(
                    &session,
                    &current,
                    at,
                    Some(&submitted),
                    errors,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(_) => {
                edit::problem(
                    &session,
                    "virtual",
                    StatusCode::CONFLICT,
                    format!("virtual server '{wanted}' is gone"),
                )
                .await
            }
        },
    }
}
