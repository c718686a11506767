//! The web UI in a real browser: headless Chromium, driven through chromedriver, against
//! `shoal web` and a dry-run daemon on loopback. Logs in, reads CONTROL/MONITORING,
//! presses START/STOP/RESTART/RELOAD and sees the daemon follow, lets auto update
//! reload the page by itself, changes the password, logs out; on every editing panel
//! changes every field and presses ACCEPT (and the panels' other buttons), checking
//! that lvs.cf changed by exactly that, kept its comments and passes `shoal check`, that
//! an emptied field takes its line out, and that invalid input is shown beside its
//! field and leaves the file byte-identical; and saves the screenshots in
//! docs/screenshots/.
//!
//! Without Chromium (outside CI) the tests say so and pass; scripts/install-deps.sh
//! installs it.

mod web_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use web_support::browser::Browser;
use web_support::browser::Input::{Choose, Text, Tick};
use web_support::cases::{
    GLOBAL_EVERY_FIELD, REAL_EVERY_FIELD, REDUNDANCY_EVERY_FIELD, SCRIPTS_TEXTS, VIRTUAL_CHECKS,
    VIRTUAL_EXTENSIONS, VIRTUAL_SERVER_FIELDS,
};
use web_support::panels::{Deletion, change, delete_confirmed, refused};
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

/// A lab and a logged-in browser on `path`.
async fn logged_in_at(path: &str) -> Option<(Browser, Lab)> {
    let browser = Browser::start().await?;
    let lab = Lab::start();
    log_in(&browser, &lab, PASSWORD).await;
    browser.until_path("/control").await;
    browser.goto(&format!("{}{path}", lab.base())).await;
    browser.until_path(path).await;
    Some((browser, lab))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_settings_and_redundancy_in_a_browser() {
    let _one = ONE_BROWSER.lock().await;
    let Some((browser, lab)) = logged_in_at("/redundancy").await else {
        return;
    };
    let cf = lab.lvs_cf.as_path();
    browser.screenshot(&screenshot("redundancy.png")).await;
    browser.click_css("nav a[href='/global']").await;
    browser.until_path("/global").await;
    browser.screenshot(&screenshot("global.png")).await;
    // Every field of GLOBAL SETTINGS at once.
    change(
        &browser,
        cf,
        GLOBAL_EVERY_FIELD.inputs,
        "accept",
        GLOBAL_EVERY_FIELD.expected,
    )
    .await;
    assert_eq!(
        browser.value("active_cmd").await,
        "\"/usr/local/bin/became active\"",
        "the page shows what was written, quoted as typed"
    );
    assert_eq!(browser.value("network").await, "tunnel");
    // The service, and back.
    change(
        &browser,
        cf,
        &[Choose("service", "fos")],
        "accept",
        &["-service = lvs", "+service = fos"],
    )
    .await;
    change(
        &browser,
        cf,
        &[Choose("service", "lvs")],
        "accept",
        &["-service = fos", "+service = lvs"],
    )
    .await;
    // Emptied fields and a "(default: ...)" choice take their lines out.
    change(
        &browser,
        cf,
        &[
            Text("primary_private", ""),
            Text("tcp_timeout", ""),
            Text("nat_router", ""),
            Text("nat_router_device", ""),
            Text("nat_nmask", ""),
            Text("garp_count", ""),
            Choose("reservation_conflict_action", ""),
        ],
        "accept",
        &[
            "-nat_router = 198.51.100.253 eth1:2",
            "-nat_nmask = 255.255.255.128",
            "-primary_private = 198.51.100.1",
            "-reservation_conflict_action = preempt",
            "-tcp_timeout = 900",
            "-garp_count = 3",
        ],
    )
    .await;
    assert_eq!(browser.value("garp_count").await, "5", "the default shows");
    // Invalid input: beside each field, nothing written, what was typed kept.
    refused(
        &browser,
        cf,
        &[
            Text("tcp_timeout", "soon"),
            Text("active_cmd", "two words"),
            Text("nat_router", "198.51.100.254"),
        ],
        "accept",
        &[
            ("tcp_timeout", "soon"),
            ("active_cmd", "quote a value that contains blanks"),
            ("nat_router_device", "missing arguments"),
        ],
    )
    .await;
    assert_eq!(browser.value("tcp_timeout").await, "soon");

    // REDUNDANCY: every field.
    browser.click_css("nav a[href='/redundancy']").await;
    browser.until_path("/redundancy").await;
    change(
        &browser,
        cf,
        REDUNDANCY_EVERY_FIELD.inputs,
        "accept",
        REDUNDANCY_EVERY_FIELD.expected,
    )
    .await;
    // DISABLE and ENABLE.
    change(
        &browser,
        cf,
        &[],
        "disable",
        &["-backup_active = 1", "+backup_active = 0"],
    )
    .await;
    assert_eq!(browser.text("backup-status").await, "Backup: inactive");
    change(
        &browser,
        cf,
        &[],
        "enable",
        &["-backup_active = 0", "+backup_active = 1"],
    )
    .await;
    assert_eq!(browser.text("backup-status").await, "Backup: active");
    // RESET forgets what was typed.
    let before = std::fs::read(cf).expect("lvs.cf");
    browser.enter(&Text("keepalive", "9")).await;
    browser.click_and_wait("reset").await;
    assert_eq!(browser.value("keepalive").await, "2");
    assert!(std::fs::read(cf).expect("lvs.cf") == before);
    // Emptied fields take their lines out.
    change(
        &browser,
        cf,
        &[Text("heartbeat_port", ""), Text("syncd_iface", "")],
        "accept",
        &["-heartbeat_port = 540", "-syncd_iface = eth1"],
    )
    .await;
    assert_eq!(browser.value("heartbeat_port").await, "539");
    // Invalid input, in a field and in the whole file.
    refused(
        &browser,
        cf,
        &[
            Text("syncd_id", "300"),
            Text("heartbeat_port", "heartbeat-port"),
        ],
        "accept",
        &[
            ("syncd_id", "0 to 255"),
            ("heartbeat_port", "heartbeat-port"),
        ],
    )
    .await;
    browser.click_and_wait("reset").await;
    refused(
        &browser,
        cf,
        &[Text("deadtime", "1")],
        "accept",
        &[("deadtime", "must be greater than keepalive")],
    )
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_servers_list_and_virtual_server_in_a_browser() {
    let _one = ONE_BROWSER.lock().await;
    let Some((browser, lab)) = logged_in_at("/virtual").await else {
        return;
    };
    let cf = lab.lvs_cf.as_path();
    browser.screenshot(&screenshot("virtual-servers.png")).await;
    // (DE)ACTIVATE ftp, twice.
    change(
        &browser,
        cf,
        &[Tick("vs-1", true)],
        "toggle",
        &["-    active = 1", "+    active = 0"],
    )
    .await;
    assert!(browser.text("vs-1-row").await.contains("down"));
    change(
        &browser,
        cf,
        &[Tick("vs-1", true)],
        "toggle",
        &["-    active = 0", "+    active = 1"],
    )
    .await;
    assert!(browser.text("vs-1-row").await.contains("up"));
    // ADD: a new inactive virtual server, and its page.
    let before_add = std::fs::read_to_string(cf).expect("lvs.cf");
    change(
        &browser,
        cf,
        &[],
        "add",
        &["+", "+virtual virtual1 {", "+}"],
    )
    .await;
    assert_eq!(browser.path().await, "/virtual/2/virtual1");
    // Activating it without a VIP is refused above the list, saying why.
    browser.click_css("nav a[href='/virtual']").await;
    browser.until_path("/virtual").await;
    let before = std::fs::read(cf).expect("lvs.cf");
    browser.enter(&Tick("vs-2", true)).await;
    browser.click_and_wait("toggle").await;
    browser
        .until("problems", "the refusal", |t| {
            t.contains("active virtual server 'virtual1' has no address")
        })
        .await;
    assert!(std::fs::read(cf).expect("lvs.cf") == before);
    // DELETE asks first; CANCEL goes back and deletes nothing.
    browser.goto(&format!("{}/virtual", lab.base())).await;
    let deletion = Deletion {
        radio: "vs-2",
        list: "/virtual",
        confirm: "/virtual/2/virtual1/delete",
        block: "virtual virtual1 {\n}",
        expected: &["-", "-virtual virtual1 {", "-}"],
    };
    delete_confirmed(&browser, cf, &deletion, async |browser| {
        browser
            .screenshot(&screenshot("delete-confirmation.png"))
            .await
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(cf).expect("lvs.cf"),
        before_add.replace("serial_no = 3\n", "serial_no = 5\n"),
        "ADD and DELETE leave the file as it was"
    );
    // EDIT goes to the virtual server's page.
    browser.enter(&Tick("vs-0", true)).await;
    browser.click_and_wait("edit").await;
    assert_eq!(browser.path().await, "/virtual/0/http");
    browser.screenshot(&screenshot("virtual-server.png")).await;

    // VIRTUAL SERVER: every field, group by group.
    change(
        &browser,
        cf,
        VIRTUAL_SERVER_FIELDS.inputs,
        "accept",
        VIRTUAL_SERVER_FIELDS.expected,
    )
    .await;
    assert_eq!(browser.path().await, "/virtual/0/www", "renamed");
    change(
        &browser,
        cf,
        VIRTUAL_EXTENSIONS.inputs,
        "accept",
        VIRTUAL_EXTENSIONS.expected,
    )
    .await;
    // Emptied fields and "(default: ...)" choices take their lines out.
    change(
        &browser,
        cf,
        &[
            Text("port", ""),
            Choose("forwarding", ""),
            Choose("tunnel_type", ""),
            Text("tunnel_port", ""),
            Choose("tunnel_csum", ""),
            Text("drain_timeout", ""),
            Text("dirs", ""),
        ],
        "accept",
        &[
            "-    port = 8080",
            "-    dirs = [ /a /b ]",
            "-    forwarding = tunnel",
            "-    tunnel_type = gue",
            "-    tunnel_port = 6080",
            "-    tunnel_csum = csum",
            "-    drain_timeout = 30",
        ],
    )
    .await;
    assert_eq!(browser.value("port").await, "80", "the default shows");
    // Invalid input beside its field.
    refused(
        &browser,
        cf,
        &[
            Text("port", "eighty"),
            Text("address_device", ""),
            Text("name", "two words"),
        ],
        "accept",
        &[
            ("port", "eighty"),
            ("address_device", "missing arguments"),
            ("name", "one word"),
        ],
    )
    .await;
    // The health checks, on ftp.
    browser.goto(&format!("{}/virtual/1/ftp", lab.base())).await;
    change(
        &browser,
        cf,
        VIRTUAL_CHECKS.inputs,
        "accept",
        VIRTUAL_CHECKS.expected,
    )
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_servers_and_monitoring_scripts_in_a_browser() {
    let _one = ONE_BROWSER.lock().await;
    let Some((browser, lab)) = logged_in_at("/virtual/0/http/real").await else {
        return;
    };
    let cf = lab.lvs_cf.as_path();
    browser.screenshot(&screenshot("real-server.png")).await;
    // (DE)ACTIVATE web2.
    change(
        &browser,
        cf,
        &[Tick("rs-1", true)],
        "toggle",
        &["-        active = 1", "+        active = 0"],
    )
    .await;
    assert!(browser.text("rs-1-row").await.contains("down"));
    // ADD, then every field of its form.
    let before_add = std::fs::read_to_string(cf).expect("lvs.cf");
    change(
        &browser,
        cf,
        &[],
        "add",
        &["+    server server1 {", "+    }"],
    )
    .await;
    assert_eq!(browser.path().await, "/virtual/0/http/real/3/server1");
    change(
        &browser,
        cf,
        REAL_EVERY_FIELD.inputs,
        "accept",
        REAL_EVERY_FIELD.expected,
    )
    .await;
    assert_eq!(browser.path().await, "/virtual/0/http/real/3/web4");
    browser
        .screenshot(&screenshot("real-server-edit.png"))
        .await;
    // Emptied fields and "(default: ...)" choices take their lines out.
    change(
        &browser,
        cf,
        &[
            Text("weight", ""),
            Choose("forwarding", ""),
            Choose("tunnel_type", ""),
            Text("tunnel_port", ""),
            Choose("tunnel_csum", ""),
        ],
        "accept",
        &[
            "-        weight = 3",
            "-        forwarding = nat",
            "-        tunnel_type = ipip",
            "-        tunnel_port = 6080",
            "-        tunnel_csum = nocsum",
        ],
    )
    .await;
    assert_eq!(browser.value("weight").await, "1", "the default shows");
    refused(
        &browser,
        cf,
        &[Text("weight", "heavy")],
        "accept",
        &[("weight", "heavy")],
    )
    .await;
    // CANCEL goes back to the list; EDIT comes back.
    browser.click_and_wait("cancel").await;
    assert_eq!(browser.path().await, "/virtual/0/http/real");
    browser.enter(&Tick("rs-3", true)).await;
    browser.click_and_wait("edit").await;
    assert_eq!(browser.path().await, "/virtual/0/http/real/3/web4");
    // DELETE asks first; CANCEL deletes nothing.
    browser.click_and_wait("cancel").await;
    let deletion = Deletion {
        radio: "rs-3",
        list: "/virtual/0/http/real",
        confirm: "/virtual/0/http/real/3/web4/delete",
        block: "    server web4 {",
        expected: &[
            "-    server web4 {",
            "-        address = 198.51.100.14",
            "-        port = 8080",
            "-        upper_threshold = 100",
            "-        lower_threshold = 50",
            "-    }",
        ],
    };
    delete_confirmed(&browser, cf, &deletion, async |_| {}).await;
    assert_eq!(
        std::fs::read_to_string(cf).expect("lvs.cf"),
        before_add.replace("serial_no = 2\n", "serial_no = 6\n"),
        "ADD, its changes and DELETE leave the file as it was"
    );
    // web2, between two blank lines, goes without leaving two.
    browser.enter(&Tick("rs-1", true)).await;
    browser.click_and_wait("delete").await;
    change(
        &browser,
        cf,
        &[],
        "confirm",
        &[
            "-    server web2 {",
            "-        address = 198.51.100.12",
            "-        active = 0",
            "-        weight = 1",
            "-    }",
            "-",
        ],
    )
    .await;
    // The list's CANCEL goes to VIRTUAL SERVERS.
    browser.click_and_wait("cancel").await;
    assert_eq!(browser.path().await, "/virtual");

    // MONITORING SCRIPTS of ftp.
    browser
        .goto(&format!("{}/virtual/1/ftp/scripts", lab.base()))
        .await;
    browser
        .screenshot(&screenshot("monitoring-scripts.png"))
        .await;
    assert_eq!(browser.text("send-current").await, "\"quit\\r\\n\"");
    change(
        &browser,
        cf,
        SCRIPTS_TEXTS.inputs,
        "accept",
        SCRIPTS_TEXTS.expected,
    )
    .await;
    for (button, line) in [
        ("blank-send", "-    send = \"QUIT\\r\\n\""),
        (
            "no-send-program",
            "-    send_program = \"/usr/local/bin/check-ftp %h %p\"",
        ),
        ("blank-expect", "-    expect = \"^2[0-9]{2}\""),
    ] {
        change(&browser, cf, &[], button, &[line]).await;
    }
    refused(
        &browser,
        cf,
        &[Text("send", "\"QUIT")],
        "accept",
        &[("send", "never closed")],
    )
    .await;
    browser.close().await;
}
