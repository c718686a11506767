//! `systemd-analyze verify` on systemd/shoal.service and systemd/shoal-web.service, as
//! installed: in a temporary root with the units where the Debian package puts them,
//! the built binary at /usr/sbin/shoal and the host's own systemd units (the targets
//! they order against). verify exits 0 on some findings it only prints, so any output
//! fails the test too. systemd comes from scripts/install-deps.sh.

use std::path::Path;
use std::process::Command;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const UNITS: [&str; 2] = ["shoal.service", "shoal-web.service"];

fn unit(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies a directory tree (the host's unit directory: files and symbolic links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("readable directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("link");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn systemd_analyze() -> Command {
    let found = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: scripts/install-deps.sh installs systemd"
    );
    Command::new("systemd-analyze")
}

#[test]
fn both_units_pass_systemd_analyze_verify() {
    let root = tempfile::tempdir().expect("temp root");
    let units = root.path().join("lib/systemd/system");
    copy_tree(Path::new("/lib/systemd/system"), &units);
    for name in UNITS {
        std::fs::write(units.join(name), unit(name)).expect("unit");
    }
    let sbin = root.path().join("usr/sbin");
    std::fs::create_dir_all(&sbin).expect("usr/sbin");
    // A hard link where the target directory allows it: the debug binary is large.
    let binary = sbin.join("shoal");
    if std::fs::hard_link(SHOAL, &binary).is_err() {
        std::fs::copy(SHOAL, &binary).expect("copy of the binary");
    }

    // Man pages are checked where they are installed: by scripts/package-test.sh.
    let output = systemd_analyze()
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .args(UNITS)
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert_eq!(said, "", "verify found something");

    // The same check does catch a broken unit: a typo and a missing binary.
    std::fs::write(
        units.join("shoal.service"),
        unit("shoal.service").replace("WatchdogSec=", "WatchDogSec="),
    )
    .expect("unit");
    std::fs::remove_file(&binary).expect("remove the binary");
    let output = systemd_analyze()
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("shoal.service")
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("Unknown key 'WatchDogSec'"), "{said}");
    assert!(said.contains("/usr/sbin/shoal is not executable"), "{said}");
}

/// The settings verify cannot judge: what each unit is for.
#[test]
fn the_director_is_notify_with_a_watchdog_and_network_capabilities_only() {
    let text = unit("shoal.service");
    let has = |line: &str| text.lines().any(|l| l == line);
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecReload=/usr/sbin/shoal reload",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "SupplementaryGroups=shoal",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_PACKET AF_INET AF_INET6",
    ] {
        assert!(has(line), "shoal.service lacks {line}");
    }
    assert!(!text.contains("\nUser="), "the director runs as root");
}

#[test]
fn the_ui_runs_as_shoal_without_capabilities() {
    let text = unit("shoal-web.service");
    let has = |line: &str| text.lines().any(|l| l == line);
    for line in [
        "User=shoal",
        "Group=shoal",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=-/etc/sysconfig/ha -/etc/shoal",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    ] {
        assert!(has(line), "shoal-web.service lacks {line}");
    }
}
