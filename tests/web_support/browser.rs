//! Headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`,
//! installed by scripts/install-deps.sh), for the end-to-end tests of the web UI.
//!
//! Chromium is kept on loopback: every host name fails to resolve, every non-loopback
//! connection goes to a dead local proxy, and its background services are off. The
//! driver runs in its own process group with a profile in a temporary directory; on
//! drop the group is killed, then any process still naming that profile, then the
//! directory goes.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::Process;

/// Chromium's window, as the screenshots show it.
pub const WINDOW: (u32, u32) = (1280, 900);

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// chromedriver and the browser, or why the tests cannot have them.
pub fn find() -> Result<(PathBuf, PathBuf), String> {
    let driver = on_path("chromedriver")
        .ok_or("chromedriver is not installed (Debian package chromium-driver)")?;
    let browser = on_path("chromium")
        .or_else(|| on_path("chromium-browser"))
        .ok_or("chromium is not installed (Debian package chromium)")?;
    Ok((driver, browser))
}

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Process,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a session, or `None` (with the reason printed) when the
    /// packages are missing outside CI; in CI, where scripts/install-deps.sh has run,
    /// missing packages are a failure.
    pub async fn start() -> Option<Browser> {
        let (driver_path, browser_path) = match find() {
            Ok(found) => found,
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("{why}: scripts/install-deps.sh installs it, and CI runs that first")
            }
            Err(why) => {
                eprintln!(
                    "SKIPPED: the browser tests need headless Chromium: {why}; run scripts/install-deps.sh"
                );
                return None;
            }
        };
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("address").port()
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let driver = Process::spawn(
            "chromedriver",
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {address}: {}",
                super::read(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let user_data = profile.path().join("chromium");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            format!("--user-data-dir={}", user_data.display()),
            "--disable-dev-shm-usage".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            // Nothing but the UI on loopback: no name resolves, anything not on
            // loopback goes to a port where nothing listens, no background traffic.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string(),
            "--proxy-server=http://127.0.0.1:9".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-extensions".to_string(),
            "--disable-default-apps".to_string(),
            "--disable-domain-reliability".to_string(),
            "--disable-client-side-phishing-detection".to_string(),
            "--no-pings".to_string(),
            "--metrics-recording-only".to_string(),
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication".to_string(),
            "--hide-scrollbars".to_string(),
            "--force-device-scale-factor=1".to_string(),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": browser_path,
                "args": args,
            }),
        );
        let mut builder = ClientBuilder::rustls().expect("WebDriver client");
        builder.capabilities(capabilities);
        let url = format!("http://{address}");
        let client =
            match tokio::time::timeout(Duration::from_secs(60), builder.connect(&url)).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => panic!(
                    "no Chromium session from chromedriver: {e}\n{}",
                    super::read(&log)
                ),
                Err(_) => panic!(
                    "chromedriver gave no session within 60 s\n{}",
                    super::read(&log)
                ),
            };
        let browser = Browser {
            client,
            driver,
            profile,
        };
        browser
            .client
            .set_window_size(WINDOW.0, WINDOW.1)
            .await
            .expect("window size");
        Some(browser)
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_string()
    }

    /// The query of the page shown.
    pub async fn query(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .query()
            .unwrap_or("")
            .to_string()
    }

    /// The text of the element with this id, `None` while there is none.
    pub async fn try_text(&self, id: &str) -> Option<String> {
        let element = self.client.find(Locator::Id(id)).await.ok()?;
        element.text().await.ok()
    }

    /// The text of the element with this id.
    pub async fn text(&self, id: &str) -> String {
        self.try_text(id)
            .await
            .unwrap_or_else(|| panic!("no element #{id} on the page"))
    }

    /// Waits until `check` holds for the text of `#id` (the page may reload meanwhile).
    pub async fn until(&self, id: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.try_text(id).await;
            if let Some(text) = &text
                && check(text)
            {
                return text.clone();
            }
            if Instant::now() > deadline {
                let source = self.client.source().await.unwrap_or_default();
                panic!("#{id} never became {what} (last: {text:?}); the page:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page shown has this path.
    pub async fn until_path(&self, path: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.path().await != path {
            assert!(
                Instant::now() < deadline,
                "the browser never reached {path} (at {})",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element with this id.
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click #{id}: {e}"));
    }

    /// Clicks the element `css` selects.
    pub async fn click_css(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces what the field with this id holds.
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Whether the checkbox with this id is checked.
    pub async fn checked(&self, id: &str) -> bool {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"))
            .is_selected()
            .await
            .expect("checkbox state")
    }

    /// The current value of the input or select with this id.
    pub async fn value(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"))
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Opens the folded section (`<details>`) the element with this id is in, by
    /// clicking its summary as a user would; nothing when it is shown already.
    pub async fn reveal(&self, id: &str) {
        let script = "const e = document.getElementById(arguments[0]); \
                      const d = e && e.closest('details'); \
                      return d && !d.open ? d.id : null;";
        let folded = self
            .client
            .execute(script, vec![serde_json::json!(id)])
            .await
            .expect("script");
        if let Some(details) = folded.as_str() {
            self.click_css(&format!("#{details} > summary")).await;
        }
    }

    /// Types, chooses or ticks, as `input` says (opening a folded section first).
    pub async fn enter(&self, input: &Input<'_>) {
        let id = input.id();
        self.reveal(id).await;
        match *input {
            Input::Text(id, text) => self.fill(id, text).await,
            Input::Choose(id, value) => self
                .client
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("no select #{id}: {e}"))
                .select_by_value(value)
                .await
                .unwrap_or_else(|e| panic!("#{id} has no option {value:?}: {e}")),
            Input::Tick(id, on) => {
                if self.checked(id).await != on {
                    self.click(id).await;
                }
                assert_eq!(self.checked(id).await, on, "#{id} ticked as wanted");
            }
        }
    }

    /// Clicks the element with this id and waits until the next page has loaded (the
    /// one a form's POST redirects to, or shows).
    pub async fn click_and_wait(&self, id: &str) {
        self.client
            .execute("window.shoalBefore = true; return 1;", vec![])
            .await
            .expect("script");
        self.click(id).await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.shoalBefore === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok();
            if loaded == Some(serde_json::Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after clicking #{id} (at {})",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the window.
    pub async fn screenshot(&self, to: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(to, png).expect("write the screenshot");
    }

    /// Ends the session (Chromium quits); the drop cleans up the rest.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = self.driver.id() as libc::pid_t;
        // SAFETY: a plain signal to the driver's own process group (it was made the
        // leader of a new group at spawn).
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let profile = self.profile.path().display().to_string();
        for _ in 0..3 {
            let left = processes_naming(&profile);
            if left.is_empty() {
                break;
            }
            for pid in left {
                // SAFETY: a signal to a process whose command line names our profile.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Processes whose command line contains `text`.
fn processes_naming(text: &str) -> Vec<libc::pid_t> {
    let own = std::process::id() as libc::pid_t;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (pid != own && String::from_utf8_lossy(&cmdline).contains(text)).then_some(pid)
        })
        .collect()
}

/// One thing a user does to a form field.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Replaces the text of the input with this id (`""` empties it).
    Text(&'a str, &'a str),
    /// Chooses the option with this value in the drop-down with this id.
    Choose(&'a str, &'a str),
    /// Ticks (`true`) or clears the checkbox with this id.
    Tick(&'a str, bool),
}

impl Input<'_> {
    /// The field's id.
    pub fn id(&self) -> &str {
        match self {
            Input::Text(id, _) | Input::Choose(id, _) | Input::Tick(id, _) => id,
        }
    }
}
