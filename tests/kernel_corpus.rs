//! Every corpus lvs.cf that Piranha ran (`.ipvs` beside it): `shoal run` programs the
//! same steady-state table Piranha's lvsd and nanny did, as `ipvsadm -Ln` and
//! `ipvsadm -Ln --timeout` show it, except for the differences listed (and explained)
//! in `KNOWN`. Runs in the lab VM (`scripts/lab-tests.sh`), each file in a fresh
//! network namespace.

mod lab_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lab_support::{in_fresh_netns, run};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// Differences between Piranha's table and shoal's, by file: lines only Piranha showed,
/// lines only shoal shows, and why.
const KNOWN: &[(&str, &[&str], &[&str], &str)] = &[
    (
        "19-crlf-line-endings",
        &[],
        &[
            "-> 192.168.0.121:80 Route 1 0 0",
            "-> 192.168.0.122:80 Route 1 0 0",
            "TCP 192.168.0.30:80 wlc",
        ],
        "Piranha 0.8.6 parses only the first line of a CR LF file; shoal reads it all \
         (docs/lvs-cf.md, deliberate difference 3)",
    ),
    (
        "39-sorry-server-all-down-regex",
        &[],
        &[
            "-> 10.31.9.21:8443 Masq 1 0 0",
            "-> 10.31.9.22:8443 Masq 1 0 0",
        ],
        "the oracle's api servers had no listener, so Piranha's nanny kept them out; \
         shoal has no health checks yet and programs every active real server",
    ),
];

fn corpus_dir() -> PathBuf {
    std::env::var_os("SHOAL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/lvs.cf")
        })
}

/// The steady-phase `ipvsadm -Ln` entries and the timeout line of an `.ipvs` file.
fn piranha_steady(ipvs: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(ipvs).expect("read .ipvs");
    let steady = text
        .split("### phase: ")
        .find(|phase| phase.starts_with("steady"))
        .expect("a steady phase");
    let mut lines = BTreeSet::new();
    let mut section = "";
    for line in steady.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            section = name;
            continue;
        }
        let normal = line.split_whitespace().collect::<Vec<_>>().join(" ");
        let header = normal.starts_with("IP Virtual Server")
            || normal.starts_with("Prot ")
            || normal.starts_with("-> RemoteAddress");
        if (section == "ipvsadm -Ln" && !header) || section == "ipvsadm -Ln --timeout" {
            lines.insert(normal);
        }
    }
    lines
}

fn shoal_table() -> BTreeSet<String> {
    let mut lines: BTreeSet<String> = run("ipvsadm", &["-Ln"])
        .lines()
        .skip(3)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.insert(run("ipvsadm", &["-Ln", "--timeout"]).trim().to_string());
    lines
}

/// The host names file 15 uses, as the oracle's guest had them in /etc/hosts.
fn add_corpus_hosts() {
    let hosts = "10.95.0.1 lvs1.example.net\n10.95.0.2 lvs2.example.net\n10.95.0.80 www-vip.example.net\n10.95.1.11 web1.example.net\n10.95.1.12 web2.example.net\n";
    let current = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !current.contains("www-vip.example.net") {
        std::fs::write("/etc/hosts", format!("{current}{hosts}"))
            .expect("write the lab's /etc/hosts");
    }
}

/// Runs shoal on one file until its table is programmed, and returns the table.
fn table_of(cf: &Path) -> BTreeSet<String> {
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("control.sock");
        #[allow(clippy::zombie_processes)] // killed and waited for below
        let mut child = Command::new(SHOAL)
            .args(["run", "--force-active", "--no-checks", "-c"])
            .arg(cf)
            .arg("--control")
            .arg(&socket)
            .env("SHOAL_LOG", "error")
            .spawn()
            .expect("shoal run starts");
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            Command::new(SHOAL)
                .args(["status", "--control"])
                .arg(&socket)
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let table = shoal_table();
        Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .expect("SIGTERM");
        let _ = child.wait();
        assert!(ready, "shoal run did not come up for {}", cf.display());
        table
    })
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn shoal_programs_the_table_piranha_programmed() {
    add_corpus_hosts();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipvs"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus .ipvs files: {}", files.len());
    let mut unexplained = Vec::new();
    for ipvs in files {
        let stem = ipvs
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let piranha = piranha_steady(&ipvs);
        let shoal = table_of(&ipvs.with_extension("cf"));
        let only_piranha: Vec<&String> = piranha.difference(&shoal).collect();
        let only_shoal: Vec<&String> = shoal.difference(&piranha).collect();
        let (known_piranha, known_shoal) = KNOWN
            .iter()
            .find(|(name, ..)| *name == stem)
            .map(|(_, p, s, _)| (p.to_vec(), s.to_vec()))
            .unwrap_or_default();
        let same = |found: &[&String], known: &[&str]| {
            found.len() == known.len() && found.iter().zip(known).all(|(f, k)| f.as_str() == *k)
        };
        println!("{stem}: only Piranha {only_piranha:?}, only shoal {only_shoal:?}");
        if !same(&only_piranha, &known_piranha) || !same(&only_shoal, &known_shoal) {
            unexplained.push(stem);
        }
    }
    assert!(
        unexplained.is_empty(),
        "unexplained differences: {unexplained:?}"
    );
}
