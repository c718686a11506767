//! The web UI in a real browser: headless Chromium, driven through chromedriver, against
//! `shoal web` and a dry-run daemon on loopback. Logs in, reads CONTROL/MONITORING,
//! presses START/STOP/RESTART/RELOAD and sees the daemon follow, lets auto update
//! reload the page by itself, changes the password, logs out; and saves the
//! screenshots in docs/screenshots/.
//!
//! Without Chromium (outside CI) the tests say so and pass; scripts/install-deps.sh
//! installs it.

mod web_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use web_support::browser::Browser;
use web_support::{Lab, PASSWORD};

/// One browser at a time: each is heavy for a small machine.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

fn screenshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/screenshots")
        .join(name)
}

async fn log_in(browser: &Browser, lab: &Lab, password: &str) {
    browser.goto(&format!("{}/login", lab.base())).await;
    browser.until_path("/login").await;
    browser.fill("password", password).await;
    browser.click("login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_page_shows_and_drives_the_daemon() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let lab = Lab::start();
    // Without a login the browser lands on the login page.
    browser.goto(&format!("{}/control", lab.base())).await;
    browser.until_path("/login").await;
    assert_eq!(
        browser
            .client
            .find(fantoccini::Locator::Id("user"))
            .await
            .expect("user field")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("piranha"),
        "Piranha's user is filled in"
    );
    browser.screenshot(&screenshot("login.png")).await;
    log_in(&browser, &lab, PASSWORD).await;
    browser.until_path("/control").await;

    // What the page shows is the daemon's state.
    assert_eq!(lab.state(), "active");
    assert_eq!(browser.text("state").await, "active");
    assert!(browser.text("daemon").await.starts_with("running (dry run"));
    assert_eq!(browser.text("serials").await, lab.serial().to_string());
    let table = browser.text("routing").await;
    for line in [
        "TCP 192.0.2.10:80 wlc",
        "http",
        "FWM 21 wlc persistent 300",
        "web3 198.51.100.13:80 Masq 2",
    ] {
        assert!(
            table.contains(line),
            "the routing table shows {line}:\n{table}"
        );
    }
    browser.screenshot(&screenshot("control.png")).await;

    // STOP, START, RESTART: the daemon follows and the page says so.
    browser.click("stop").await;
    browser
        .until("flash", "the stop's outcome", |t| {
            t.starts_with("stop: the service is stopped")
        })
        .await;
    assert_eq!(browser.text("state").await, "stopped");
    assert_eq!(lab.state(), "stopped");
    assert!(
        browser.text("routing").await.trim().is_empty(),
        "a stopped service has no table"
    );

    browser.click("start").await;
    browser
        .until("flash", "the start's outcome", |t| {
            t.starts_with("start: the service is active")
        })
        .await;
    assert_eq!(browser.text("state").await, "active");
    assert_eq!(lab.state(), "active");

    let planned = lab.planned_operations();
    browser.click("restart").await;
    browser
        .until("flash", "the restart's outcome", |t| {
            t.starts_with("restart: the service is active")
        })
        .await;
    assert_eq!(browser.text("state").await, "active");
    assert!(
        lab.planned_operations() > planned,
        "the restart took the table down and up again"
    );

    // RELOAD applies an edited lvs.cf.
    let text = std::fs::read_to_string(&lab.lvs_cf).expect("lvs.cf");
    let edited = text
        .replacen("serial_no = 1\n", "serial_no = 7\n", 1)
        .replacen("        weight = 2\n", "        weight = 5\n", 1);
    std::fs::write(&lab.lvs_cf, edited).expect("edit lvs.cf");
    browser.click("reload").await;
    browser
        .until("flash", "the reload's outcome", |t| {
            t.starts_with("reload: serial_no 7 in use")
        })
        .await;
    assert_eq!(browser.text("serials").await, "7");
    assert_eq!(lab.serial(), 7);
    assert!(
        browser
            .text("routing")
            .await
            .contains("web3 198.51.100.13:80 Masq 5"),
        "the new weight is shown"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_update_reloads_the_page_by_itself() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let lab = Lab::start();
    log_in(&browser, &lab, PASSWORD).await;
    browser.until_path("/control").await;
    assert_eq!(browser.text("state").await, "active");
    assert!(
        !browser.checked("auto").await,
        "auto update is off at first"
    );
    assert_eq!(
        browser
            .client
            .find(fantoccini::Locator::Id("interval"))
            .await
            .expect("interval field")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("10"),
        "Piranha's default interval"
    );

    // Without auto update the page stays as it was when the daemon changes.
    lab.control("stop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        browser.text("state").await,
        "active",
        "no reload without auto update"
    );
    browser.click("update").await;
    browser.until("state", "stopped", |t| t == "stopped").await;
    lab.control("start");

    // With it, every 2 seconds.
    browser.click("auto").await;
    browser.fill("interval", "2").await;
    browser.click("update").await;
    browser.until("state", "active", |t| t == "active").await;
    let query = browser.query().await;
    assert!(
        query.contains("auto=on") && query.contains("interval=2"),
        "{query}"
    );
    assert!(browser.checked("auto").await);
    // A mark in this page's script state: a reload loses it.
    browser
        .client
        .execute("window.shoalMark = 'before'; return 1;", vec![])
        .await
        .expect("script");
    lab.control("stop");
    let stopped_at = Instant::now();
    browser
        .until("state", "stopped, by itself", |t| t == "stopped")
        .await;
    let took = stopped_at.elapsed();
    let mark = browser
        .client
        .execute("return window.shoalMark === undefined;", vec![])
        .await
        .expect("script");
    assert_eq!(mark, serde_json::Value::Bool(true), "the page was reloaded");
    assert!(
        took < Duration::from_secs(8),
        "reloaded within the interval: {took:?}"
    );
    assert!(browser.checked("auto").await, "auto update stays on");
    assert!(browser.query().await.contains("interval=2"));
    // And again the other way.
    lab.control("start");
    browser
        .until("state", "active, by itself", |t| t == "active")
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_and_logout_in_a_browser() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let lab = Lab::start();
    const NEW: &str = "a brand new password";

    // A wrong password is refused on the page.
    log_in(&browser, &lab, "not the password").await;
    browser
        .until("error", "the refusal", |t| t == "wrong user or password")
        .await;
    log_in(&browser, &lab, PASSWORD).await;
    browser.until_path("/control").await;

    browser.click("change-password").await;
    browser.until_path("/password").await;
    browser.screenshot(&screenshot("password.png")).await;
    // Two different new passwords: refused, nothing changed.
    browser.fill("current", PASSWORD).await;
    browser.fill("new", NEW).await;
    browser.fill("confirm", "something else").await;
    browser.click("accept").await;
    browser
        .until("error", "the refusal", |t| {
            t == "the two new passwords differ"
        })
        .await;
    browser.fill("current", PASSWORD).await;
    browser.fill("new", NEW).await;
    browser.fill("confirm", NEW).await;
    browser.click("accept").await;
    browser.until_path("/login").await;
    browser
        .until("flash", "the change's outcome", |t| {
            t == "password changed: log in with the new one"
        })
        .await;
    // The session is over, and the old password no longer opens one.
    browser.goto(&format!("{}/control", lab.base())).await;
    browser.until_path("/login").await;
    log_in(&browser, &lab, PASSWORD).await;
    browser
        .until("error", "the refusal", |t| t == "wrong user or password")
        .await;
    assert_eq!(browser.path().await, "/login");
    log_in(&browser, &lab, NEW).await;
    browser.until_path("/control").await;
    assert_eq!(browser.text("state").await, "active");

    // LOGOUT ends it.
    browser.click_css("form.logout button").await;
    browser.until_path("/login").await;
    browser.goto(&format!("{}/control", lab.base())).await;
    browser.until_path("/login").await;
    browser.goto(&format!("{}/password", lab.base())).await;
    browser.until_path("/login").await;
    browser.close().await;
}
