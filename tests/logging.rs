//! Where `shoal run` logs: journald, stderr text or stderr JSON (src/cli/logging.rs).
//!
//! Each daemon (a dry run without checks: the host has no IPVS) runs in a mount
//! namespace of its own whose /run is a fresh tmpfs, so whether
//! /run/systemd/journal/socket exists is the test's choice whatever the host has. Where
//! it exists it is a bind mount of a temporary directory whose socket the test holds:
//! the test reads what the daemon sends journald. stderr is a file, and JOURNAL_STREAM
//! names it (as systemd does for a unit whose stderr is the journal) or nothing.
//! Needs root for the namespace (as CI runs).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// The daemon, killed on drop (a failed assertion must not leave it running).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one run logged: stderr's text, and each datagram sent to journald as its fields.
struct Logged {
    stderr: String,
    journal: Vec<Vec<(String, String)>>,
}

#[derive(Clone, Copy)]
struct Setup {
    format: &'static str,
    journald: bool,
    stderr_is_journal: bool,
}

/// journald's native protocol: `NAME=value\n`, or `NAME\n`, a little-endian u64 length,
/// the value and `\n` for values that may hold newlines.
fn journal_fields(mut datagram: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while !datagram.is_empty() {
        let end = datagram
            .iter()
            .position(|b| *b == b'\n')
            .expect("a field ends with a newline");
        let head = String::from_utf8_lossy(&datagram[..end]).to_string();
        datagram = &datagram[end + 1..];
        if let Some((name, value)) = head.split_once('=') {
            fields.push((name.to_string(), value.to_string()));
            continue;
        }
        let (length, rest) = datagram.split_at(8);
        let length = u64::from_le_bytes(length.try_into().expect("8 bytes")) as usize;
        let value = String::from_utf8_lossy(&rest[..length]).to_string();
        assert_eq!(
            rest[length], b'\n',
            "a length-encoded value ends with a newline"
        );
        datagram = &rest[length + 1..];
        fields.push((head, value));
    }
    fields
}

fn run(dir: &Path, setup: Setup) -> Logged {
    let settings = dir.join("shoal.toml");
    std::fs::write(
        &settings,
        format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n[log]\nformat = \"{}\"\n",
            setup.format
        ),
    )
    .expect("settings");
    let journal_dir = dir.join("journal");
    std::fs::create_dir(&journal_dir).expect("journal dir");
    let journal = UnixDatagram::bind(journal_dir.join("socket")).expect("journald socket");
    journal
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // Read as journald does, all along: a full socket queue (10 datagrams by default)
    // would block the daemon's next line.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut datagrams = Vec::new();
            let mut buffer = vec![0u8; 65536];
            loop {
                match journal.recv(&mut buffer) {
                    // The journald layer checks the socket with an empty datagram.
                    Ok(0) => {}
                    Ok(n) => datagrams.push(journal_fields(&buffer[..n])),
                    Err(_) if done.load(Ordering::SeqCst) => return datagrams,
                    Err(_) => {}
                }
            }
        })
    };
    let stderr_path = dir.join("stderr.log");
    let stderr = File::create(&stderr_path).expect("stderr file");
    let metadata = stderr.metadata().expect("stderr metadata");
    let control = dir.join("control.sock");

    let script = if setup.journald {
        r#"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind "$1" /run/systemd/journal && shift && exec "$@""#
    } else {
        r#"mount -t tmpfs tmpfs /run && shift && exec "$@""#
    };
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&journal_dir)
        .args([SHOAL, "run", "--dry-run", "--no-checks", "-c", "etc/lvs.cf"])
        .arg("--control")
        .arg(&control)
        .arg("--settings")
        .arg(&settings)
        .env_remove("SHOAL_LOG")
        .env_remove("NO_COLOR")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(stderr);
    if setup.stderr_is_journal {
        command.env(
            "JOURNAL_STREAM",
            format!("{}:{}", metadata.dev(), metadata.ino()),
        );
    } else {
        command.env_remove("JOURNAL_STREAM");
    }
    let mut daemon = Daemon(command.spawn().expect("unshare runs"));

    let mut answered = false;
    for _ in 0..600 {
        let status = Command::new(SHOAL)
            .args(["status", "--control"])
            .arg(&control)
            .output()
            .expect("shoal status runs");
        if status.status.success() {
            answered = true;
            break;
        }
        if let Ok(Some(exit)) = daemon.0.try_wait() {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("the daemon exited ({exit}): {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered, "the daemon answers on its control socket");
    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .arg(&pid)
            .status()
            .expect("kill")
            .success()
    );
    let exit = daemon.0.wait().expect("the daemon exits");
    assert!(exit.success(), "{exit}");

    done.store(true, Ordering::SeqCst);
    let datagrams = reader.join().expect("the journald reader");
    Logged {
        stderr: std::fs::read_to_string(&stderr_path).expect("stderr"),
        journal: datagrams,
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const PLANNED: &str = "would add service TCP 192.0.2.10:80";

#[test]
fn without_a_journald_socket_the_daemon_logs_text_on_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    // stderr is what systemd would call the journal, but there is no journald.
    let logged = run(
        dir.path(),
        Setup {
            format: "text",
            journald: false,
            stderr_is_journal: true,
        },
    );
    assert!(logged.journal.is_empty());
    let line = logged
        .stderr
        .lines()
        .find(|l| l.ends_with(PLANNED))
        .unwrap_or_else(|| panic!("{}", logged.stderr));
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        logged.stderr.lines().any(|l| l.contains("ready: ")),
        "{}",
        logged.stderr
    );
    assert!(!logged.stderr.contains("{\""), "text, not JSON");
    assert!(!logged.stderr.contains('\x1b'), "no colours in a file");
}

#[test]
fn under_systemd_with_journald_the_daemon_logs_to_journald() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logged = run(
        dir.path(),
        Setup {
            format: "text",
            journald: true,
            stderr_is_journal: true,
        },
    );
    assert_eq!(
        logged.stderr, "",
        "nothing on stderr: it all went to journald"
    );
    let planned = logged
        .journal
        .iter()
        .find(|fields| field(fields, "MESSAGE") == Some(PLANNED))
        .unwrap_or_else(|| panic!("{:?}", logged.journal));
    assert_eq!(field(planned, "PRIORITY"), Some("6"), "info: {planned:?}");
    assert_eq!(field(planned, "SYSLOG_IDENTIFIER"), Some("shoal"));
    assert!(
        logged
            .journal
            .iter()
            .any(|f| field(f, "MESSAGE").is_some_and(|m| m.starts_with("ready: "))),
        "{:?}",
        logged.journal
    );
}

#[test]
fn in_a_terminal_or_a_pipe_the_daemon_logs_to_stderr_even_with_journald() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logged = run(
        dir.path(),
        Setup {
            format: "text",
            journald: true,
            stderr_is_journal: false,
        },
    );
    assert!(logged.journal.is_empty(), "{:?}", logged.journal);
    assert!(
        logged.stderr.lines().any(|l| l.ends_with(PLANNED)),
        "{}",
        logged.stderr
    );
}

#[test]
fn json_format_writes_one_object_a_line_on_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Asked for explicitly: JSON on stderr also where journald is.
    let logged = run(
        dir.path(),
        Setup {
            format: "json",
            journald: true,
            stderr_is_journal: true,
        },
    );
    assert!(logged.journal.is_empty(), "{:?}", logged.journal);
    let lines: Vec<serde_json::Value> = logged
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() > 5, "{}", logged.stderr);
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let planned: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == PLANNED)
        .collect();
    assert_eq!(planned.len(), 1, "{}", logged.stderr);
    assert_eq!(planned[0]["level"], "INFO");
}
