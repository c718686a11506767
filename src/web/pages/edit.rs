//! What every editing panel does with lvs.cf: read it (remembering the version a form
//! is made from), and on ACCEPT check that the file is still that version, apply the
//! form, write the result through the config writer (which refuses an invalid file) and
//! ask the daemon to reload. Nothing is written when anything is wrong, and a file
//! changed by someone else since the form was made is shown as a conflict, never
//! overwritten.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::{Frame, redirect_with};
use crate::config::document::{Block, BlockKind, Item, Line};
use crate::config::model::Config;
use crate::config::parse;
use crate::config::write::{self, SaveError, WriteError};
use crate::config::{self, Loaded};
use crate::control::{Request, Response as Answer};
use crate::web::form::{self, Applied, FieldView, FormErrors, Scope, Spec, Submitted};
use crate::web::{State, WebState, daemon};

/// The hidden field that carries the fingerprint of the version a form was made from.
pub const FINGERPRINT: &str = "fingerprint";

/// lvs.cf as read for a page.
pub struct Current {
    /// The file, checked: shared with the [`Checked`] cache, so a page view of an
    /// unchanged lvs.cf copies no part of it.
    pub loaded: Arc<Loaded>,
    /// Its fingerprint, for the form's hidden field.
    pub fingerprint: String,
}

/// Reads and checks lvs.cf, and remembers the version for a later conflict.
pub fn load(state: &WebState) -> Result<Current, String> {
    let bytes = std::fs::read(&state.lvs_cf)
        .map_err(|e| format!("cannot read {}: {e}", state.lvs_cf.display()))?;
    let fingerprint = state.versions.remember(&bytes);
    Ok(Current {
        loaded: state.checked.check(&fingerprint, &bytes, state),
        fingerprint,
    })
}

/// The last file the pages checked, by fingerprint: a page view of an unchanged lvs.cf
/// costs a reference count instead of a whole `shoal check` (45 ms of CPU for 1,000
/// virtual servers) or a deep copy of the checked file (5 to 8 ms, and as much again to
/// free it after the page).
#[derive(Default)]
pub struct Checked(std::sync::Mutex<Option<(String, Arc<Loaded>)>>);

impl Checked {
    /// `bytes` (whose fingerprint is `fingerprint`) checked, from the cache when the
    /// last check was of the same bytes.
    pub fn check(&self, fingerprint: &str, bytes: &[u8], state: &WebState) -> Arc<Loaded> {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, loaded)) = last.as_ref()
            && seen == fingerprint
            && loaded.source == bytes
        {
            return Arc::clone(loaded);
        }
        let loaded = Arc::new(config::check(bytes, &state.resolver, &state.kernel));
        *last = Some((fingerprint.to_string(), Arc::clone(&loaded)));
        loaded
    }
}

/// A change a form makes to a file.
pub struct Planned {
    /// The whole new configuration.
    pub config: Config,
    /// The block the form edits, in the new configuration.
    pub scope: Scope,
    /// Keyword (or `name`) to input id, for the new file's findings.
    pub fields: Vec<(&'static str, &'static str)>,
    /// What was done, for the message ("virtual server 'web' changed").
    pub summary: String,
    /// Where the browser goes afterwards.
    pub redirect: String,
    /// Keywords of the edited block whose field was emptied: their lines are taken out
    /// of the file, so the default applies without being written out.
    pub emptied: Vec<&'static str>,
}

/// Why a form was not turned into a change.
pub enum Refusal {
    /// Its errors are in the [`FormErrors`].
    Invalid,
    /// What it edits is not in the file any more.
    Gone(String),
}

/// What a form does to a file version; called on the version on disk, and on the
/// version the form was made from to show a conflict.
pub type Plan<'a> = &'a dyn Fn(&Loaded, &mut FormErrors) -> Result<Planned, Refusal>;

/// Both versions of a file that changed under a form.
pub struct ConflictView {
    /// The file now on disk.
    pub on_disk: String,
    /// Its serial.
    pub on_disk_serial: u64,
    /// What the change would have written over the version the form was made from, or
    /// why that cannot be shown.
    pub yours: Result<String, String>,
    /// The form's page, to make the change again on the current file.
    pub back: String,
}

/// How an ACCEPT ended.
pub enum Outcome {
    /// Written.
    Saved {
        /// What was done.
        summary: String,
        /// Where to go.
        redirect: String,
        /// The new serial.
        serial: u64,
        /// Warnings about the new file.
        warnings: usize,
    },
    /// The form changed nothing; nothing was written.
    Unchanged {
        /// Where to go.
        redirect: String,
    },
    /// Refused: the form is shown again with these errors, over this version.
    Refused(Box<Current>, FormErrors),
    /// What the form edits is gone.
    Gone(String),
    /// The file changed since the form was made.
    Conflict(Box<ConflictView>),
    /// Reading or writing failed.
    Failed(String),
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Applies a form to lvs.cf and writes the result, if the file is still the version
/// the form was made from and the result is valid.
pub fn commit(state: &WebState, submitted: &Submitted, back: &str, plan: Plan) -> Outcome {
    let bytes = match std::fs::read(&state.lvs_cf) {
        Ok(bytes) => bytes,
        Err(e) => {
            return Outcome::Failed(format!("cannot read {}: {e}", state.lvs_cf.display()));
        }
    };
    if submitted.get(FINGERPRINT) != Some(form::fingerprint(&bytes).as_str()) {
        return Outcome::Conflict(Box::new(conflict(state, submitted, back, plan, bytes)));
    }
    let fingerprint = state.versions.remember(&bytes);
    let loaded = state.checked.check(&fingerprint, &bytes, state);
    let mut errors = FormErrors::default();
    let planned = match plan(&loaded, &mut errors) {
        Ok(planned) if errors.is_empty() => planned,
        Ok(_) | Err(Refusal::Invalid) => {
            return Outcome::Refused(
                Box::new(Current {
                    loaded,
                    fingerprint,
                }),
                errors,
            );
        }
        Err(Refusal::Gone(why)) => return Outcome::Gone(why),
    };
    let stripped = without_lines(state, &loaded, planned.scope, &planned.emptied);
    if stripped.is_none() && planned.config == loaded.config {
        return Outcome::Unchanged {
            redirect: planned.redirect,
        };
    }
    match write::save(
        &state.lvs_cf,
        stripped.as_ref().unwrap_or(&loaded),
        &planned.config,
        &state.resolver,
        &state.kernel,
    ) {
        Ok(saved) => {
            state.versions.remember(&saved.source);
            tracing::info!(
                "web UI: {}: lvs.cf written, serial_no {}",
                planned.summary,
                saved.config.global.serial_no
            );
            Outcome::Saved {
                summary: planned.summary,
                redirect: planned.redirect,
                serial: saved.config.global.serial_no,
                warnings: saved.count(config::Severity::Warning),
            }
        }
        Err(SaveError::Conflict { current, .. }) => {
            let yours = result_of(state, &loaded, &planned)
                .map(|bytes| text(&bytes))
                .map_err(|e| e.to_string());
            Outcome::Conflict(Box::new(ConflictView {
                on_disk_serial: parse::parse(&current, &state.resolver)
                    .config
                    .global
                    .serial_no,
                on_disk: text(&current),
                yours,
                back: back.to_string(),
            }))
        }
        Err(SaveError::Invalid(diagnostics)) => {
            match result_of(state, &loaded, &planned) {
                Ok(bytes) => {
                    let new = parse::parse(&bytes, &state.resolver);
                    let field_of = |keyword: &str| {
                        planned
                            .fields
                            .iter()
                            .find(|(k, _)| *k == keyword)
                            .map(|(_, id)| *id)
                    };
                    form::place_errors(
                        &diagnostics,
                        &new.spans,
                        &new.config,
                        planned.scope,
                        &field_of,
                        &mut errors,
                    );
                }
                Err(e) => errors.top(e.to_string()),
            }
            if errors.is_empty() {
                errors.top("the new configuration is invalid; nothing was written");
            }
            Outcome::Refused(
                Box::new(Current {
                    loaded,
                    fingerprint,
                }),
                errors,
            )
        }
        Err(SaveError::Unwritable(e)) => {
            errors.top(e.to_string());
            Outcome::Refused(
                Box::new(Current {
                    loaded,
                    fingerprint,
                }),
                errors,
            )
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// The bytes a planned change makes of `loaded`, its emptied keywords' lines taken out.
fn result_of(state: &WebState, loaded: &Loaded, planned: &Planned) -> Result<Vec<u8>, WriteError> {
    let stripped = without_lines(state, loaded, planned.scope, &planned.emptied);
    write::prepare(
        stripped.as_ref().unwrap_or(loaded),
        &planned.config,
        &state.resolver,
    )
}

/// `loaded` with the lines of `keywords` taken out of the block `scope` names, checked
/// again, as the version a change is written over (its `source` stays the file's, for
/// the writer's check that nobody changed the file meanwhile); `None` when no such line
/// is there. A keyword's value then is its default, as the emptied field says.
fn without_lines(
    state: &WebState,
    loaded: &Loaded,
    scope: Scope,
    keywords: &[&'static str],
) -> Option<Loaded> {
    if keywords.is_empty() {
        return None;
    }
    let mut document = loaded.document.clone();
    let items = body_of(&mut document.items, scope)?;
    let before = items.len();
    items.retain(|item| {
        !matches!(item, Item::Line(Line { directive: Some(d), .. }) if keywords.contains(&d.keyword))
    });
    if items.len() == before {
        return None;
    }
    let mut stripped = config::check(&document.to_bytes(), &state.resolver, &state.kernel);
    stripped.source = loaded.source.clone();
    Some(stripped)
}

/// The items of the block `scope` names: the file's own for the global section, else
/// the body of the block [`block_of`] finds.
fn body_of(items: &mut Vec<Item>, scope: Scope) -> Option<&mut Vec<Item>> {
    match scope {
        Scope::Global => Some(items),
        _ => block_of(items, scope).map(|block| &mut block.items),
    }
}

/// The block `scope` names: the n-th `virtual` block (the model's order, as the writer
/// pairs them), or its m-th `server` block.
fn block_of(items: &mut [Item], scope: Scope) -> Option<&mut Block> {
    fn nth(items: &mut [Item], kind: BlockKind, n: usize) -> Option<&mut Block> {
        items
            .iter_mut()
            .filter_map(|item| match item {
                Item::Block(block) if block.kind == kind => Some(block),
                _ => None,
            })
            .nth(n)
    }
    match scope {
        Scope::Virtual(n) => nth(items, BlockKind::Virtual, n),
        Scope::Real(n, m) => {
            nth(items, BlockKind::Virtual, n).and_then(|v| nth(&mut v.items, BlockKind::Server, m))
        }
        Scope::Global | Scope::File => None,
    }
}

/// What a DELETE asks about.
pub struct Confirm {
    /// What goes, in words ("virtual server 'http'").
    pub what: String,
    /// Its block.
    pub scope: Scope,
    /// Where the confirming form posts.
    pub action: String,
    /// Where CANCEL goes.
    pub back: String,
}

/// The page that asks before a DELETE: the block as lvs.cf has it, a form that deletes
/// it (a POST with the session's CSRF token and the version shown, so it works without
/// JavaScript and deletes nothing that changed since), and CANCEL.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    frame: Frame,
    status: Status,
    confirm: Confirm,
    /// The lines that go.
    block: String,
}

/// The confirmation page of `confirm`, over the version `current`.
pub async fn confirm_page(
    session: &Session,
    tab: &'static str,
    current: &Current,
    confirm: Confirm,
) -> Response {
    let mut items = current.loaded.document.items.clone();
    let block = block_of(&mut items, confirm.scope)
        .map(|block| {
            let document = crate::config::document::Document {
                items: vec![Item::Block(block.clone())],
            };
            text(&document.to_bytes())
        })
        .unwrap_or_default();
    let page = ConfirmPage {
        frame: Frame::of(session, tab).await,
        status: Status::of(current, FormErrors::default()),
        confirm,
        block,
    };
    page.into_response()
}

/// The conflict between the file on disk and the form: both versions, the second as the
/// form's change would have made it of the version the form was made from.
fn conflict(
    state: &WebState,
    submitted: &Submitted,
    back: &str,
    plan: Plan,
    on_disk: Vec<u8>,
) -> ConflictView {
    let made_from = submitted
        .get(FINGERPRINT)
        .and_then(|print| state.versions.get(print));
    let yours = match made_from {
        None => Err(
            "the version this form was made from is no longer known (shoal web was restarted, or many versions came since), so its result cannot be shown".to_string(),
        ),
        Some(old) => {
            let loaded = config::check(&old, &state.resolver, &state.kernel);
            let mut errors = FormErrors::default();
            match plan(&loaded, &mut errors) {
                Ok(planned) if errors.is_empty() => result_of(state, &loaded, &planned)
                    .map(|bytes| text(&bytes))
                    .map_err(|e| e.to_string()),
                Ok(_) | Err(Refusal::Invalid) => Err(format!(
                    "the change would have been refused anyway: {}",
                    errors.into_top().join("; ")
                )),
                Err(Refusal::Gone(why)) => Err(why),
            }
        }
    };
    ConflictView {
        on_disk_serial: parse::parse(&on_disk, &state.resolver)
            .config
            .global
            .serial_no,
        on_disk: text(&on_disk),
        yours,
        back: back.to_string(),
    }
}

/// Runs file work off the async threads (a check may resolve host names).
pub async fn blocking<T: Send + 'static>(
    state: &State,
    work: impl FnOnce(&WebState) -> T + Send + 'static,
) -> Result<T, String> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| format!("the request failed: {e}"))
}

/// Asks the daemon to reload and says how that went, in a sentence for the page.
pub async fn reload(state: &State) -> String {
    match daemon::ask(state.control.clone(), Request::Reload).await {
        Ok(Answer::Reload(report)) if report.applied => format!(
            "The daemon reloaded it: serial_no {} in use ({} kernel operations).",
            report.serial_no,
            report.operations.len()
        ),
        Ok(Answer::Reload(report)) => format!(
            "The daemon refused to reload and keeps the configuration it had: {}.",
            report.errors.join("; ")
        ),
        Ok(other) => format!("The daemon gave an unexpected answer to the reload: {other:?}."),
        Err(why) => format!(
            "The daemon could not be asked to reload ({why}). The file is written: the daemon uses it when it next starts or reloads."
        ),
    }
}

/// Turns an outcome into the response, except a refusal, which the panel shows itself
/// (its form, with the errors): that comes back as `Err`.
pub async fn respond(
    state: &State,
    session: &Session,
    tab: &'static str,
    outcome: Result<Outcome, String>,
) -> Result<Response, (Box<Current>, FormErrors)> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(why) => return Ok(problem(session, tab, StatusCode::INTERNAL_SERVER_ERROR, why).await),
    };
    Ok(match outcome {
        Outcome::Saved {
            summary,
            redirect,
            serial,
            warnings,
        } => {
            let reloaded = reload(state).await;
            let warned = match warnings {
                0 => String::new(),
                1 => " (1 warning: see the page)".to_string(),
                n => format!(" ({n} warnings: see the page)"),
            };
            let message =
                format!("{summary}: lvs.cf written, serial_no {serial}{warned}. {reloaded}");
            redirect_with(session, &redirect, message)
                .await
                .into_response()
        }
        Outcome::Unchanged { redirect } => redirect_with(
            session,
            &redirect,
            "Nothing changed; lvs.cf was not written.",
        )
        .await
        .into_response(),
        Outcome::Refused(current, errors) => return Err((current, errors)),
        Outcome::Gone(why) => problem(session, tab, StatusCode::CONFLICT, why).await,
        Outcome::Conflict(view) => {
            tracing::warn!("web UI: a form met a changed lvs.cf; nothing was written");
            let page = ConflictPage {
                frame: Frame::of(session, tab).await,
                conflict: *view,
            };
            (StatusCode::CONFLICT, page).into_response()
        }
        Outcome::Failed(why) => problem(session, tab, StatusCode::INTERNAL_SERVER_ERROR, why).await,
    })
}

/// The page of a conflict.
#[derive(Template, WebTemplate)]
#[template(path = "conflict.html")]
pub struct ConflictPage {
    frame: Frame,
    conflict: ConflictView,
}

/// A page that only says what went wrong.
#[derive(Template, WebTemplate)]
#[template(path = "problem.html")]
pub struct ProblemPage {
    frame: Frame,
    message: String,
}

/// A problem page with a status.
pub async fn problem(
    session: &Session,
    tab: &'static str,
    status: StatusCode,
    message: String,
) -> Response {
    let page = ProblemPage {
        frame: Frame::of(session, tab).await,
        message,
    };
    (status, page).into_response()
}

/// A titled group of fields of a form.
pub struct Group<B: 'static> {
    /// Its id (the element is `section-ID`).
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// A note under the title.
    pub note: &'static str,
    /// Shown folded (keywords without effect in shoal).
    pub folded: bool,
    /// Its fields.
    pub specs: Vec<Spec<B>>,
}

impl<B> Group<B> {
    /// A group shown open.
    pub fn new(id: &'static str, title: &'static str, specs: Vec<Spec<B>>) -> Self {
        Group {
            id,
            title,
            note: "",
            folded: false,
            specs,
        }
    }

    /// With a note.
    pub fn note(self, note: &'static str) -> Self {
        Group { note, ..self }
    }

    /// Shown folded.
    pub fn folded(self) -> Self {
        Group {
            folded: true,
            ..self
        }
    }
}

/// A group as the template shows it.
pub struct Section {
    /// `section-ID`.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Note.
    pub note: &'static str,
    /// Folded.
    pub folded: bool,
    /// The inputs.
    pub fields: Vec<FieldView>,
}

/// Applies a form of groups to a block.
pub fn apply_groups<B: Clone>(
    groups: &[Group<B>],
    block: &B,
    submitted: &Submitted,
    state: &WebState,
    errors: &mut FormErrors,
) -> Applied<B> {
    let mut all = Applied {
        block: block.clone(),
        emptied: Vec::new(),
    };
    for group in groups {
        let applied = form::apply(&group.specs, &all.block, submitted, &state.resolver, errors);
        all.block = applied.block;
        all.emptied.extend(applied.emptied);
    }
    all
}

/// The groups as the template shows them.
pub fn sections<B>(
    groups: &[Group<B>],
    block: &B,
    submitted: Option<&Submitted>,
    errors: &mut FormErrors,
) -> Vec<Section> {
    groups
        .iter()
        .map(|group| Section {
            id: group.id,
            title: group.title,
            note: group.note,
            folded: group.folded,
            fields: form::views(&group.specs, block, submitted, errors),
        })
        .collect()
}

/// Keyword to input id of every field of the groups.
pub fn field_map<B>(groups: &[Group<B>]) -> Vec<(&'static str, &'static str)> {
    let mut map = Vec::new();
    for group in groups {
        for spec in &group.specs {
            if !map.iter().any(|(k, _)| *k == spec.keyword.name) {
                map.push((spec.keyword.name, spec.id));
            }
        }
    }
    map
}

/// The state of the file and of the last submission, shown above every form.
pub struct Status {
    /// The fingerprint for the hidden field.
    pub fingerprint: String,
    /// The file's serial.
    pub serial: u64,
    /// What was wrong with the form that no field shows.
    pub problems: Vec<String>,
    /// The file's own errors now.
    pub file_errors: Vec<String>,
    /// The file's warnings now.
    pub warnings: Vec<String>,
}

impl Status {
    /// The status of a version, with the form's leftover errors.
    pub fn of(current: &Current, errors: FormErrors) -> Status {
        let (file_errors, warnings): (Vec<_>, Vec<_>) = current
            .loaded
            .diagnostics
            .iter()
            .partition(|d| d.is_error());
        Status {
            fingerprint: current.fingerprint.clone(),
            serial: current.loaded.config.global.serial_no,
            problems: errors.into_top(),
            file_errors: file_errors.iter().map(|d| d.render("lvs.cf")).collect(),
            warnings: warnings.iter().map(|d| d.render("lvs.cf")).collect(),
        }
    }
}

/// The input for a block's name (not a keyword: the word after `virtual` or `server`).
pub fn name_view(
    name: &str,
    what: &str,
    submitted: Option<&Submitted>,
    errors: &mut FormErrors,
) -> FieldView {
    FieldView {
        id: "name".into(),
        label: "Name".into(),
        keyword: String::new(),
        help: format!(
            "A label for this {what}, one word (not a host name); the UI, shoal status and shoal drain use it."
        ),
        default: String::new(),
        kind: "text",
        value: submitted
            .and_then(|s| s.get("name"))
            .map_or_else(|| name.to_string(), str::to_string),
        options: Vec::new(),
        checked: false,
        error: errors.take("name"),
        origin: "",
    }
}

/// Reads the name field: the new name (the current one when the form did not send it);
/// a name that is not one word is an error beside the field.
pub fn new_name(current: &str, submitted: &Submitted, errors: &mut FormErrors) -> String {
    let Some(sent) = submitted.get("name").map(str::trim) else {
        return current.to_string();
    };
    if sent == current {
        return current.to_string();
    }
    let bare = crate::config::lexer::tokenize(sent).is_ok_and(
        |tokens| matches!(tokens.as_slice(), [t] if t.quote.is_none() && t.text == sent),
    );
    if sent.is_empty() {
        errors.field("name", "a name is needed");
    } else if !bare || sent.contains(['{', '}']) || sent.starts_with('#') {
        errors.field(
            "name",
            "a name is one word, without blanks, quotes, braces or a leading #",
        );
    }
    sent.to_string()
}

/// `Some((index, name))` of a list's radio value `INDEX:NAME`.
pub fn selection(value: Option<&str>) -> Option<(usize, String)> {
    let (index, name) = value?.split_once(':')?;
    Some((index.parse().ok()?, name.to_string()))
}

/// Finds a block by the index and name a page was made with: at that index if the
/// name is still there, else by the name if exactly one block has it; `None` otherwise.
pub fn find<T>(
    items: &[T],
    name_of: impl Fn(&T) -> &str,
    index: usize,
    name: &str,
) -> Option<usize> {
    if items.get(index).is_some_and(|item| name_of(item) == name) {
        return Some(index);
    }
    let mut matching = items
        .iter()
        .enumerate()
        .filter(|(_, item)| name_of(item) == name);
    match (matching.next(), matching.next()) {
        (Some((at, _)), None) => Some(at),
        _ => None,
    }
}

/// The first `PREFIXn` (n from 1) that no block has.
pub fn unused_name<T>(items: &[T], name_of: impl Fn(&T) -> &str, prefix: &str) -> String {
    (1..)
        .map(|n| format!("{prefix}{n}"))
        .find(|candidate| !items.iter().any(|item| name_of(item) == candidate))
        .unwrap_or_else(|| prefix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_by_index_and_name_or_by_a_unique_name() {
        fn name_of<'a>(name: &'a &str) -> &'a str {
            name
        }
        let names = ["http", "ftp", "dns"];
        assert_eq!(find(&names, name_of, 1, "ftp"), Some(1));
        assert_eq!(find(&names, name_of, 0, "ftp"), Some(1), "moved");
        assert_eq!(find(&names, name_of, 1, "smtp"), None, "gone");
        assert_eq!(find(&["a", "a"], name_of, 5, "a"), None, "ambiguous");
        assert_eq!(selection(Some("2:a:b")), Some((2, "a:b".to_string())));
        assert_eq!(selection(Some("x:a")), None);
        assert_eq!(selection(None), None);
        assert_eq!(unused_name(&["virtual1"], name_of, "virtual"), "virtual2");
    }

    #[test]
    fn names_must_be_one_word() {
        let mut errors = FormErrors::default();
        let form = |name: &str| Submitted::new(vec![("name".into(), name.into())]);
        assert_eq!(new_name("web", &form(" www "), &mut errors), "www");
        assert!(errors.is_empty());
        for bad in ["two words", "\"quoted\"", "", "a{", "#x"] {
            new_name("web", &form(bad), &mut errors);
            assert!(errors.take("name").is_some(), "{bad}");
        }
        assert_eq!(new_name("web", &Submitted::default(), &mut errors), "web");
    }
}
