//! The form machinery of the editing panels.
//!
//! A field is a keyword of one of the keyword tables ([`crate::config::keywords`]): its
//! text is the keyword's value tokens as lvs.cf has them (`get`, joined by blanks, so a
//! quoted value shows with its quotes, as it is typed), its help is the table's. On a
//! POST a field whose text is unchanged is left alone, an emptied one clears the keyword
//! (`clear`: back to the default, and its line is taken out of the file), and any other
//! text is cut into tokens by the lvs.cf lexer and read by the keyword's own `set`, on a
//! copy of the block: the same rules as `shoal check`, so the UI cannot accept what the
//! file would refuse. What a field's value alone cannot show wrong (a VIP used twice,
//! deadtime below keepalive) comes back from the validation of the whole new file, and
//! is put beside the field its line sets.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::config::Diagnostic;
use crate::config::keywords::{self, Keyword, Origin};
use crate::config::lexer::{self, Token};
use crate::config::model::Config;
use crate::config::model::KeywordValue;
use crate::config::parse::{self, BlockSpan, Spans};
use crate::config::resolve::Resolver;
use crate::config::values::ParseContext;

/// How a field is entered.
#[derive(Debug, Clone)]
pub enum Widget {
    /// A text input holding the value tokens as written in lvs.cf.
    Text,
    /// A drop-down: `(value, label)`; the value `""` clears the keyword.
    Choice(Vec<(String, String)>),
    /// A checkbox for a `0`/`1` keyword.
    Switch,
    /// One value of a keyword that takes several (`address = VIP DEVICE`): the parts
    /// of one keyword are joined in index order.
    Part(usize),
}

/// A rule of a panel on a block's value, with the sentence that says what is allowed.
pub type Limit<B> = fn(&B) -> Result<(), String>;

/// One input of a form.
pub struct Spec<B: 'static> {
    /// The keyword it edits.
    pub keyword: &'static Keyword<B>,
    /// The input's `id` and `name`: the keyword, or for a second part its own name.
    pub id: &'static str,
    /// What the page calls it (Piranha's label where it had one).
    pub label: &'static str,
    /// How it is entered.
    pub widget: Widget,
    /// A rule of the panel on top of the keyword's (a sync daemon id is 0 to 255).
    pub limit: Option<Limit<B>>,
}

fn keyword<B>(table: &'static [Keyword<B>], name: &str) -> &'static Keyword<B> {
    match keywords::lookup(table, name) {
        Some(keyword) => keyword,
        None => panic!("the form names '{name}', which is no keyword of its table"),
    }
}

impl<B> Spec<B> {
    /// A text field for `name`.
    pub fn text(table: &'static [Keyword<B>], name: &'static str, label: &'static str) -> Self {
        Spec {
            keyword: keyword(table, name),
            id: name,
            label,
            widget: Widget::Text,
            limit: None,
        }
    }

    /// A drop-down; `options` are `(value, label)` pairs.
    pub fn choice(
        table: &'static [Keyword<B>],
        name: &'static str,
        label: &'static str,
        options: Vec<(String, String)>,
    ) -> Self {
        Spec {
            widget: Widget::Choice(options),
            ..Spec::text(table, name, label)
        }
    }

    /// A drop-down of every spelling of a closed set, labelled as spelt; `blank` adds a
    /// first option that clears the keyword, labelled with its default.
    pub fn choices<E: KeywordValue>(
        table: &'static [Keyword<B>],
        name: &'static str,
        label: &'static str,
        blank: bool,
    ) -> Self {
        let keyword = keyword(table, name);
        let mut options: Vec<(String, String)> = Vec::new();
        if blank {
            options.push((String::new(), format!("(default: {})", keyword.default)));
        }
        options.extend(
            E::all()
                .iter()
                .map(|v| (v.as_str().to_string(), v.as_str().to_string())),
        );
        Spec::choice(table, name, label, options)
    }

    /// A checkbox.
    pub fn switch(table: &'static [Keyword<B>], name: &'static str, label: &'static str) -> Self {
        Spec {
            widget: Widget::Switch,
            ..Spec::text(table, name, label)
        }
    }

    /// Value number `index` of `name`, in an input of its own called `id`.
    pub fn part(
        table: &'static [Keyword<B>],
        name: &'static str,
        id: &'static str,
        label: &'static str,
        index: usize,
    ) -> Self {
        Spec {
            id,
            widget: Widget::Part(index),
            ..Spec::text(table, name, label)
        }
    }

    /// With a rule of the panel's own, checked when the field changed.
    pub fn limited(self, limit: Limit<B>) -> Self {
        Spec {
            limit: Some(limit),
            ..self
        }
    }
}

/// A submitted form: its fields in order; a name sent twice counts with its last value
/// (a checkbox follows a hidden `0` of the same name, so an unchecked box sends `0`).
#[derive(Debug, Clone, Default)]
pub struct Submitted {
    fields: Vec<(String, String)>,
}

impl Submitted {
    /// The form as the browser sent it.
    pub fn new(fields: Vec<(String, String)>) -> Self {
        Submitted { fields }
    }

    /// A field's value (its last), `None` when the form did not have it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Takes a field out, as if the form had not had it (left alone).
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(key, _)| key != name);
    }

    /// Sets a field as if the browser had sent it (a BLANK button empties one).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.fields.retain(|(key, _)| key != name);
        self.fields.push((name.to_string(), value.into()));
    }
}

/// What was wrong with a form: beside a field, or at the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: BTreeMap<String, Vec<String>>,
    top: Vec<String>,
}

impl FormErrors {
    /// An error beside the input `id`.
    pub fn field(&mut self, id: &str, message: impl Into<String>) {
        let messages = self.fields.entry(id.to_string()).or_default();
        let message = message.into();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }

    /// An error about the form as a whole.
    pub fn top(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.top.contains(&message) {
            self.top.push(message);
        }
    }

    /// Whether there is nothing wrong.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.top.is_empty()
    }

    /// The error beside `id`, taken out (so what no field takes ends at the top).
    pub fn take(&mut self, id: &str) -> Option<String> {
        self.fields.remove(id).map(|messages| messages.join("; "))
    }

    /// The errors for the top of the form: its own, then any for a field the form has
    /// not shown.
    pub fn into_top(self) -> Vec<String> {
        let mut top = self.top;
        for (id, messages) in self.fields {
            for message in messages {
                top.push(format!("{id}: {message}"));
            }
        }
        top
    }
}

/// The text a keyword's field shows: its value tokens as written, joined by blanks.
pub fn text_of<B>(keyword: &Keyword<B>, block: &B) -> String {
    (keyword.get)(block)
        .map(|tokens| tokens.join(" "))
        .unwrap_or_default()
}

/// The text one input shows.
fn input_text<B>(spec: &Spec<B>, block: &B) -> String {
    match spec.widget {
        Widget::Part(index) => (spec.keyword.get)(block)
            .and_then(|tokens| tokens.get(index).cloned())
            .unwrap_or_default(),
        _ => text_of(spec.keyword, block),
    }
}

/// What a form made of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<B> {
    /// The block with the form's values.
    pub block: B,
    /// The keywords whose inputs were emptied: their lines are to be taken out of the
    /// file, so that the default applies (the model alone cannot tell a default written
    /// out from one left out, and the writer would write it out).
    pub emptied: Vec<&'static str>,
}

/// Reads the submitted fields into a copy of `block`; what is wrong goes to `errors`
/// beside its field. Fields the form did not send, and fields sent unchanged, are left
/// as they are; an emptied field clears its keyword and is listed in
/// [`Applied::emptied`].
pub fn apply<B: Clone>(
    specs: &[Spec<B>],
    block: &B,
    submitted: &Submitted,
    resolver: &dyn Resolver,
    errors: &mut FormErrors,
) -> Applied<B> {
    let mut new = block.clone();
    let mut emptied = Vec::new();
    let mut done: Vec<&'static str> = Vec::new();
    for spec in specs {
        let name = spec.keyword.name;
        if done.contains(&name) {
            continue;
        }
        done.push(name);
        let mut parts: Vec<&Spec<B>> = specs.iter().filter(|s| s.keyword.name == name).collect();
        parts.sort_by_key(|s| match s.widget {
            Widget::Part(index) => index,
            _ => 0,
        });
        // Each input's text: as sent, or as it was when the form did not send it.
        let texts: Vec<(String, &'static str, bool)> = parts
            .iter()
            .map(|part| {
                let before = input_text(part, block);
                match submitted.get(part.id) {
                    Some(sent) => {
                        let sent = sent.trim().to_string();
                        let changed = sent != before;
                        (sent, part.id, changed)
                    }
                    None => (before, part.id, false),
                }
            })
            .collect();
        if !texts.iter().any(|(_, _, changed)| *changed) {
            continue;
        }
        if texts.iter().all(|(text, _, _)| text.is_empty()) {
            (spec.keyword.clear)(&mut new);
            emptied.push(name);
        } else if let Err((id, message)) = read_into(spec.keyword, &texts, &mut new, resolver) {
            errors.field(id, message);
            continue;
        }
        for part in &parts {
            if let Some(limit) = part.limit
                && let Err(message) = limit(&new)
            {
                errors.field(part.id, message);
            }
        }
    }
    Applied {
        block: new,
        emptied,
    }
}

/// Cuts the inputs' texts into tokens and reads them with the keyword's `set`; an
/// error names the input it concerns.
fn read_into<B>(
    keyword: &'static Keyword<B>,
    texts: &[(String, &'static str, bool)],
    block: &mut B,
    resolver: &dyn Resolver,
) -> Result<(), (&'static str, String)> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut owners: Vec<&'static str> = Vec::new();
    for (text, id, _) in texts {
        let cut = lexer::tokenize(text).map_err(|quote| {
            (
                *id,
                format!(
                    "the {} opened at column {} is never closed",
                    if quote.quote == '"' {
                        "double quote"
                    } else {
                        "quote"
                    },
                    quote.column
                ),
            )
        })?;
        owners.extend(std::iter::repeat_n(*id, cut.len()));
        tokens.extend(cut);
    }
    let first = texts.first().map_or("", |(_, id, _)| *id);
    if let Some(message) = parse::arity_mismatch(keyword.name, keyword.arity, tokens.len()) {
        // A part left empty, else the one with too many words.
        let id = if texts.len() > 1 {
            texts
                .iter()
                .find(|(text, _, _)| text.is_empty())
                .or_else(|| {
                    texts
                        .iter()
                        .find(|(text, _, _)| lexer::tokenize(text).is_ok_and(|t| t.len() > 1))
                })
                .map_or(first, |(_, id, _)| *id)
        } else {
            first
        };
        return Err((id, message));
    }
    let mut cx = ParseContext {
        resolver,
        warnings: Vec::new(),
    };
    (keyword.set)(block, &tokens, &mut cx).map_err(|problem| {
        let id = owners.get(problem.token).copied().unwrap_or(first);
        (id, problem.message)
    })
}

/// One option of a drop-down, as the template shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionView {
    /// What is sent.
    pub value: String,
    /// What is shown.
    pub label: String,
    /// Whether it is the field's value.
    pub selected: bool,
}

/// One input as the template shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    /// `id` and `name`.
    pub id: String,
    /// The label.
    pub label: String,
    /// The keyword, as written in lvs.cf (shown for the administrator who edits the file).
    pub keyword: String,
    /// One sentence of help (empty for a second part).
    pub help: String,
    /// The default, as the reference writes it.
    pub default: String,
    /// `text`, `select` or `checkbox`.
    pub kind: &'static str,
    /// The text (for `text`).
    pub value: String,
    /// The options (for `select`).
    pub options: Vec<OptionView>,
    /// Whether a checkbox is ticked.
    pub checked: bool,
    /// What was wrong with the value sent.
    pub error: Option<String>,
    /// `shoal` for an extension, `ignored` for a keyword without effect, else empty.
    pub origin: &'static str,
}

/// The inputs of `specs` showing `block`, or what was sent when a refused form is shown
/// again; each takes its error out of `errors`.
pub fn views<B>(
    specs: &[Spec<B>],
    block: &B,
    submitted: Option<&Submitted>,
    errors: &mut FormErrors,
) -> Vec<FieldView> {
    specs
        .iter()
        .map(|spec| {
            let value = submitted
                .and_then(|s| s.get(spec.id))
                .map(str::to_string)
                .unwrap_or_else(|| input_text(spec, block));
            let second_part = matches!(spec.widget, Widget::Part(index) if index > 0);
            let (kind, options, checked) = match &spec.widget {
                Widget::Choice(options) => {
                    let mut shown: Vec<OptionView> = options
                        .iter()
                        .map(|(option, label)| OptionView {
                            value: option.clone(),
                            label: label.clone(),
                            selected: *option == value,
                        })
                        .collect();
                    if !shown.iter().any(|o| o.selected) {
                        // A value the list does not have (a load monitor command, or a
                        // default the list spells differently): kept as it is.
                        shown.insert(
                            0,
                            OptionView {
                                value: value.clone(),
                                label: if value.is_empty() {
                                    format!("(default: {})", spec.keyword.default)
                                } else {
                                    value.clone()
                                },
                                selected: true,
                            },
                        );
                    }
                    ("select", shown, false)
                }
                Widget::Switch => ("checkbox", Vec::new(), value == "1"),
                Widget::Text | Widget::Part(_) => ("text", Vec::new(), false),
            };
            FieldView {
                id: spec.id.to_string(),
                label: spec.label.to_string(),
                keyword: spec.keyword.name.to_string(),
                help: if second_part {
                    String::new()
                } else {
                    spec.keyword.help.to_string()
                },
                default: if second_part {
                    String::new()
                } else {
                    spec.keyword.default.to_string()
                },
                kind,
                value,
                options,
                checked,
                error: errors.take(spec.id),
                origin: match spec.keyword.origin {
                    Origin::Piranha => "",
                    Origin::Shoal => "shoal",
                    Origin::Ignored => "ignored",
                },
            }
        })
        .collect()
}

/// The input a keyword's problems are shown beside, in a form of `specs`: its first part.
pub fn id_of<B>(specs: &[Spec<B>], keyword: &str) -> Option<&'static str> {
    specs
        .iter()
        .find(|s| s.keyword.name == keyword)
        .map(|s| s.id)
}

/// Which block of a file a form edits, to put the new file's findings beside its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The global section.
    Global,
    /// Virtual server number `n`.
    Virtual(usize),
    /// Real server `m` of virtual server `n`.
    Real(usize, usize),
    /// The file as a whole (a list action): every finding goes to the top.
    File,
}

/// The block that line `line` of a file belongs to, by the spans of the file.
fn owner_of(spans: &Spans, line: usize) -> Option<Scope> {
    let sets = |span: &BlockSpan| span.keywords.values().any(|(l, _)| *l == line);
    if line == 0 || sets(&spans.global) {
        return Some(Scope::Global);
    }
    for (n, span) in spans.virtual_servers.iter().enumerate() {
        for (m, server) in span.servers.iter().enumerate() {
            if server.line == line || sets(server) {
                return Some(Scope::Real(n, m));
            }
        }
        if span.line == line || sets(span) {
            return Some(Scope::Virtual(n));
        }
    }
    None
}

/// Where a finding is, in words, for one shown at the top of a form.
fn place_of(scope: Option<Scope>, config: &Config, keyword: Option<&str>) -> String {
    let name = |n: usize| {
        config
            .virtual_servers
            .get(n)
            .map_or("?", |v| v.name.as_str())
    };
    let block = match scope {
        Some(Scope::Global) => "global settings".to_string(),
        Some(Scope::Virtual(n)) => format!("virtual server '{}'", name(n)),
        Some(Scope::Real(n, m)) => format!(
            "virtual server '{}', real server '{}'",
            name(n),
            config
                .virtual_servers
                .get(n)
                .and_then(|v| v.servers.get(m))
                .map_or("?", |r| r.name.as_str())
        ),
        Some(Scope::File) | None => "lvs.cf".to_string(),
    };
    match keyword {
        Some(keyword) if !matches!(keyword, "virtual" | "server") => {
            format!("{block}, {keyword}")
        }
        _ => block,
    }
}

/// Puts the errors of a new file beside the fields of the form that edits `scope`:
/// a finding on a line of that block, about a keyword the form has (`field_of`), goes
/// beside that field; a finding about the block's name (its header line) beside
/// `name`; a finding that another block of the same list got but that names the edited
/// one (a name used twice) as if it were the edited one's; anything else at the top,
/// saying where it is. `spans` and `config` are the new file's.
pub fn place_errors(
    diagnostics: &[Diagnostic],
    spans: &Spans,
    config: &Config,
    scope: Scope,
    field_of: &dyn Fn(&str) -> Option<&'static str>,
    errors: &mut FormErrors,
) {
    let edited = match scope {
        Scope::Virtual(n) => config.virtual_servers.get(n).map(|v| v.name.as_str()),
        Scope::Real(n, m) => config
            .virtual_servers
            .get(n)
            .and_then(|v| v.servers.get(m))
            .map(|r| r.name.as_str()),
        Scope::Global | Scope::File => None,
    };
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        let owner = owner_of(spans, diagnostic.line);
        let keyword = diagnostic.keyword.as_deref();
        // A finding between two blocks (a name used twice, a shared firewall mark) is
        // placed on the later block; it concerns the edited one too when it names it.
        let between = match (owner, scope) {
            (Some(Scope::Virtual(_)), Scope::Virtual(_)) => true,
            (Some(Scope::Real(n, _)), Scope::Real(m, _)) => n == m,
            _ => false,
        } && edited
            .is_some_and(|name| diagnostic.message.contains(&format!("'{name}'")));
        if owner == Some(scope) || between {
            let field = match keyword {
                Some("virtual" | "server") => field_of("name"),
                Some(keyword) => field_of(keyword),
                None => None,
            };
            if let Some(id) = field {
                errors.field(id, diagnostic.message.clone());
                continue;
            }
        }
        errors.top(format!(
            "{}: {}",
            place_of(owner, config, keyword),
            diagnostic.message
        ));
    }
}

/// A short fingerprint of a version of lvs.cf: the first 128 bits of its SHA-256, hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The versions of lvs.cf that forms were recently made from, by fingerprint, so a
/// conflict can show what a form's change would have made of its own version.
pub struct Versions {
    capacity: usize,
    entries: Mutex<VecDeque<(String, Arc<Vec<u8>>)>>,
}

/// How many versions [`Versions`] keeps by default.
pub const KEPT_VERSIONS: usize = 32;

impl Default for Versions {
    fn default() -> Self {
        Versions::new(KEPT_VERSIONS)
    }
}

impl Versions {
    /// A cache of at most `capacity` versions.
    pub fn new(capacity: usize) -> Self {
        Versions {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps a version (as the newest); returns its fingerprint.
    pub fn remember(&self, bytes: &[u8]) -> String {
        let print = fingerprint(bytes);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let kept = match entries.iter().position(|(p, _)| *p == print) {
            Some(at) => entries.remove(at).map(|(_, b)| b),
            None => None,
        };
        let bytes = kept.unwrap_or_else(|| Arc::new(bytes.to_vec()));
        entries.push_back((print.clone(), bytes));
        while entries.len() > self.capacity {
            entries.pop_front();
        }
        print
    }

    /// The version with this fingerprint, if still kept.
    pub fn get(&self, print: &str) -> Option<Arc<Vec<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .find(|(p, _)| p == print)
            .map(|(_, b)| Arc::clone(b))
    }
}

/// Percent-encodes a path segment (a virtual server's name in a URL).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keywords::{GLOBAL, SERVER, VIRTUAL};
    use crate::config::model::{GlobalSettings, Protocol, RealServer, Scheduler, VirtualServer};
    use crate::config::resolve::StaticResolver;

    fn sent(fields: &[(&str, &str)]) -> Submitted {
        Submitted::new(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn virtual_specs() -> Vec<Spec<VirtualServer>> {
        vec![
            Spec::text(VIRTUAL, "port", "Application port"),
            Spec::choices::<Protocol>(VIRTUAL, "protocol", "Protocol", false),
            Spec::part(VIRTUAL, "address", "address", "Virtual IP address", 0),
            Spec::part(VIRTUAL, "address", "address_device", "Device", 1),
            Spec::switch(VIRTUAL, "quiesce_server", "Quiesce server"),
            Spec::text(VIRTUAL, "send", "Send"),
            Spec::choices::<Scheduler>(VIRTUAL, "scheduler", "Scheduling", false),
        ]
    }

    fn web() -> VirtualServer {
        let mut web = VirtualServer::new("web");
        web.port = 8080;
        web.send = Some("GET / HTTP/1.0\r\n\r\n".into());
        web.address = Some(crate::config::model::InterfaceAddress {
            address: "192.0.2.10".parse().expect("ip"),
            device: "eth0:1".into(),
        });
        web
    }

    fn apply_to(block: &VirtualServer, form: &Submitted) -> (VirtualServer, FormErrors) {
        let mut errors = FormErrors::default();
        let new = apply(
            &virtual_specs(),
            block,
            form,
            &StaticResolver::default(),
            &mut errors,
        );
        (new.block, errors)
    }

    #[test]
    fn fields_show_the_values_as_written() {
        let mut errors = FormErrors::default();
        let shown = views(&virtual_specs(), &web(), None, &mut errors);
        let value = |id: &str| {
            shown
                .iter()
                .find(|f| f.id == id)
                .map(|f| f.value.clone())
                .expect("field")
        };
        assert_eq!(value("port"), "8080");
        assert_eq!(value("address"), "192.0.2.10");
        assert_eq!(value("address_device"), "eth0:1");
        assert_eq!(value("send"), "\"GET / HTTP/1.0\\r\\n\\r\\n\"");
        assert_eq!(value("quiesce_server"), "0");
        let protocol = shown.iter().find(|f| f.id == "protocol").expect("field");
        assert_eq!(protocol.kind, "select");
        assert!(
            protocol
                .options
                .iter()
                .any(|o| o.value == "tcp" && o.selected)
        );
        assert_eq!(
            shown[0].help,
            keywords::lookup(VIRTUAL, "port").expect("port").help
        );
        assert!(
            shown[3].help.is_empty(),
            "a second part has no help of its own"
        );
    }

    #[test]
    fn unchanged_and_absent_fields_are_left_alone() {
        let block = web();
        let form = sent(&[
            ("port", " 8080 "),
            ("send", "\"GET / HTTP/1.0\\r\\n\\r\\n\""),
            ("address", "192.0.2.10"),
            ("address_device", "eth0:1"),
        ]);
        let (new, errors) = apply_to(&block, &form);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(new, block);
    }

    #[test]
    fn changed_fields_are_read_like_the_file() {
        let form = sent(&[
            ("port", "ftp"),
            ("protocol", "udp"),
            ("address_device", "eth0:7"),
            ("send", "\"quit\\r\\n\""),
            ("quiesce_server", "0"),
            ("quiesce_server", "1"),
        ]);
        let mut resolver = StaticResolver::default();
        resolver.services.insert("ftp".into(), 21);
        let mut errors = FormErrors::default();
        let new = apply(&virtual_specs(), &web(), &form, &resolver, &mut errors).block;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(new.port, 21);
        assert_eq!(new.protocol, Protocol::Udp);
        assert_eq!(
            new.address.as_ref().map(|a| a.device.as_str()),
            Some("eth0:7")
        );
        assert_eq!(new.send.as_deref(), Some("quit\r\n"));
        assert!(new.quiesce_server, "the checkbox's 1 follows its hidden 0");
    }

    #[test]
    fn emptied_fields_clear_their_keyword() {
        let form = sent(&[
            ("port", ""),
            ("send", "  "),
            ("address", ""),
            ("address_device", ""),
        ]);
        let mut errors = FormErrors::default();
        let applied = apply(
            &virtual_specs(),
            &web(),
            &form,
            &StaticResolver::default(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let new = applied.block;
        assert_eq!(new.port, 80, "back to the default");
        assert_eq!(new.send, None);
        assert_eq!(new.address, None);
        assert_eq!(
            applied.emptied,
            ["port", "address", "send"],
            "their lines are to go"
        );
        // A field sent as it was is not emptied, even when it shows the default.
        let mut errors = FormErrors::default();
        let applied = apply(
            &virtual_specs(),
            &VirtualServer::new("w"),
            &sent(&[("port", "80"), ("send", "")]),
            &StaticResolver::default(),
            &mut errors,
        );
        assert!(applied.emptied.is_empty(), "{:?}", applied.emptied);
    }

    #[test]
    fn bad_values_are_refused_beside_their_field() {
        let form = sent(&[
            ("port", "eighty"),
            ("send", "\"unclosed"),
            ("address", "192.0.2.300"),
            ("scheduler", "fastest"),
        ]);
        let (new, mut errors) = apply_to(&web(), &form);
        assert_eq!(new, web(), "nothing of a refused field is taken");
        assert!(errors.take("port").is_some_and(|m| m.contains("eighty")));
        assert!(
            errors
                .take("send")
                .is_some_and(|m| m.contains("never closed"))
        );
        assert!(
            errors
                .take("address")
                .is_some_and(|m| m.contains("192.0.2.300"))
        );
        assert!(
            errors
                .take("scheduler")
                .is_some_and(|m| m.contains("fastest"))
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn values_of_the_wrong_count_name_the_input() {
        let (_, mut errors) = apply_to(&web(), &sent(&[("address_device", "")]));
        assert!(
            errors
                .take("address_device")
                .is_some_and(|m| m.contains("missing arguments")),
            "the empty part"
        );
        let (_, mut errors) = apply_to(&web(), &sent(&[("send", "GET / HTTP/1.0")]));
        assert!(
            errors
                .take("send")
                .is_some_and(|m| m.contains("quote a value that contains blanks"))
        );
        let (_, mut errors) = apply_to(&web(), &sent(&[("address_device", "eth0 eth1")]));
        assert!(errors.take("address_device").is_some());
    }

    #[test]
    fn panel_limits_apply_to_changed_fields() {
        let specs =
            vec![
                Spec::text(GLOBAL, "syncd_id", "Sync daemon id").limited(|g: &GlobalSettings| {
                    if g.syncd_id > 255 {
                        Err("0 to 255".into())
                    } else {
                        Ok(())
                    }
                }),
            ];
        let mut errors = FormErrors::default();
        let resolver = StaticResolver::default();
        let block = GlobalSettings::default();
        apply(
            &specs,
            &block,
            &sent(&[("syncd_id", "256")]),
            &resolver,
            &mut errors,
        );
        assert_eq!(errors.take("syncd_id").as_deref(), Some("0 to 255"));
        let new = apply(
            &specs,
            &block,
            &sent(&[("syncd_id", "255")]),
            &resolver,
            &mut errors,
        )
        .block;
        assert!(errors.is_empty());
        assert_eq!(new.syncd_id, 255);
    }

    #[test]
    fn a_refused_form_shows_what_was_sent_and_its_errors() {
        let mut errors = FormErrors::default();
        errors.field("port", "bad port");
        errors.field("nowhere", "lost");
        errors.top("whole");
        let shown = views(
            &virtual_specs(),
            &web(),
            Some(&sent(&[("port", "eighty")])),
            &mut errors,
        );
        assert_eq!(shown[0].value, "eighty");
        assert_eq!(shown[0].error.as_deref(), Some("bad port"));
        assert_eq!(errors.into_top(), vec!["whole", "nowhere: lost"]);
    }

    #[test]
    fn choices_keep_a_value_the_list_lacks() {
        let specs = vec![Spec::choice(
            VIRTUAL,
            "load_monitor",
            "Load monitoring tool",
            vec![("none".into(), "none".into()), ("rup".into(), "rup".into())],
        )];
        let mut block = VirtualServer::new("w");
        block.load_monitor = crate::config::model::LoadMonitor::Command("/bin/load".into());
        let shown = views(&specs, &block, None, &mut FormErrors::default());
        assert_eq!(shown[0].options[0].value, "/bin/load");
        assert!(shown[0].options[0].selected);
    }

    #[test]
    fn findings_of_the_new_file_go_beside_their_field() {
        let text = "primary = 192.0.2.1\nkeepalive = 6\ndeadtime = 2\nvirtual web {\n  active = 1\n  port = 80\n  server a {\n    address = 198.51.100.1\n    active = 1\n    weight = 3\n  }\n}\n";
        let loaded = crate::config::check(
            text.as_bytes(),
            &StaticResolver::default(),
            &crate::config::KernelFeatures::unknown(),
        );
        assert!(loaded.has_errors());
        let global = [
            Spec::text(GLOBAL, "keepalive", "Heartbeat interval"),
            Spec::text(GLOBAL, "deadtime", "Assume dead after"),
        ];
        let mut errors = FormErrors::default();
        place_errors(
            &loaded.diagnostics,
            &loaded.spans,
            &loaded.config,
            Scope::Global,
            &|k| id_of(&global, k),
            &mut errors,
        );
        assert!(errors.take("deadtime").is_some(), "{errors:?}");
        let top = errors.into_top();
        assert!(
            top.iter()
                .any(|m| m.starts_with("virtual server 'web', address: ")),
            "{top:?}"
        );
        let virtual_form = [
            Spec::part(VIRTUAL, "address", "address", "VIP", 0),
            Spec::text(VIRTUAL, "port", "Port"),
        ];
        let mut errors = FormErrors::default();
        place_errors(
            &loaded.diagnostics,
            &loaded.spans,
            &loaded.config,
            Scope::Virtual(0),
            &|k| id_of(&virtual_form, k),
            &mut errors,
        );
        assert!(
            errors
                .take("address")
                .is_some_and(|m| m.contains("no address")),
            "a finding on the block's header, about a keyword it lacks"
        );
        let real = [Spec::text(SERVER, "weight", "Weight")];
        let mut errors = FormErrors::default();
        place_errors(
            &loaded.diagnostics,
            &loaded.spans,
            &loaded.config,
            Scope::Real(0, 0),
            &|k| id_of(&real, k),
            &mut errors,
        );
        assert!(errors.take("weight").is_none());
        assert!(!errors.into_top().is_empty());
        let _ = RealServer::new("unused");
    }

    #[test]
    fn findings_between_blocks_go_to_the_edited_one_they_name() {
        let text =
            "virtual web {\n  port = 80\n}\nvirtual ftp {\n  port = 21\n}\nvirtual web {\n}\n";
        let loaded = crate::config::check(
            text.as_bytes(),
            &StaticResolver::default(),
            &crate::config::KernelFeatures::unknown(),
        );
        let specs = [Spec::text(VIRTUAL, "port", "Port")];
        let field_of = |k: &str| {
            if k == "name" {
                Some("name")
            } else {
                id_of(&specs, k)
            }
        };
        let place = |scope| {
            let mut errors = FormErrors::default();
            place_errors(
                &loaded.diagnostics,
                &loaded.spans,
                &loaded.config,
                scope,
                &field_of,
                &mut errors,
            );
            errors
        };
        let mut first = place(Scope::Virtual(0));
        assert!(first.take("name").is_some_and(|m| m.contains("used twice")));
        let mut other = place(Scope::Virtual(1));
        assert!(other.take("name").is_none(), "ftp is not named");
        assert_eq!(other.into_top().len(), 1);
    }

    #[test]
    fn versions_are_kept_by_fingerprint_and_bounded() {
        let versions = Versions::new(2);
        let a = versions.remember(b"a");
        let b = versions.remember(b"b");
        assert_eq!(versions.get(&a).as_deref(), Some(&b"a".to_vec()));
        versions.remember(b"a");
        versions.remember(b"c");
        assert!(versions.get(&b).is_none(), "the oldest went");
        assert!(versions.get(&a).is_some(), "used again, so kept");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn names_are_encoded_as_one_segment() {
        assert_eq!(segment("web"), "web");
        assert_eq!(segment("a/b c<"), "a%2Fb%20c%3C");
    }
}
