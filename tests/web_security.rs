//! The web UI's security, proved on a real `shoal web` process driving a dry-run
//! daemon, over loopback: no route answers any method without a login (Piranha's
//! CVE-2013-6492 was a POST its access control missed), no state-changing request
//! passes without this session's CSRF token from this site, failed logins are limited
//! per client, old sessions die with a password change or a logout, clients outside
//! the allowed networks get no byte, cookies and headers are strict, the UI will not
//! start without a password, and lvs.cf text is escaped on the pages.
//!
//! The routes come from the router's own list (`shoal::web::pages::route_paths`), so
//! a page added later is covered without touching this file.

mod web_support;

use std::net::IpAddr;

use shoal::web::pages::route_paths;
use shoal::web::security::PUBLIC_PATHS;
use web_support::{
    COOKIE, Http, Lab, LabOptions, PASSWORD, Reply, SAMPLE_LVS_CF, USER, concrete_paths, raw,
};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
const NEW_PASSWORD: &str = "a new password, long enough";

fn second_loopback() -> IpAddr {
    "127.0.0.2".parse().expect("address")
}

/// What must stay as it was whatever the refused requests said: the files the UI
/// writes and everything the daemon would have done.
struct Untouched {
    lvs_cf: Vec<u8>,
    passwd: Vec<u8>,
    state: String,
    serial: u64,
    planned: usize,
}

impl Untouched {
    /// Takes the picture. lvs.cf on disk is given a higher serial_no than the daemon
    /// runs first, so a reload that got through would show in `shoal status`.
    fn of(lab: &Lab) -> Untouched {
        let text = std::fs::read_to_string(&lab.lvs_cf).expect("lvs.cf");
        let bumped = text.replacen("serial_no = 1\n", "serial_no = 2\n", 1);
        assert_ne!(text, bumped, "the lvs.cf has serial_no = 1");
        std::fs::write(&lab.lvs_cf, bumped).expect("write lvs.cf");
        let untouched = Untouched {
            lvs_cf: std::fs::read(&lab.lvs_cf).expect("lvs.cf"),
            passwd: std::fs::read(&lab.passwd).expect("password file"),
            state: lab.state(),
            serial: lab.serial(),
            planned: lab.planned_operations(),
        };
        assert_eq!((untouched.state.as_str(), untouched.serial), ("active", 1));
        untouched
    }

    fn check(&self, lab: &Lab, after: &str) {
        assert!(
            std::fs::read(&lab.lvs_cf).expect("lvs.cf") == self.lvs_cf,
            "{after}: lvs.cf changed"
        );
        assert!(
            std::fs::read(&lab.passwd).expect("password file") == self.passwd,
            "{after}: the password file changed"
        );
        assert_eq!(
            lab.state(),
            self.state,
            "{after}: the service state changed"
        );
        assert_eq!(lab.serial(), self.serial, "{after}: the daemon reloaded");
        assert_eq!(
            lab.planned_operations(),
            self.planned,
            "{after}: the daemon planned kernel operations (a start, stop or restart got through)"
        );
        let log = lab.web_log();
        for action in ["start", "stop", "restart", "reload", "sync"] {
            assert!(
                !log.contains(&format!("web UI: {action}:")),
                "{after}: the UI asked the daemon to {action}:\n{log}"
            );
        }
        assert!(
            !log.contains("password of"),
            "{after}: a password was changed:\n{log}"
        );
    }
}

/// A body that would do harm if any handler read it.
fn harmful_body(token: &str) -> String {
    serde_urlencoded::to_string([
        ("csrf", token),
        ("current", PASSWORD),
        ("new", "attacker's password"),
        ("confirm", "attacker's password"),
        ("action", "stop"),
    ])
    .expect("form")
}

fn refused_without_login(reply: &Reply, method: &str, path: &str, who: &str) {
    let public = PUBLIC_PATHS.contains(&path);
    match method {
        "GET" | "HEAD" if public => {
            assert_eq!(reply.status, 200, "{who}: {method} {path} (public)");
        }
        "GET" | "HEAD" => {
            assert_eq!(
                (reply.status, reply.header("location").as_deref()),
                (303, Some("/login")),
                "{who}: {method} {path} must be sent to the login page: {}",
                reply.body
            );
            assert!(
                !reply.body.contains("ROUTING TABLE") && reply.csrf().is_none(),
                "{who}: {method} {path}: a refusal shows no page: {}",
                reply.body
            );
        }
        // A login attempt with a valid token but no password: refused as a login.
        "POST" if path == "/login" && who.contains("anonymous session") => {
            assert!(
                matches!(reply.status, 401 | 429),
                "{who}: POST /login without a password: {}",
                reply.status
            );
        }
        // The public pages with their own token: past the token check, the router
        // has nothing for these methods.
        _ if public && who.contains("anonymous session") => {
            assert!(
                matches!(reply.status, 403 | 405),
                "{who}: {method} {path} (public) must be refused, got {}: {}",
                reply.status,
                reply.body
            );
        }
        _ => {
            assert!(
                matches!(reply.status, 401 | 403),
                "{who}: {method} {path} must be refused with 401 or 403, got {}: {}",
                reply.status,
                reply.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_every_method_without_a_login() {
    let lab = Lab::start();
    let untouched = Untouched::of(&lab);
    let base = lab.base();
    // An anonymous session: the login page gave it a cookie and a real CSRF token, so
    // the login check alone stands between it and the handlers.
    let mut anonymous = Http::new(&lab);
    let token = anonymous
        .get("/login")
        .await
        .csrf()
        .expect("login page token");
    assert!(anonymous.cookie.is_some(), "the login page sets a cookie");
    let mut forged = Http::new(&lab);
    forged.cookie = Some(format!("{COOKIE}=AAAAAAAAAAAAAAAAAAAAAA"));
    let mut bare = Http::new(&lab);
    let routes = route_paths();
    assert!(routes.contains(&"/control/{action}") && routes.contains(&"/password"));
    let mut requests = 0;
    for route in &routes {
        for path in concrete_paths(route) {
            for method in METHODS {
                for (who, client) in [
                    ("no cookie", &mut bare),
                    ("a forged cookie", &mut forged),
                    ("an anonymous session with its CSRF token", &mut anonymous),
                ] {
                    let body = (!matches!(method, "GET" | "HEAD")).then(|| harmful_body(&token));
                    let reply = client
                        .send(
                            method,
                            &path,
                            &[("origin", &base), ("sec-fetch-site", "same-origin")],
                            body,
                        )
                        .await;
                    refused_without_login(&reply, method, route, who);
                    requests += 1;
                }
            }
        }
    }
    assert!(requests >= routes.len() * METHODS.len() * 3);
    untouched.check(&lab, "requests without a login");
    // The harness can see a change: the same stop with a login goes through.
    let mut http = Http::logged_in(&lab).await;
    let token = http.token().await;
    let reply = http.post("/control/stop", &[("csrf", &token)]).await;
    assert_eq!(reply.status, 303);
    assert_eq!(lab.state(), "stopped", "a logged-in stop stops the service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_do_not_get_past_the_login() {
    let lab = Lab::start();
    let untouched = Untouched::of(&lab);
    let mut anonymous = Http::new(&lab);
    let token = anonymous
        .get("/login")
        .await
        .csrf()
        .expect("login page token");
    let cookie = anonymous.cookie.clone().expect("cookie");
    let address = lab.addr();
    let body = format!("csrf={token}");
    for target in [
        "/control/stop?/login".to_string(),
        "/control/stop#/login".to_string(),
        "//control/stop".to_string(),
        "/login/../control/stop".to_string(),
        "/static/shoal.css/../../control/stop".to_string(),
        "/static/../control/stop".to_string(),
        "/%63ontrol/stop".to_string(),
        "/control/%73top".to_string(),
        "/control/stop/".to_string(),
        "/control/stop;/login".to_string(),
        "/login%2f..%2fcontrol%2fstop".to_string(),
        "/LOGIN".to_string(),
        format!("http://{address}/control/stop"),
        format!("http://{address}/login/../control/stop"),
    ] {
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: {address}\r\nOrigin: http://{address}\r\nSec-Fetch-Site: same-origin\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = raw(address, None, request.as_bytes()).expect("connects");
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        assert!(
            matches!(status, Some(400 | 401 | 403 | 404)),
            "POST {target} without a login: {answer}"
        );
    }
    untouched.check(&lab, "path tricks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_needs_its_token_and_this_site_for_every_change() {
    let lab = Lab::start();
    let untouched = Untouched::of(&lab);
    let base = lab.base();
    let mut http = Http::logged_in(&lab).await;
    let token = http.token().await;
    let mut other = Http::logged_in(&lab).await;
    let other_token = other.token().await;
    assert_ne!(token, other_token, "each session has its own token");
    let wrong = "0".repeat(token.len());
    let same_site = [("origin", base.as_str()), ("sec-fetch-site", "same-origin")];
    for route in route_paths() {
        for path in concrete_paths(route) {
            for method in METHODS
                .into_iter()
                .filter(|m| !matches!(*m, "GET" | "HEAD"))
            {
                for (what, body) in [
                    ("no token", Some(String::new())),
                    ("no body", None),
                    ("a wrong token", Some(harmful_body(&wrong))),
                    ("a token cut short", Some(harmful_body(&token[..32]))),
                    ("another session's token", Some(harmful_body(&other_token))),
                    ("the token in the query", Some(String::new())),
                ] {
                    let target = if what.contains("query") {
                        format!("{path}?csrf={token}")
                    } else {
                        path.clone()
                    };
                    let reply = http.send(method, &target, &same_site, body).await;
                    assert_eq!(
                        reply.status, 403,
                        "{method} {path} with a session and {what}: {}",
                        reply.body
                    );
                }
            }
        }
    }
    // The right token from another site, in every way a browser says so.
    let https_origin = base.replace("http://", "https://");
    let cross_site: [(&str, Vec<(&str, &str)>); 7] = [
        (
            "Origin of another site",
            vec![("origin", "http://evil.example")],
        ),
        ("Origin 'null'", vec![("origin", "null")]),
        (
            "Origin of another port",
            vec![("origin", "http://127.0.0.1:1")],
        ),
        (
            "Origin with https for an http UI",
            vec![("origin", &https_origin)],
        ),
        (
            "Sec-Fetch-Site: cross-site",
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "Sec-Fetch-Site: same-site",
            vec![("sec-fetch-site", "same-site")],
        ),
        (
            "a same Origin but Sec-Fetch-Site: cross-site",
            vec![("origin", &base), ("sec-fetch-site", "cross-site")],
        ),
    ];
    for (what, headers) in &cross_site {
        for path in ["/control/stop", "/control/reload", "/password", "/logout"] {
            let body = harmful_body(&token);
            let reply = http.send("POST", path, headers, Some(body)).await;
            assert_eq!(reply.status, 403, "POST {path} with {what}: {}", reply.body);
        }
    }
    untouched.check(&lab, "requests without the token or from another site");
    assert!(
        http.works().await,
        "the refused logout did not end the session"
    );
    // With the token and from this site the same request works: the refusals above
    // were the checks, not a broken request.
    let reply = http.post("/control/stop", &[("csrf", &token)]).await;
    assert_eq!(
        (reply.status, reply.header("location").as_deref()),
        (303, Some("/control"))
    );
    assert_eq!(lab.state(), "stopped");
    // A browser that sends neither header (an old one) passes on the token alone.
    let body = format!("csrf={token}");
    let reply = http.send("POST", "/control/start", &[], Some(body)).await;
    assert_eq!(reply.status, 303);
    assert_eq!(lab.state(), "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_failed_login_is_refused_even_with_the_right_password_per_client() {
    let lab = Lab::start();
    let mut local = Http::new(&lab);
    for attempt in 1..=5 {
        let reply = local.login("not the password").await;
        assert_eq!(reply.status, 401, "failed login {attempt}: {}", reply.body);
        assert!(reply.body.contains("wrong user or password"));
    }
    let reply = local.login(PASSWORD).await;
    assert_eq!(reply.status, 429, "the sixth login: {}", reply.body);
    assert!(
        reply.body.contains("too many failed logins from 127.0.0.1"),
        "{}",
        reply.body
    );
    assert!(!local.works().await, "a refused login made no session");
    // A fresh client from the same address is still refused; the limit is per client
    // address, not per cookie.
    let reply = Http::new(&lab).login(PASSWORD).await;
    assert_eq!(reply.status, 429);
    // Another client address is not affected.
    let mut other = Http::from(&lab, Some(second_loopback()));
    let reply = other.login(PASSWORD).await;
    assert_eq!(
        (reply.status, reply.header("location").as_deref()),
        (303, Some("/control")),
        "login from 127.0.0.2: {}",
        reply.body
    );
    assert!(other.works().await);
    assert!(
        lab.web_log()
            .contains("failed login for 'piranha' from 127.0.0.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_set_with_shoal_passwd_ends_older_sessions() {
    let lab = Lab::start();
    let mut http = Http::logged_in(&lab).await;
    let old_cookie = http.cookie.clone();
    assert!(http.works().await);
    lab.passwd(NEW_PASSWORD).expect("shoal passwd");
    let mut stale = http.anonymous();
    stale.cookie = old_cookie;
    assert!(
        !stale.works().await,
        "a session from before shoal passwd is dead"
    );
    assert_eq!(Http::new(&lab).login(PASSWORD).await.status, 401);
    let mut fresh = Http::new(&lab);
    assert_eq!(fresh.login(NEW_PASSWORD).await.status, 303);
    assert!(fresh.works().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_in_the_ui_ends_every_session_made_with_the_old_one() {
    let lab = Lab::start();
    let mut changer = Http::logged_in(&lab).await;
    let mut bystander = Http::logged_in(&lab).await;
    let token = changer.token().await;
    let form = changer.get("/password").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("CHANGE PASSWORD"));
    // A wrong current password changes nothing.
    let before = std::fs::read(&lab.passwd).expect("password file");
    let reply = changer
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current", "not the password"),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("the current password is wrong"));
    assert!(std::fs::read(&lab.passwd).expect("password file") == before);
    assert!(bystander.works().await && changer.works().await);
    let reply = changer
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current", PASSWORD),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (reply.status, reply.header("location").as_deref()),
        (303, Some("/login")),
        "{}",
        reply.body
    );
    assert!(std::fs::read(&lab.passwd).expect("password file") != before);
    assert!(
        !changer.works().await,
        "the changing session must log in again"
    );
    assert!(!bystander.works().await, "another old session is dead too");
    assert_eq!(Http::new(&lab).login(PASSWORD).await.status, 401);
    let mut fresh = Http::new(&lab);
    assert_eq!(fresh.login(NEW_PASSWORD).await.status, 303);
    assert!(fresh.works().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_from_before_a_logout_is_worth_nothing() {
    let lab = Lab::start();
    let mut http = Http::logged_in(&lab).await;
    let token = http.token().await;
    let cookie = http.cookie.clone();
    let reply = http.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(
        (reply.status, reply.header("location").as_deref()),
        (303, Some("/login"))
    );
    let mut replay = http.anonymous();
    replay.cookie = cookie;
    assert!(!replay.works().await, "the logged-out cookie opens nothing");
    let untouched = Untouched::of(&lab);
    let reply = replay.post("/control/stop", &[("csrf", &token)]).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    untouched.check(&lab, "a stop with a logged-out cookie and its token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_outside_the_allowed_networks_gets_no_byte() {
    let lab = Lab::with(LabOptions {
        allow: vec!["127.0.0.2/32".into()],
        ..LabOptions::default()
    });
    let address = lab.addr();
    let request = format!("GET /login HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let refused = raw(address, None, request.as_bytes())
        .expect("the TCP connection itself is accepted (then closed)");
    assert!(
        refused.is_empty(),
        "127.0.0.1 is outside the allowed networks: {}",
        String::from_utf8_lossy(&refused)
    );
    let admitted = raw(address, Some(second_loopback()), request.as_bytes()).expect("connects");
    let admitted = String::from_utf8_lossy(&admitted);
    assert!(
        admitted.starts_with("HTTP/1.1 200"),
        "127.0.0.2 is allowed: {admitted}"
    );
    let mut http = Http::from(&lab, Some(second_loopback()));
    assert_eq!(http.login(PASSWORD).await.status, 303);
    assert!(http.works().await);
    assert!(
        lab.web_log()
            .contains("refused: outside the allowed networks")
    );
}

fn assert_strict_cookie(cookie: &str, secure: bool) {
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(cookie.starts_with(&format!("{COOKIE}=")), "{cookie}");
    assert!(attributes.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(
        attributes.iter().any(|a| a == "samesite=strict"),
        "{cookie}"
    );
    assert!(attributes.iter().any(|a| a == "path=/"), "{cookie}");
    assert_eq!(
        attributes.iter().any(|a| a == "secure"),
        secure,
        "Secure exactly under TLS: {cookie}"
    );
}

async fn cookies_of_a_login(http: &mut Http) -> Vec<String> {
    let page = http.get("/login").await;
    let mut cookies = page.set_cookies();
    let token = page.csrf().expect("token");
    let reply = http
        .post(
            "/login",
            &[("csrf", &token), ("user", USER), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    cookies.extend(reply.set_cookies());
    cookies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_http_only_same_site_strict_and_secure_under_tls() {
    let plain = Lab::start();
    let mut http = Http::new(&plain);
    let cookies = cookies_of_a_login(&mut http).await;
    assert_eq!(
        cookies.len(),
        2,
        "one before the login, a new id at it: {cookies:?}"
    );
    assert_ne!(
        cookies[0].split(';').next(),
        cookies[1].split(';').next(),
        "the login gives a new session id"
    );
    for cookie in &cookies {
        assert_strict_cookie(cookie, false);
    }
    assert!(http.works().await);

    let tls = Lab::with(LabOptions {
        tls: true,
        ..LabOptions::default()
    });
    assert!(tls.base().starts_with("https://127.0.0.1:"));
    let mut https = Http::new(&tls);
    let cookies = cookies_of_a_login(&mut https).await;
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        assert_strict_cookie(cookie, true);
    }
    assert!(https.works().await);
    // Under TLS the same origin is the https one.
    let token = https.token().await;
    let http_origin = tls.base().replace("https://", "http://");
    let body = format!("csrf={token}");
    let reply = https
        .send(
            "POST",
            "/control/stop",
            &[("origin", &http_origin)],
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(tls.state(), "active");
    let reply = https.post("/control/stop", &[("csrf", &token)]).await;
    assert_eq!(reply.status, 303);
    assert_eq!(tls.state(), "stopped");
    // Plain HTTP to the TLS port gets no page.
    let address = tls.addr();
    let request = format!("GET /login HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let answer = raw(address, None, request.as_bytes()).expect("connects");
    assert!(
        !String::from_utf8_lossy(&answer).contains("LOGIN"),
        "no page over plain HTTP on the TLS port"
    );
}

fn assert_security_headers(reply: &Reply, what: &str) {
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert!(
        directives.contains(&"frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert!(directives.contains(&"default-src 'none'"), "{what}: {csp}");
    assert_eq!(
        reply.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        reply.header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
}

/// A page that needs inline script or style would be broken by the policy.
fn assert_nothing_inline(reply: &Reply, what: &str) {
    let body = reply.body.to_ascii_lowercase();
    for inline in [
        "<style",
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(
            !body.contains(inline),
            "{what} has {inline}, which the CSP blocks"
        );
    }
    // A script element must load a file; one with its code inline is blocked.
    for (at, _) in body.match_indices("<script") {
        let tag = body[at..].split_once('>').map_or("", |(tag, _)| tag);
        assert!(
            tag.contains(" src="),
            "{what} has an inline script, which the CSP blocks"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let lab = Lab::start();
    let mut anonymous = Http::new(&lab);
    let mut http = Http::logged_in(&lab).await;
    for route in route_paths() {
        for path in concrete_paths(route) {
            for method in METHODS {
                let reply = anonymous.send(method, &path, &[], None).await;
                assert_security_headers(&reply, &format!("{method} {path} without a login"));
                let reply = http.send(method, &path, &[], None).await;
                assert_security_headers(&reply, &format!("{method} {path} logged in"));
                if method == "GET" && reply.status == 200 {
                    assert_nothing_inline(&reply, &path);
                }
            }
        }
    }
    let reply = http.get("/no/such/page").await;
    assert_eq!(reply.status, 404);
    assert_security_headers(&reply, "a 404");
    let mut limited = Http::new(&lab);
    for _ in 0..6 {
        limited.login("not the password").await;
    }
    let reply = limited.login("not the password").await;
    assert_eq!(reply.status, 429);
    assert_security_headers(&reply, "a 429");
}

#[test]
fn the_ui_will_not_start_without_a_password_and_says_how_to_set_one() {
    let mut lab = Lab::with(LabOptions {
        password: false,
        web: false,
        ..LabOptions::default()
    });
    assert!(!lab.passwd.exists());
    let error = lab.start_web().expect_err("no password: no UI");
    assert!(error.contains("exit status: 1"), "{error}");
    assert!(error.contains("shoal passwd"), "{error}");
    assert!(error.contains(&lab.passwd.display().to_string()), "{error}");
    // And once it is set, it starts.
    lab.passwd(PASSWORD).expect("shoal passwd");
    lab.start_web().expect("starts with a password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_lvs_cf_is_escaped_on_the_control_page() {
    let script = "<script>alert(1)</script>";
    let image = "<img/src=x/onerror=alert(2)>&amp;";
    let lvs_cf = SAMPLE_LVS_CF
        .replacen("virtual http {", &format!("virtual {script} {{"), 1)
        .replacen("server web1 {", &format!("server {image} {{"), 1);
    let lab = Lab::with(LabOptions {
        lvs_cf,
        ..LabOptions::default()
    });
    let check = std::process::Command::new(web_support::shoal_binary())
        .arg("check")
        .arg(&lab.lvs_cf)
        .output()
        .expect("shoal check runs");
    assert!(
        check.status.success(),
        "shoal check accepts the names: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(lab.status().contains(script), "the daemon runs the names");
    let mut http = Http::logged_in(&lab).await;
    let page = http.get("/control").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(script) && !page.body.contains("<img"),
        "raw markup from lvs.cf on the page:\n{}",
        page.body
    );
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the virtual server's name, escaped:\n{}",
        page.body
    );
    assert!(
        page.body.contains("&#38;amp;") || page.body.contains("&amp;amp;"),
        "an entity in a name is shown as written, not decoded:\n{}",
        page.body
    );
}
