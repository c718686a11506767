//! What the web UI's tests run against: a dry-run daemon (`shoal run --dry-run
//! --no-checks`, so nothing leaves the machine) and a real `shoal web` process on
//! 127.0.0.1, both on files in a temporary directory, and a small HTTP client that keeps
//! the session cookie by hand so the tests see every `Set-Cookie`. With the `browser`
//! part, chromedriver and a headless Chromium session as well.
//!
//! Everything started here is killed, and the directory removed, when its guard is
//! dropped, whether the test passed or panicked.

#![allow(dead_code)]

pub mod browser;
pub mod cases;
pub mod edits;
pub mod panels;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The password every lab starts with.
pub const PASSWORD: &str = "correct horse battery";
/// Piranha's user.
pub const USER: &str = "piranha";
/// The sample lvs.cf shipped in etc/.
pub const SAMPLE_LVS_CF: &str = include_str!("../../etc/lvs.cf");

/// The `shoal` binary: Cargo's for an integration test, the one beside the example's
/// directory for an example (`target/<profile>/examples/NAME` -> `target/<profile>/shoal`).
pub fn shoal_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_shoal") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("shoal"))
        .expect("target/<profile>/shoal beside examples/")
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    /// Spawns `command`, naming it in messages.
    pub fn spawn(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process { name, child }
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("waitpid")
    }

    /// The child itself (for its pipes).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = self.name;
    }
}

/// How a lab is set up.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// lvs.cf as written for the daemon and the UI.
    pub lvs_cf: String,
    /// `[web] allow`.
    pub allow: Vec<String>,
    /// Serve HTTPS with a fresh self-signed certificate for 127.0.0.1.
    pub tls: bool,
    /// Set the password before starting the UI (without it the UI must refuse to start).
    pub password: bool,
    /// Start the UI (false: only the daemon and the files).
    pub web: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            lvs_cf: SAMPLE_LVS_CF.to_string(),
            allow: Vec::new(),
            tls: false,
            password: true,
            web: true,
        }
    }
}

/// A dry-run daemon and `shoal web` on temporary files. Fields drop in order: the UI,
/// the daemon, then the directory.
pub struct Lab {
    /// `shoal web`, when started.
    pub web: Option<Process>,
    /// `shoal run --dry-run --no-checks`.
    pub daemon: Process,
    /// Where the UI listens.
    pub address: Option<SocketAddr>,
    /// The self-signed certificate's PEM, under TLS.
    pub cert_pem: Option<String>,
    /// The lvs.cf both use.
    pub lvs_cf: PathBuf,
    /// The daemon's control socket.
    pub control: PathBuf,
    /// shoal.toml.
    pub settings: PathBuf,
    /// `[web] password_file`.
    pub passwd: PathBuf,
    /// The daemon's stderr.
    pub daemon_log: PathBuf,
    /// The UI's stderr.
    pub web_log: PathBuf,
    /// Removed last.
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// The sample lvs.cf, a password, the UI on plain HTTP open to everyone.
    pub fn start() -> Lab {
        Lab::with(LabOptions::default())
    }

    /// A lab as `options` say.
    pub fn with(options: LabOptions) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        let (lvs_cf, control, settings, passwd) = (
            path("lvs.cf"),
            path("control.sock"),
            path("shoal.toml"),
            path("web.passwd"),
        );
        let (daemon_log, web_log) = (path("daemon.log"), path("web.log"));
        std::fs::write(&lvs_cf, &options.lvs_cf).expect("write lvs.cf");
        let mut toml = format!(
            "[web]\nlisten = \"127.0.0.1:0\"\npassword_file = {:?}\nallow = {:?}\n",
            passwd.display().to_string(),
            options.allow
        );
        let mut cert_pem = None;
        if options.tls {
            let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                .expect("self-signed certificate");
            let pem = certified.cert.pem();
            std::fs::write(path("cert.pem"), &pem).expect("write cert");
            std::fs::write(path("key.pem"), certified.signing_key.serialize_pem())
                .expect("write key");
            toml.push_str(&format!(
                "tls_cert = {:?}\ntls_key = {:?}\n",
                path("cert.pem").display().to_string(),
                path("key.pem").display().to_string()
            ));
            cert_pem = Some(pem);
        }
        std::fs::write(&settings, toml).expect("write shoal.toml");
        let daemon = Process::spawn(
            "shoal run",
            Command::new(shoal_binary())
                .args(["run", "--dry-run", "--no-checks", "-c"])
                .arg(&lvs_cf)
                .arg("--control")
                .arg(&control)
                .arg("--settings")
                .arg(&settings)
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&daemon_log).expect("daemon log")),
        );
        let mut lab = Lab {
            web: None,
            daemon,
            address: None,
            cert_pem,
            lvs_cf,
            control,
            settings,
            passwd,
            daemon_log,
            web_log,
            dir,
        };
        lab.wait_for_daemon();
        if options.password {
            lab.passwd(PASSWORD)
                .expect("shoal passwd sets the first password");
        }
        if options.web {
            lab.start_web().expect("shoal web starts");
        }
        lab
    }

    fn wait_for_daemon(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.daemon.exited() {
                panic!(
                    "the dry-run daemon exited ({status}):\n{}",
                    read(&self.daemon_log)
                );
            }
            if self.try_status().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the dry-run daemon did not answer within 30 s:\n{}",
            read(&self.daemon_log)
        );
    }

    /// Starts `shoal web`; `Err` has its exit status and stderr when it did not start.
    pub fn start_web(&mut self) -> Result<SocketAddr, String> {
        let mut web = Process::spawn(
            "shoal web",
            Command::new(shoal_binary())
                .arg("web")
                .arg("-c")
                .arg(&self.lvs_cf)
                .arg("--control")
                .arg(&self.control)
                .arg("--settings")
                .arg(&self.settings)
                .args(["--listen", "127.0.0.1:0"])
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&self.web_log).expect("web log")),
        );
        let stdout = web.child().stdout.take().expect("stdout pipe");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            // Keep draining so the UI never blocks on a full pipe.
            for _ in lines {}
        });
        let line = receiver.recv_timeout(Duration::from_secs(30));
        let address = line.ok().and_then(|line| {
            line.strip_prefix("shoal web: listening on ")
                .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        });
        match address {
            Some(address) => {
                self.web = Some(web);
                self.address = Some(address);
                Ok(address)
            }
            None => {
                let deadline = Instant::now() + Duration::from_secs(10);
                let status = loop {
                    if let Some(status) = web.exited() {
                        break status.to_string();
                    }
                    if Instant::now() > deadline {
                        break "still running, without its address line".to_string();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                Err(format!("{status}\n{}", read(&self.web_log)))
            }
        }
    }

    /// The UI's address.
    pub fn addr(&self) -> SocketAddr {
        self.address.expect("the UI is running")
    }

    /// `http://127.0.0.1:PORT` (https under TLS).
    pub fn base(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr())
    }

    /// `shoal passwd --settings`, the password on stdin.
    pub fn passwd(&self, password: &str) -> Result<(), String> {
        let mut child = Command::new(shoal_binary())
            .arg("passwd")
            .arg("--settings")
            .arg(&self.settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shoal passwd starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write the password");
        let output = child.wait_with_output().expect("shoal passwd exits");
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `shoal status`, when the daemon answers.
    pub fn try_status(&self) -> Option<String> {
        let output = Command::new(shoal_binary())
            .arg("status")
            .arg("--control")
            .arg(&self.control)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `shoal status`'s text.
    pub fn status(&self) -> String {
        self.try_status().expect("the daemon answers shoal status")
    }

    /// The service state `shoal status` reports: active, inactive or stopped.
    pub fn state(&self) -> String {
        let status = self.status();
        status
            .strip_prefix("shoal: ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("unexpected status: {status}"))
    }

    /// The serial_no the daemon runs.
    pub fn serial(&self) -> u64 {
        let status = self.status();
        status
            .lines()
            .next()
            .and_then(|line| line.split("serial_no ").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no serial_no in: {status}"))
    }

    /// `shoal start|stop|restart|reload` behind the UI's back.
    pub fn control(&self, action: &str) {
        let output = Command::new(shoal_binary())
            .arg(action)
            .arg("--control")
            .arg(&self.control)
            .output()
            .expect("shoal control command runs");
        assert!(
            output.status.success(),
            "shoal {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// How many kernel operations the dry-run daemon has planned so far (each is a
    /// "would ..." line of its log): a start, stop or restart adds some.
    pub fn planned_operations(&self) -> usize {
        read(&self.daemon_log)
            .lines()
            .filter(|line| line.contains(" would "))
            .count()
    }

    /// The UI's log so far.
    pub fn web_log(&self) -> String {
        read(&self.web_log)
    }
}

/// A file's text, or why not.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// An lvs.cf of `virtuals` (up to 6,250) virtual servers with `reals` (up to 10) real
/// servers each, on benchmarking addresses (198.18.0.0/15) that the dry-run daemon never
/// sends to.
pub fn generated_lvs_cf(virtuals: usize, reals: usize) -> String {
    let mut text =
        String::from("serial_no = 1\nprimary = 192.0.2.1\nservice = lvs\nnetwork = direct\n");
    for v in 0..virtuals {
        // 198.18.0.0/15 (RFC 2544) has room for a thousand VIPs.
        let vip = format!("198.18.{}.{}", v / 250, v % 250 + 1);
        text.push_str(&format!(
            "virtual vs{v:04} {{\n    active = 1\n    address = {vip} eth0:1\n    protocol = tcp\n    port = 80\n    scheduler = wlc\n    send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n    expect = \"HTTP\"\n    timeout = 6\n    reentry = 15\n"
        ));
        for r in 0..reals {
            text.push_str(&format!(
                "    server rs{v:04}-{r:02} {{\n        address = 198.19.{}.{}\n        active = 1\n        weight = {}\n    }}\n",
                v / 25,
                (v % 25) * 10 + r + 1,
                r + 1
            ));
        }
        text.push_str("}\n");
    }
    text
}

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Every header.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Every `Set-Cookie`.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The value of the first `name="csrf"` hidden field of the page.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find("name=\"csrf\" value=\"")?;
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest.split_once('"').map(|(token, _)| token.to_string())
    }
}

/// The session cookie's name.
pub const COOKIE: &str = "shoal_session";

/// An HTTP client that follows no redirect and keeps the session cookie itself.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    /// `shoal_session=VALUE`, when the server set one.
    pub cookie: Option<String>,
}

impl Http {
    /// A client for the lab's UI from 127.0.0.1.
    pub fn new(lab: &Lab) -> Http {
        Http::from(lab, None)
    }

    /// A client whose connections come from `local` (another loopback address).
    pub fn from(lab: &Lab, local: Option<IpAddr>) -> Http {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .no_proxy();
        if let Some(local) = local {
            builder = builder.local_address(local);
        }
        if let Some(pem) = &lab.cert_pem {
            builder = builder
                .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("PEM")]);
        }
        Http {
            client: builder.build().expect("HTTP client"),
            base: lab.base(),
            cookie: None,
        }
    }

    /// The same client without a cookie.
    pub fn anonymous(&self) -> Http {
        Http {
            cookie: None,
            ..self.clone()
        }
    }

    /// Any request: `method` on `path` with extra `headers` and a form `body`; keeps a
    /// session cookie the server sets.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.expect("the UI answers");
        let reply = Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::new(),
        };
        let body = response.text().await.expect("body");
        let reply = Reply { body, ..reply };
        for cookie in reply.set_cookies() {
            if let Some(pair) = cookie.split(';').next()
                && pair.starts_with(&format!("{COOKIE}="))
            {
                self.cookie = Some(pair.to_string());
            }
        }
        reply
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    /// POST of a form, as a browser on this site sends it.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(form).expect("form");
        let origin = self.base.clone();
        self.send(
            "POST",
            path,
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
            Some(body),
        )
        .await
    }

    /// Logs in with `password` as a browser does: the login page first (its cookie and
    /// token), then the form.
    pub async fn login(&mut self, password: &str) -> Reply {
        let page = self.get("/login").await;
        let token = page.csrf().unwrap_or_default();
        self.post(
            "/login",
            &[("csrf", &token), ("user", USER), ("password", password)],
        )
        .await
    }

    /// Logs in and insists it worked.
    pub async fn logged_in(lab: &Lab) -> Http {
        let mut http = Http::new(lab);
        let reply = http.login(PASSWORD).await;
        assert_eq!(
            (reply.status, reply.header("location").as_deref()),
            (303, Some("/control")),
            "login with the right password: {}",
            reply.body
        );
        http
    }

    /// This session's CSRF token, from the CONTROL page.
    pub async fn token(&mut self) -> String {
        let page = self.get("/control").await;
        assert_eq!(page.status, 200, "the session is live: {}", page.body);
        page.csrf().expect("the page has a CSRF field")
    }

    /// Whether the session still opens the CONTROL page.
    pub async fn works(&mut self) -> bool {
        let reply = self.get("/control").await;
        match reply.status {
            200 => true,
            303 if reply.header("location").as_deref() == Some("/login") => false,
            other => panic!("GET /control: unexpected {other}: {}", reply.body),
        }
    }
}

/// Sends `request` on a fresh TCP connection (from `local` when given) and returns
/// every byte the server sent until it closed or fell silent for 2 s; `Err` when the
/// connection could not even be made.
pub fn raw(to: SocketAddr, local: Option<IpAddr>, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if let Some(local) = local {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    // The server may close before the request is written: what it sent is the answer.
    let _ = stream.write_all(request);
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(_) => break,
        }
    }
    Ok(got)
}

/// Sample values for path parameters, by the parameter's name, taken from the sample
/// lvs.cf and the pages' actions, so that a route acting on something would act on
/// something real (`/virtual/0/http/real/0/web1`); a parameter not named here gets the
/// generic list.
pub const PARAMETER_SAMPLES: [(&str, &[&str]); 6] = [
    (
        "action",
        &[
            "stop", "start", "restart", "reload", "sync", "enable", "disable",
        ],
    ),
    ("index", &["0", "1"]),
    ("name", &["http", "ftp"]),
    ("server", &["0", "1"]),
    ("server_name", &["web1", "ftp2"]),
    ("", &["stop", "http", "web1", "0", "1", "delete"]),
];

fn samples_for(parameter: &str) -> &'static [&'static str] {
    let name = parameter.trim_start_matches('*');
    PARAMETER_SAMPLES
        .iter()
        .find(|(known, _)| *known == name)
        .or_else(|| PARAMETER_SAMPLES.iter().find(|(known, _)| known.is_empty()))
        .map(|(_, samples)| *samples)
        .unwrap_or(&[])
}

/// Every concrete path for a route: variant k gives each `{parameter}` its k-th sample
/// (cycling through shorter lists), for as many variants as the longest list has.
pub fn concrete_paths(route: &str) -> Vec<String> {
    let parameters: Vec<&str> = route
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .collect();
    let variants = parameters
        .iter()
        .map(|p| samples_for(p).len())
        .max()
        .unwrap_or(1)
        .max(1);
    (0..variants)
        .map(|k| {
            let mut out = String::new();
            let mut rest = route;
            while let Some((before, after)) = rest.split_once('{') {
                out.push_str(before);
                let (name, tail) = after.split_once('}').unwrap_or((after, ""));
                let samples = samples_for(name);
                out.push_str(
                    samples
                        .get(k % samples.len().max(1))
                        .copied()
                        .unwrap_or("x"),
                );
                rest = tail;
            }
            out.push_str(rest);
            out
        })
        .collect()
}

#[test]
fn route_parameters_get_samples_by_name() {
    assert_eq!(concrete_paths("/control"), ["/control"]);
    assert_eq!(
        concrete_paths("/virtual/{index}/{name}/real/{server}/{server_name}"),
        ["/virtual/0/http/real/0/web1", "/virtual/1/ftp/real/1/ftp2"]
    );
    assert_eq!(concrete_paths("/control/{action}").len(), 7);
    assert_eq!(concrete_paths("/x/{other}")[0], "/x/stop");
}
