//! The editing panels of `shoal web` end to end, on the host: a dry-run daemon answers
//! the reloads, `shoal web` serves the sample lvs.cf copied to a temp dir, and an HTTP
//! client logs in and submits the forms as a browser would (the form's own fields, with
//! the ones the test changes). Each change must alter lvs.cf by exactly that change,
//! keep its comments and pass `shoal check`; a refused one must leave it byte-identical.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod web_support;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use web_support::browser::Input;
use web_support::cases::{
    GLOBAL_EVERY_FIELD, REAL_EVERY_FIELD, REDUNDANCY_EVERY_FIELD, SCRIPTS_TEXTS, VIRTUAL_CHECKS,
    VIRTUAL_EXTENSIONS, VIRTUAL_SERVER_FIELDS,
};
use web_support::edits;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const PASSWORD: &str = "secret password";

/// A child process killed (and reaped) when the test ends, whatever way it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon, a web UI and a logged-in client.
struct Lab {
    dir: tempfile::TempDir,
    lvs_cf: PathBuf,
    base: String,
    client: reqwest::Client,
    cookie: String,
    // Dropped last: the processes outlive the client.
    _web: Killed,
    _daemon: Option<Killed>,
}

fn shoal(args: &[&str]) -> Command {
    let mut command = Command::new(SHOAL);
    command.args(args).env("NO_COLOR", "1");
    command
}

impl Lab {
    /// The sample lvs.cf, a dry-run daemon on it, the UI, a login.
    async fn start() -> Lab {
        Lab::with_daemon(true).await
    }

    async fn with_daemon(daemon: bool) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let lvs_cf = dir.path().join("lvs.cf");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/lvs.cf"),
            &lvs_cf,
        )
        .expect("sample lvs.cf");
        let settings = dir.path().join("shoal.toml");
        std::fs::write(
            &settings,
            format!(
                "[web]\npassword_file = \"{}\"\n",
                dir.path().join("web.passwd").display()
            ),
        )
        .expect("settings");
        let settings = settings.to_str().expect("utf-8 path").to_string();
        let mut passwd = shoal(&["passwd", "--settings", &settings])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("shoal passwd");
        std::io::Write::write_all(
            passwd.stdin.as_mut().expect("stdin"),
            format!("{PASSWORD}\n").as_bytes(),
        )
        .expect("password");
        assert!(passwd.wait().expect("passwd ends").success());
        let socket = dir.path().join("control.sock");
        let cf = lvs_cf.to_str().expect("utf-8 path").to_string();
        let sock = socket.to_str().expect("utf-8 path").to_string();
        let daemon = daemon.then(|| {
            let child = shoal(&[
                "run",
                "--dry-run",
                "--no-checks",
                "-c",
                &cf,
                "--control",
                &sock,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("shoal run");
            let daemon = Killed(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !socket.exists() {
                assert!(Instant::now() < deadline, "the daemon's control socket");
                std::thread::sleep(Duration::from_millis(20));
            }
            daemon
        });
        let mut child = shoal(&[
            "web",
            "-c",
            &cf,
            "--control",
            &sock,
            "--settings",
            &settings,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("shoal web");
        let stdout = child.stdout.take().expect("stdout");
        let web = Killed(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("shoal web prints its address");
        let address = line
            .trim()
            .strip_prefix("shoal web: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut lab = Lab {
            dir,
            lvs_cf,
            base: format!("http://{address}"),
            client,
            cookie: String::new(),
            _web: web,
            _daemon: daemon,
        };
        lab.login().await;
        lab
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        if let Some(cookie) = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("shoal_session="))
        {
            self.cookie = cookie.split(';').next().unwrap_or_default().to_string();
        }
    }

    async fn login(&mut self) {
        let response = self
            .client
            .get(format!("{}/login", self.base))
            .send()
            .await
            .expect("GET /login");
        self.keep_cookie(&response);
        let page = response.text().await.expect("login page");
        let mut form = Form::parse(&page, None);
        form.fill("user", "piranha");
        form.fill("password", PASSWORD);
        let response = self.post("/login", &form.fields(None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "logged in");
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("GET");
        self.keep_cookie(&response);
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// GET that must succeed.
    async fn page(&mut self, path: &str) -> String {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&mut self, path: &str, fields: &[(String, String)]) -> reqwest::Response {
        let body = serde_urlencoded::to_string(fields).expect("form");
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.keep_cookie(&response);
        response
    }

    /// Submits a form with a button; returns the status, the redirect target and the body.
    async fn submit(
        &mut self,
        form: &Form,
        button: Option<(&str, &str)>,
    ) -> (StatusCode, Option<String>, String) {
        let action = form.action.clone();
        let response = self.post(&action, &form.fields(button)).await;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, location, response.text().await.expect("body"))
    }

    /// Submits and follows the redirect: the page after a successful write, with its
    /// message.
    async fn accept(&mut self, form: &Form, button: Option<(&str, &str)>) -> String {
        let (status, location, body) = self.submit(form, button).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "accepted: {body}");
        self.page(&location.expect("redirect")).await
    }

    fn file(&self) -> String {
        std::fs::read_to_string(&self.lvs_cf).expect("lvs.cf")
    }

    fn check_passes(&self) {
        edits::check_passes(&self.lvs_cf);
    }
}

/// A form as a browser would submit it.
struct Form {
    action: String,
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    value: String,
    /// `checkbox` and `radio` are sent only when checked.
    kind: String,
    checked: bool,
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

fn attributes(tag: &str) -> Vec<(String, String)> {
    let pattern = regex::Regex::new(r#"([a-zA-Z][\w-]*)(?:="([^"]*)")?"#).expect("regex");
    pattern
        .captures_iter(tag)
        .map(|c| {
            (
                c[1].to_string(),
                c.get(2).map_or(String::new(), |m| unescape(m.as_str())),
            )
        })
        .collect()
}

fn attribute(attributes: &[(String, String)], name: &str) -> Option<String> {
    attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

impl Form {
    /// The form with this id (or the first form of the page's content).
    fn parse(page: &str, id: Option<&str>) -> Form {
        let main = &page[page.find("<main>").expect("main")..];
        let start = match id {
            Some(id) => main
                .find(&format!("id=\"{id}\""))
                .and_then(|at| main[..at].rfind("<form"))
                .unwrap_or_else(|| panic!("no form {id} in {page}")),
            None => main.find("<form").expect("a form"),
        };
        let html = &main[start..];
        let html = &html[..html.find("</form>").expect("form end")];
        let open = &html[..html.find('>').expect("form tag")];
        let action = attribute(&attributes(&open["<form".len()..]), "action").unwrap_or_default();
        let tags = regex::Regex::new(r"(?s)<select\b([^>]*)>(.*?)</select>|<input\b([^>]*)>")
            .expect("regex");
        let options = regex::Regex::new(r"<option\b([^>]*)>").expect("regex");
        let mut entries = Vec::new();
        for tag in tags.captures_iter(html) {
            let select = tag.get(1).is_some();
            let attrs = attributes(if select { &tag[1] } else { &tag[3] });
            let Some(name) = attribute(&attrs, "name") else {
                continue;
            };
            let checked = attribute(&attrs, "checked").is_some();
            let (kind, value) = if select {
                let all: Vec<Vec<(String, String)>> = options
                    .captures_iter(&tag[2])
                    .map(|o| attributes(&o[1]))
                    .collect();
                let chosen = all
                    .iter()
                    .find(|o| attribute(o, "selected").is_some())
                    .or(all.first())
                    .and_then(|o| attribute(o, "value"))
                    .unwrap_or_default();
                ("select".to_string(), chosen)
            } else {
                (
                    attribute(&attrs, "type").unwrap_or_else(|| "text".into()),
                    attribute(&attrs, "value").unwrap_or_default(),
                )
            };
            entries.push(Entry {
                name,
                value,
                kind,
                checked,
            });
        }
        Form { action, entries }
    }

    /// Types into a text input or chooses in a drop-down.
    fn fill(&mut self, name: &str, value: &str) -> &mut Self {
        let entry = self
            .entries
            .iter_mut()
            .rev()
            .find(|e| e.name == name && !matches!(e.kind.as_str(), "checkbox" | "radio" | "hidden"))
            .unwrap_or_else(|| panic!("no input {name}"));
        entry.value = value.to_string();
        self
    }

    /// Ticks or clears a checkbox.
    fn tick(&mut self, name: &str, on: bool) -> &mut Self {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.name == name && e.kind == "checkbox")
            .unwrap_or_else(|| panic!("no checkbox {name}"));
        entry.checked = on;
        self
    }

    /// Chooses a radio button by value.
    fn choose(&mut self, name: &str, value: &str) -> &mut Self {
        let mut found = false;
        for entry in self.entries.iter_mut().filter(|e| e.name == name) {
            entry.checked = entry.value == value;
            found |= entry.checked;
        }
        assert!(found, "no radio {name} = {value}");
        self
    }

    /// Types, chooses and ticks as a user would in the browser.
    fn enter(&mut self, inputs: &[Input]) -> &mut Self {
        for input in inputs {
            match *input {
                Input::Text(name, value) | Input::Choose(name, value) => self.fill(name, value),
                Input::Tick(name, on) => self.tick(name, on),
            };
        }
        self
    }

    /// A text input's value, as the page shows it.
    fn value(&self, name: &str) -> &str {
        self.entries
            .iter()
            .rev()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
            .unwrap_or_else(|| panic!("no input {name}"))
    }

    fn fields(&self, button: Option<(&str, &str)>) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .entries
            .iter()
            .filter(|e| !matches!(e.kind.as_str(), "checkbox" | "radio") || e.checked)
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        if let Some((name, value)) = button {
            fields.push((name.to_string(), value.to_string()));
        }
        fields
    }
}

/// Asserts the file changed by exactly `expected` (plus the serial's increment), kept
/// its comments and passes `shoal check`.
fn assert_changed(lab: &Lab, before: &str, serial: (u64, u64), expected: &[&str]) {
    edits::assert_changed(&lab.lvs_cf, before, serial, expected);
}

fn assert_message(page: &str, wanted: &str) {
    let flash = page
        .split("id=\"flash\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("no message on {page}"));
    assert!(unescape(flash).contains(wanted), "message: {flash}");
}

fn error_of(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}-error\">");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no error beside {id}: {page}"));
    let rest = &page[at + marker.len()..];
    unescape(&rest[..rest.find("</span>").expect("end")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_settings_every_field_is_written_as_changed() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/global").await;
    let mut form = Form::parse(&page, Some("global-form"));
    assert_eq!(form.value("primary"), "192.0.2.1");
    assert_eq!(form.value("nat_router"), "198.51.100.254");
    assert_eq!(form.value("nat_router_device"), "eth1:1");
    assert_eq!(form.value("network"), "nat");
    form.enter(GLOBAL_EVERY_FIELD.inputs);
    let shown = lab.accept(&form, None).await;
    assert_message(
        &shown,
        "Global settings changed: lvs.cf written, serial_no 2",
    );
    assert_message(&shown, "The daemon reloaded it: serial_no 2 in use");
    assert_changed(&lab, &before, (1, 2), GLOBAL_EVERY_FIELD.expected);
    // The form shows what was written, quoted as typed.
    let page = lab.page("/global").await;
    let form = Form::parse(&page, Some("global-form"));
    assert_eq!(form.value("active_cmd"), "\"/usr/local/bin/became active\"");
    assert_eq!(form.value("network"), "tunnel");
    // Emptied fields take their keyword's line out of the file: the default applies.
    let before = lab.file();
    let mut form = Form::parse(&page, Some("global-form"));
    form.fill("primary_private", "")
        .fill("tcp_timeout", "")
        .fill("nat_router", "")
        .fill("nat_router_device", "")
        .fill("nat_nmask", "");
    let shown = lab.accept(&form, None).await;
    assert_message(&shown, "serial_no 3");
    assert_changed(
        &lab,
        &before,
        (2, 3),
        &[
            "-nat_router = 198.51.100.253 eth1:2",
            "-nat_nmask = 255.255.255.128",
            "-primary_private = 198.51.100.1",
            "-tcp_timeout = 900",
        ],
    );
}

fn config_of(lab: &Lab) -> shoal::config::Config {
    let loaded = shoal::config::check(
        lab.file().as_bytes(),
        &shoal::config::resolve::StaticResolver::default(),
        &shoal::config::KernelFeatures::unknown(),
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_global_input_is_shown_beside_its_field_and_nothing_is_written() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/global").await;
    let mut form = Form::parse(&page, Some("global-form"));
    form.fill("tcp_timeout", "soon")
        .fill("nat_router_device", "")
        .fill("active_cmd", "two words")
        .fill("udp_timeout", "60");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "tcp_timeout").contains("soon"), "{body}");
    assert!(error_of(&body, "nat_router_device").contains("missing arguments"));
    assert!(error_of(&body, "active_cmd").contains("quote a value that contains blanks"));
    assert_eq!(lab.file(), before, "nothing written");
    // The form sent back unchanged writes nothing.
    let (status, location, _) = lab
        .submit(&Form::parse(&page, Some("global-form")), None)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let shown = lab.page(&location.expect("redirect")).await;
    assert_message(&shown, "Nothing changed; lvs.cf was not written.");
    assert_eq!(lab.file(), before);
    // The refused form keeps what was typed, for correcting it.
    let shown = Form::parse(&body, Some("global-form"));
    assert_eq!(shown.value("tcp_timeout"), "soon");
    assert_eq!(shown.value("udp_timeout"), "60");
    // Corrected, it is accepted from the same version.
    let mut form = shown;
    form.fill("tcp_timeout", "30")
        .fill("nat_router_device", "eth1:1")
        .fill("active_cmd", "");
    lab.accept(&form, None).await;
    assert_changed(
        &lab,
        &before,
        (1, 2),
        &["+tcp_timeout = 30", "+udp_timeout = 60"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_change_is_a_conflict_and_is_not_overwritten() {
    let mut lab = Lab::start().await;
    let page = lab.page("/global").await;
    let mut first = Form::parse(&page, Some("global-form"));
    let mut second = Form::parse(&page, Some("global-form"));
    // Two browsers on the same version: the first one's change is written...
    first.fill("udp_timeout", "60");
    lab.accept(&first, None).await;
    let written = lab.file();
    // ...the second one's is refused, with both versions shown.
    second.fill("tcp_timeout", "5");
    let (status, _, body) = lab.submit(&second, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(lab.file(), written, "the first change is kept");
    let on_disk = section(&body, "on-disk");
    let yours = section(&body, "yours");
    assert!(on_disk.contains("udp_timeout = 60") && on_disk.contains("serial_no = 2"));
    assert!(yours.contains("tcp_timeout = 5") && !yours.contains("udp_timeout"));
    assert!(yours.contains("serial_no = 2"), "made from serial 1");
    assert!(body.contains("id=\"reload-form\""));
    // An edit outside the UI is a conflict too.
    let page = lab.page("/global").await;
    let mut form = Form::parse(&page, Some("global-form"));
    let edited = lab.file().replace("keepalive = 6", "keepalive = 7");
    std::fs::write(&lab.lvs_cf, &edited).expect("edit");
    form.fill("tcp_timeout", "5");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(lab.file(), edited);
    assert!(section(&body, "on-disk").contains("keepalive = 7"));
    assert!(section(&body, "yours").contains("keepalive = 6"));
    // A list action from an old version is refused the same way.
    let list = lab.page("/virtual").await;
    std::fs::write(
        &lab.lvs_cf,
        edited.replace("keepalive = 7", "keepalive = 8"),
    )
    .expect("edit");
    let mut form = Form::parse(&list, Some("virtual-form"));
    form.choose("vs", "1:ftp");
    let (status, _, body) = lab.submit(&form, Some(("action", "toggle"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(lab.file().contains("keepalive = 8"));
}

fn section(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {page}"));
    let rest = &page[at + marker.len()..];
    unescape(&rest[..rest.find("</pre>").expect("end")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redundancy_fields_enable_and_disable() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/redundancy").await;
    assert!(page.contains("id=\"backup-status\">Backup: active"));
    let mut form = Form::parse(&page, Some("redundancy-form"));
    assert_eq!(form.value("backup"), "192.0.2.2");
    assert_eq!(form.value("keepalive"), "6");
    form.enter(REDUNDANCY_EVERY_FIELD.inputs);
    let shown = lab.accept(&form, None).await;
    assert_message(&shown, "Redundancy changed: lvs.cf written, serial_no 2");
    assert_changed(&lab, &before, (1, 2), REDUNDANCY_EVERY_FIELD.expected);
    // DISABLE and ENABLE.
    let page = lab.page("/redundancy").await;
    let form = Form::parse(&page, Some("switch-form"));
    let before = lab.file();
    let (status, location, _) = lab
        .submit(
            &Form {
                action: "/redundancy/disable".into(),
                entries: form.entries,
            },
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = lab.page(&location.expect("redirect")).await;
    assert_message(&page, "Backup disabled");
    assert!(page.contains("Backup: inactive") && page.contains("id=\"enable\""));
    assert_changed(
        &lab,
        &before,
        (2, 3),
        &["-backup_active = 1", "+backup_active = 0"],
    );
    let form = Form::parse(&page, Some("switch-form"));
    let (status, _, _) = lab
        .submit(
            &Form {
                action: "/redundancy/enable".into(),
                entries: form.entries,
            },
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(lab.file().contains("\nbackup_active = 1\n"));
    // A blank heartbeat port takes its line out: 539 applies.
    let page = lab.page("/redundancy").await;
    let before = lab.file();
    let mut form = Form::parse(&page, Some("redundancy-form"));
    form.fill("heartbeat_port", "");
    lab.accept(&form, None).await;
    assert_changed(&lab, &before, (4, 5), &["-heartbeat_port = 540"]);
    let page = lab.page("/redundancy").await;
    assert_eq!(
        Form::parse(&page, Some("redundancy-form")).value("heartbeat_port"),
        "539",
        "the field shows the default that applies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redundancy_errors_of_the_whole_file_go_beside_their_field() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/redundancy").await;
    let mut form = Form::parse(&page, Some("redundancy-form"));
    // Each value is well formed; together they are not.
    form.fill("deadtime", "3").fill("syncd_id", "300");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "syncd_id").contains("0 to 255"), "{body}");
    form.fill("syncd_id", "3");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_of(&body, "deadtime").contains("must be greater than keepalive"),
        "{body}"
    );
    form.fill("heartbeat_port", "heartbeat-port");
    let (_, _, body) = lab.submit(&form, None).await;
    assert!(error_of(&body, "heartbeat_port").contains("heartbeat-port"));
    assert_eq!(lab.file(), before, "nothing written");
    // RESET shows the file's values again.
    assert!(
        body.contains("id=\"reset\" class=\"button\"") && body.contains("href=\"/redundancy\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_servers_are_added_activated_deactivated_and_deleted() {
    let mut lab = Lab::start().await;
    let list = lab.page("/virtual").await;
    for cell in [
        "<td class=\"status\">up</td>",
        ">http</a>",
        "<td>192.0.2.10</td><td>255.255.255.0</td><td>80</td><td>tcp</td><td>eth0:1</td>",
        "<td>192.0.2.11</td><td>255.255.255.0</td><td>21 (fwmark 21)</td><td>tcp</td><td>eth0:2</td>",
    ] {
        assert!(list.contains(cell), "{cell} in {list}");
    }
    // (DE)ACTIVATE.
    let before = lab.file();
    let mut form = Form::parse(&list, Some("virtual-form"));
    form.choose("vs", "1:ftp");
    let page = lab.accept(&form, Some(("action", "toggle"))).await;
    assert_message(
        &page,
        "Virtual server 'ftp' deactivated: lvs.cf written, serial_no 2",
    );
    assert!(page.contains("id=\"vs-1-row\">\n<td><input type=\"radio\" name=\"vs\" value=\"1:ftp\" id=\"vs-1\"></td>\n<td class=\"status\">down</td>"), "{page}");
    assert_changed(
        &lab,
        &before,
        (1, 2),
        &["-    active = 1", "+    active = 0"],
    );
    let config = config_of(&lab);
    assert!(config.virtual_servers[0].active && !config.virtual_servers[1].active);
    let mut form = Form::parse(&page, Some("virtual-form"));
    form.choose("vs", "1:ftp");
    let page = lab.accept(&form, Some(("action", "toggle"))).await;
    assert_message(&page, "Virtual server 'ftp' activated");
    assert!(config_of(&lab).virtual_servers[1].active);
    // ADD: a new inactive virtual server, and its page.
    let before = lab.file();
    let before_add = before.clone();
    let form = Form::parse(&page, Some("virtual-form"));
    let (status, location, _) = lab.submit(&form, Some(("action", "add"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/virtual/2/virtual1"));
    let page = lab.page("/virtual/2/virtual1").await;
    assert_message(&page, "Virtual server 'virtual1' added (inactive)");
    assert_changed(&lab, &before, (3, 4), &["+", "+virtual virtual1 {", "+}"]);
    // Activating it without a VIP is refused, saying why, above the list.
    let before = lab.file();
    let list = lab.page("/virtual").await;
    let mut form = Form::parse(&list, Some("virtual-form"));
    form.choose("vs", "2:virtual1");
    let (status, _, body) = lab.submit(&form, Some(("action", "toggle"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unescape(&body).contains(
            "virtual server 'virtual1', address: active virtual server 'virtual1' has no address"
        ),
        "{body}"
    );
    assert_eq!(lab.file(), before);
    // DELETE it again: a page asks first, showing what goes; CANCEL goes back.
    let list = lab.page("/virtual").await;
    let mut form = Form::parse(&list, Some("virtual-form"));
    form.choose("vs", "2:virtual1");
    let (status, location, _) = lab.submit(&form, Some(("action", "delete"))).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/virtual/2/virtual1/delete"))
    );
    assert_eq!(
        lab.file(),
        before,
        "nothing deleted before the confirmation"
    );
    let confirm = lab.page("/virtual/2/virtual1/delete").await;
    assert!(
        unescape(&confirm).contains("id=\"block\">virtual virtual1 {\n}\n</pre>"),
        "{confirm}"
    );
    assert!(confirm.contains("<a href=\"/virtual\" id=\"cancel\" class=\"button\">CANCEL</a>"));
    let page = lab
        .accept(&Form::parse(&confirm, Some("confirm-form")), None)
        .await;
    assert_message(&page, "Virtual server 'virtual1' deleted");
    // The blank line the ADD put before it goes with it.
    assert_changed(&lab, &before, (4, 5), &["-", "-virtual virtual1 {", "-}"]);
    assert_eq!(
        lab.file(),
        before_add.replace("serial_no = 3\n", "serial_no = 5\n"),
        "ADD and DELETE leave the file as it was"
    );
    // A confirmation made before the file changed deletes nothing.
    let stale = lab.page("/virtual/1/ftp/delete").await;
    let form = Form::parse(&stale, Some("confirm-form"));
    std::fs::write(
        &lab.lvs_cf,
        lab.file().replace("keepalive = 6", "keepalive = 7"),
    )
    .expect("edit");
    let changed = lab.file();
    let (status, _, _) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(lab.file(), changed);
    // EDIT goes to the virtual server's page.
    let mut form = Form::parse(&page, Some("virtual-form"));
    form.choose("vs", "1:ftp");
    let (status, location, _) = lab.submit(&form, Some(("action", "edit"))).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/virtual/1/ftp"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_virtual_or_real_server_is_refused_clearly() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let (status, body) = lab.get("/virtual/7/smtp").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unescape(&body).contains("Virtual server 'smtp' is not in lvs.cf any more"));
    let (status, body) = lab.get("/virtual/0/http/real/9/web9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        unescape(&body)
            .contains("Real server 'web9' of virtual server 'http' is not in lvs.cf any more")
    );
    // Found by its name when it moved.
    lab.page("/virtual/5/ftp").await;
    // A selection that is not in the file: nothing is done.
    let list = lab.page("/virtual").await;
    let mut form = Form::parse(&list, Some("virtual-form"));
    form.entries.push(Entry {
        name: "vs".into(),
        value: "5:gone".into(),
        kind: "hidden".into(),
        checked: false,
    });
    for entry in form.entries.iter_mut().filter(|e| e.kind == "radio") {
        entry.checked = false;
    }
    let (status, _, body) = lab.submit(&form, Some(("action", "delete"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(unescape(&body).contains("Virtual server 'gone' is not in lvs.cf any more"));
    // Nothing selected.
    for entry in form.entries.iter_mut() {
        if entry.name == "vs" {
            entry.checked = false;
            entry.kind = "radio".into();
        }
    }
    let page = lab.accept(&form, Some(("action", "toggle"))).await;
    assert_message(&page, "Select a virtual server first.");
    assert_eq!(lab.file(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_virtual_server_page_writes_every_field() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/virtual/0/http").await;
    for link in ["subnav-virtual", "subnav-real", "subnav-scripts"] {
        assert!(page.contains(&format!("id=\"{link}\"")), "{link}");
    }
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    assert_eq!(form.value("name"), "http");
    assert_eq!(form.value("address"), "192.0.2.10");
    assert_eq!(form.value("address_device"), "eth0:1");
    assert_eq!(form.value("scheduler"), "wlc");
    form.enter(VIRTUAL_SERVER_FIELDS.inputs);
    let (status, location, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some("/virtual/0/www"), "renamed");
    let page = lab.page("/virtual/0/www").await;
    assert_message(&page, "Virtual server 'http' changed and renamed 'www'");
    assert_changed(&lab, &before, (1, 2), VIRTUAL_SERVER_FIELDS.expected);
    // The shoal extensions, and the keywords Piranha kept that shoal ignores.
    let before = lab.file();
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.enter(VIRTUAL_EXTENSIONS.inputs);
    lab.accept(&form, None).await;
    assert_changed(&lab, &before, (2, 3), VIRTUAL_EXTENSIONS.expected);
    // The health checks, on ftp.
    let before = lab.file();
    let page = lab.page("/virtual/1/ftp").await;
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.enter(VIRTUAL_CHECKS.inputs);
    lab.accept(&form, None).await;
    assert_changed(&lab, &before, (3, 4), VIRTUAL_CHECKS.expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_server_errors_are_shown_beside_their_field() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/virtual/0/http").await;
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.fill("port", "eighty")
        .fill("address_device", "")
        .fill("name", "two words")
        .fill("scheduler", "fastest");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "port").contains("eighty"), "{body}");
    assert!(error_of(&body, "address_device").contains("missing arguments"));
    assert!(error_of(&body, "name").contains("one word"));
    assert!(error_of(&body, "scheduler").contains("fastest"));
    // Findings of the whole new file: a name used twice, a firewall mark shared with
    // another persistence.
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.fill("name", "ftp");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "name").contains("used twice"), "{body}");
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.fill("fwmark", "21").fill("persistent", "60");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_of(&body, "persistent").contains("share fwmark 21 but not the same persistent value"),
        "{body}"
    );
    assert_eq!(lab.file(), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_servers_are_listed_added_edited_toggled_and_deleted() {
    let mut lab = Lab::start().await;
    let list = lab.page("/virtual/0/http/real").await;
    assert!(
        list.contains(">web3</a></td>\n<td>198.51.100.13</td><td>2</td>"),
        "{list}"
    );
    assert!(list.contains("id=\"cancel\""));
    // (DE)ACTIVATE web2.
    let before = lab.file();
    let mut form = Form::parse(&list, Some("real-form"));
    form.choose("rs", "1:web2");
    let page = lab.accept(&form, Some(("action", "toggle"))).await;
    assert_message(&page, "Real server 'web2' of 'http' deactivated");
    assert_changed(
        &lab,
        &before,
        (1, 2),
        &["-        active = 1", "+        active = 0"],
    );
    let config = config_of(&lab);
    let http = &config.virtual_servers[0];
    assert!(http.servers[0].active && !http.servers[1].active && http.servers[2].active);
    // ADD, then fill in its form.
    let before = lab.file();
    let before_add = before.clone();
    let form = Form::parse(&page, Some("real-form"));
    let (status, location, _) = lab.submit(&form, Some(("action", "add"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/virtual/0/http/real/3/server1"));
    assert_changed(&lab, &before, (2, 3), &["+    server server1 {", "+    }"]);
    let before = lab.file();
    let page = lab.page("/virtual/0/http/real/3/server1").await;
    assert_message(&page, "Real server 'server1' added to 'http' (inactive)");
    let mut form = Form::parse(&page, Some("real-edit-form"));
    form.enter(REAL_EVERY_FIELD.inputs);
    let (status, location, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some("/virtual/0/http/real/3/web4"));
    assert_changed(&lab, &before, (3, 4), REAL_EVERY_FIELD.expected);
    // A bad weight is refused beside its field.
    let before = lab.file();
    let page = lab.page("/virtual/0/http/real/3/web4").await;
    let mut form = Form::parse(&page, Some("real-edit-form"));
    form.fill("weight", "heavy").fill("address", "");
    let (status, _, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "weight").contains("heavy"), "{body}");
    assert_eq!(lab.file(), before);
    // EDIT goes to its form; DELETE asks first, then removes it.
    let list = lab.page("/virtual/0/http/real").await;
    let mut form = Form::parse(&list, Some("real-form"));
    form.choose("rs", "3:web4");
    let (status, location, _) = lab.submit(&form, Some(("action", "edit"))).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/virtual/0/http/real/3/web4"))
    );
    let (status, location, _) = lab.submit(&form, Some(("action", "delete"))).await;
    assert_eq!(
        (status, location.as_deref()),
        (
            StatusCode::SEE_OTHER,
            Some("/virtual/0/http/real/3/web4/delete")
        )
    );
    let confirm = lab.page("/virtual/0/http/real/3/web4/delete").await;
    assert!(
        unescape(&confirm)
            .contains("id=\"block\">    server web4 {\n        address = 198.51.100.14\n"),
        "{confirm}"
    );
    assert!(confirm.contains("href=\"/virtual/0/http/real\" id=\"cancel\""));
    let page = lab
        .accept(&Form::parse(&confirm, Some("confirm-form")), None)
        .await;
    assert_message(&page, "Real server 'web4' of 'http' deleted");
    assert_eq!(
        lab.file(),
        before_add.replace("serial_no = 2\n", "serial_no = 5\n"),
        "ADD, EDIT and DELETE leave the file as it was"
    );
    lab.check_passes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_scripts_replace_and_blank_their_texts() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let page = lab.page("/virtual/1/ftp/scripts").await;
    assert!(
        unescape(&page).contains("id=\"send-current\">\"quit\\r\\n\"</code>"),
        "{page}"
    );
    let mut form = Form::parse(&page, Some("scripts-form"));
    assert_eq!(form.value("send"), "", "the replacement starts blank");
    form.enter(SCRIPTS_TEXTS.inputs);
    let page = lab.accept(&form, Some(("action", "accept"))).await;
    assert_message(&page, "Monitoring scripts of 'ftp' changed");
    assert_changed(&lab, &before, (1, 2), SCRIPTS_TEXTS.expected);
    // The buttons remove one text each.
    for (button, line, serial) in [
        ("blank_send", "-    send = \"QUIT\\r\\n\"", 2),
        (
            "no_send_program",
            "-    send_program = \"/usr/local/bin/check-ftp %h %p\"",
            3,
        ),
        ("blank_expect", "-    expect = \"^2[0-9]{2}\"", 4),
    ] {
        let before = lab.file();
        let page = lab.page("/virtual/1/ftp/scripts").await;
        let form = Form::parse(&page, Some("blank-form"));
        let page = lab.accept(&form, Some(("action", button))).await;
        assert_message(&page, "Monitoring scripts of 'ftp' changed");
        assert_changed(&lab, &before, (serial, serial + 1), &[line]);
    }
    // An unclosed quote is refused beside its field.
    let before = lab.file();
    let page = lab.page("/virtual/1/ftp/scripts").await;
    let mut form = Form::parse(&page, Some("scripts-form"));
    form.fill("send", "\"QUIT");
    let (status, _, body) = lab.submit(&form, Some(("action", "accept"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body, "send").contains("never closed"), "{body}");
    assert_eq!(lab.file(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_block_takes_no_blank_line_or_comment_of_its_neighbours() {
    let mut lab = Lab::start().await;
    // web2 sits between two blank lines; the comment above web3 stays.
    for (list, choice, confirm, serial, gone) in [
        (
            "/virtual/0/http/real",
            "1:web2",
            "/virtual/0/http/real/1/web2/delete",
            (1, 2),
            &[
                "-    server web2 {",
                "-        address = 198.51.100.12",
                "-        active = 1",
                "-        weight = 1",
                "-    }",
                "-",
            ][..],
        ),
        // ftp2 is the last of its virtual server: the blank line before it goes.
        (
            "/virtual/1/ftp/real",
            "1:ftp2",
            "/virtual/1/ftp/real/1/ftp2/delete",
            (2, 3),
            &[
                "-",
                "-    server ftp2 {",
                "-        address = 198.51.100.12",
                "-        active = 1",
                "-        weight = 1",
                "-    }",
            ][..],
        ),
    ] {
        let before = lab.file();
        let page = lab.page(list).await;
        let mut form = Form::parse(&page, Some("real-form"));
        form.choose("rs", choice);
        let (status, location, _) = lab.submit(&form, Some(("action", "delete"))).await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some(confirm))
        );
        let page = lab.page(confirm).await;
        lab.accept(&Form::parse(&page, Some("confirm-form")), None)
            .await;
        assert_changed(&lab, &before, serial, gone);
    }
    // A whole virtual server, the last of the file: the comments before it stay.
    let before = lab.file();
    let page = lab.page("/virtual/1/ftp/delete").await;
    lab.accept(&Form::parse(&page, Some("confirm-form")), None)
        .await;
    let kept = &before[..before.find("virtual ftp {").expect("ftp")];
    assert!(kept.ends_with("# to cover every unprivileged port instead.\n"));
    assert_eq!(
        lab.file(),
        kept.replace("serial_no = 3\n", "serial_no = 4\n")
    );
    lab.check_passes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_fields_and_default_choices_take_their_line_out() {
    let mut lab = Lab::start().await;
    // A keyword that holds its default already goes too.
    let before = lab.file();
    let page = lab.page("/redundancy").await;
    let mut form = Form::parse(&page, Some("redundancy-form"));
    form.fill("heartbeat_port", "").fill("keepalive", " ");
    lab.accept(&form, None).await;
    assert_changed(
        &lab,
        &before,
        (1, 2),
        &["-heartbeat_port = 539", "-keepalive = 6"],
    );
    // The default shown is left alone when sent back.
    let page = lab.page("/redundancy").await;
    let form = Form::parse(&page, Some("redundancy-form"));
    assert_eq!(form.value("keepalive"), "2");
    let shown = lab.accept(&form, None).await;
    assert_message(&shown, "Nothing changed; lvs.cf was not written.");
    // In a virtual server: text fields and a "(default: ...)" choice.
    let page = lab.page("/virtual/0/http").await;
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    form.fill("forwarding", "tunnel");
    lab.accept(&form, None).await;
    let before = lab.file();
    let page = lab.page("/virtual/0/http").await;
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    assert!(
        page.contains("<option value=\"\">(default: network)</option>"),
        "{page}"
    );
    form.fill("forwarding", "")
        .fill("port", "")
        .fill("timeout", "")
        .fill("load_monitor", "");
    lab.accept(&form, None).await;
    assert_changed(
        &lab,
        &before,
        (3, 4),
        &[
            "-    port = 80",
            "-    timeout = 6",
            "-    load_monitor = none",
            "-    forwarding = tunnel",
        ],
    );
    // In a real server.
    let before = lab.file();
    let page = lab.page("/virtual/0/http/real/2/web3").await;
    let mut form = Form::parse(&page, Some("real-edit-form"));
    form.fill("weight", "");
    lab.accept(&form, None).await;
    assert_changed(&lab, &before, (4, 5), &["-        weight = 2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_shown_as_text_never_as_markup() {
    let mut lab = Lab::start().await;
    let page = lab.page("/virtual/0/http").await;
    let mut form = Form::parse(&page, Some("virtual-edit-form"));
    let evil = "<script>alert(1)</script>";
    form.fill("name", evil);
    let (status, location, body) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.expect("redirect");
    assert_eq!(
        location,
        "/virtual/0/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
    );
    assert!(lab.file().contains(&format!("virtual {evil} {{")));
    for path in [location.as_str(), "/virtual"] {
        let page = lab.page(path).await;
        assert!(!page.contains("<script"), "{path}: {page}");
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}"
        );
    }
    lab.page(&format!("{location}/real")).await;
    lab.page(&format!("{location}/scripts")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_daemon_the_file_is_written_and_the_page_says_so() {
    let mut lab = Lab::with_daemon(false).await;
    let page = lab.page("/global").await;
    let mut form = Form::parse(&page, Some("global-form"));
    form.fill("udp_timeout", "60");
    let page = lab.accept(&form, None).await;
    assert_message(&page, "lvs.cf written, serial_no 2");
    assert_message(&page, "The daemon could not be asked to reload");
    assert_message(&page, "The file is written");
    assert!(lab.file().contains("\nudp_timeout = 60\n"));
    let _ = &lab.dir;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_route_needs_a_login_for_every_method() {
    let mut lab = Lab::start().await;
    let before = lab.file();
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in [
        "/global",
        "/redundancy",
        "/redundancy/enable",
        "/redundancy/disable",
        "/virtual",
        "/virtual/0/http",
        "/virtual/0/http/delete",
        "/virtual/0/http/real",
        "/virtual/0/http/real/0/web1",
        "/virtual/0/http/real/0/web1/delete",
        "/virtual/0/http/scripts",
    ] {
        let url = format!("{}{path}", lab.base);
        let response = anonymous.get(&url).send().await.expect("GET");
        assert!(
            matches!(
                response.status(),
                StatusCode::SEE_OTHER | StatusCode::TEMPORARY_REDIRECT
            ) || response.status() == StatusCode::METHOD_NOT_ALLOWED,
            "GET {path}: {}",
            response.status()
        );
        if response.status() != StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(
                response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok()),
                Some("/login"),
                "GET {path}"
            );
        }
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
            reqwest::Method::PATCH,
        ] {
            let response = anonymous
                .request(method.clone(), &url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("action=delete&vs=0%3Ahttp&udp_timeout=1")
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    // Logged in, a POST without this session's CSRF token is refused too.
    let page = lab.page("/global").await;
    let mut form = Form::parse(&page, Some("global-form"));
    form.fill("udp_timeout", "60");
    for entry in form.entries.iter_mut().filter(|e| e.name == "csrf") {
        entry.value = "0".repeat(64);
    }
    let (status, _, _) = lab.submit(&form, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(lab.file(), before);
}
