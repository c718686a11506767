//! GLOBAL SETTINGS: the primary director's addresses, the IPVS timeouts, the forwarding
//! method and the NAT router, then the other global keywords an administrator may need.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::Frame;
use super::edit::{self, Current, Group, Planned, Refusal, Section, Status};
use crate::config::Loaded;
use crate::config::keywords::GLOBAL;
use crate::config::model::{ConflictAction, GlobalSettings, ServiceKind, Standby};
use crate::web::form::{FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState};

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "global.html")]
pub struct GlobalPage {
    frame: Frame,
    status: Status,
    sections: Vec<Section>,
}

fn groups() -> Vec<Group<GlobalSettings>> {
    vec![
        Group::new(
            "environment",
            "ENVIRONMENT",
            vec![
                Spec::text(GLOBAL, "primary", "Primary server public IP"),
                Spec::text(GLOBAL, "primary_private", "Primary server private IP (may be blank)"),
                Spec::text(GLOBAL, "tcp_timeout", "TCP timeout (seconds)"),
                Spec::text(GLOBAL, "tcpfin_timeout", "TCP FIN timeout (seconds)"),
                Spec::text(GLOBAL, "udp_timeout", "UDP timeout (seconds)"),
                Spec::choice(
                    GLOBAL,
                    "network",
                    "Use network type",
                    vec![
                        ("nat".into(), "NAT".into()),
                        ("direct".into(), "Direct Routing".into()),
                        ("tunnel".into(), "Tunneling".into()),
                    ],
                ),
                Spec::part(GLOBAL, "nat_router", "nat_router", "NAT router IP", 0),
                Spec::text(GLOBAL, "nat_nmask", "NAT router netmask"),
                Spec::part(GLOBAL, "nat_router", "nat_router_device", "NAT router device", 1),
            ],
        )
        .note("The NAT router fields apply to NAT only; leave both blank for direct routing or tunneling."),
        Group::new(
            "service",
            "SERVICE",
            vec![
                Spec::choices::<ServiceKind>(GLOBAL, "service", "Service", false),
                Spec::text(GLOBAL, "active_cmd", "Command on activation"),
                Spec::text(GLOBAL, "inactive_cmd", "Command on deactivation"),
                Spec::text(GLOBAL, "rsh_command", "Remote shell for load monitoring"),
                Spec::choices::<Standby>(GLOBAL, "standby", "Standby", false),
                Spec::text(GLOBAL, "garp_count", "Gratuitous ARPs per address"),
                Spec::text(GLOBAL, "garp_interval", "Seconds between gratuitous ARPs"),
            ],
        ),
        Group::new(
            "compatibility",
            "PIRANHA COMPATIBILITY (no effect in shoal)",
            vec![
                Spec::text(GLOBAL, "debug_level", "Debug level"),
                Spec::switch(GLOBAL, "hard_shutdown", "Hard shutdown"),
                Spec::text(GLOBAL, "ipvsadm", "ipvsadm path"),
                Spec::switch(GLOBAL, "heartbeat", "Heartbeat"),
                Spec::switch(GLOBAL, "sync", "File sync"),
                Spec::text(GLOBAL, "primary_shared", "Primary shared disk"),
                Spec::text(GLOBAL, "backup_shared", "Backup shared disk"),
                Spec::choices::<ConflictAction>(
                    GLOBAL,
                    "reservation_conflict_action",
                    "Reservation conflict action",
                    true,
                ),
            ],
        )
        .note("Piranha read these; shoal keeps them in the file so it stays usable by Piranha, but does nothing with them.")
        .folded(),
    ]
}

/// GET /global.
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
        Err(why) => edit::problem(&session, "global", StatusCode::INTERNAL_SERVER_ERROR, why).await,
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
    let sections = edit::sections(
        &groups,
        &current.loaded.config.global,
        submitted,
        &mut errors,
    );
    let page = GlobalPage {
        frame: Frame::of(session, "global").await,
        status: Status::of(current, errors),
        sections,
    };
    (code, page).into_response()
}

fn plan(
    state: &WebState,
    loaded: &Loaded,
    submitted: &Submitted,
    errors: &mut FormErrors,
) -> Result<Planned, Refusal> {
    let groups = groups();
    let mut config = loaded.config.clone();
    let applied = edit::apply_groups(&groups, &loaded.config.global, submitted, state, errors);
    config.global = applied.block;
    Ok(Planned {
        config,
        scope: Scope::Global,
        fields: edit::field_map(&groups),
        summary: "Global settings changed".into(),
        redirect: "/global".into(),
        emptied: applied.emptied,
    })
}

/// POST /global: ACCEPT.
pub async fn accept(
    Extract(state): Extract<State>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted::new(fields);
    let sent = submitted.clone();
    let outcome = edit::blocking(&state, move |state| {
        edit::commit(state, &sent, "/global", &|loaded, errors| {
            plan(state, loaded, &sent, errors)
        })
    })
    .await;
    match edit::respond(&state, &session, "global", outcome).await {
        Ok(response) => response,
        Err((current, errors)) => {
            render(
                &session,
                &current,
                Some(&submitted),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
