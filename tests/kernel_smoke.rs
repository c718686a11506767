//! Smoke tests of the lab itself: the guest kernel has IPVS, and a fresh network
//! namespace gets an IPVS table of its own. They are ignored on the host (no IPVS there);
//! `scripts/lab-tests.sh` runs them inside the lab VM with `--ignored`.

mod lab_support;

use lab_support::{in_fresh_netns, run};

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn ip_vs_is_loaded() {
    let version = std::fs::read_to_string("/proc/net/ip_vs")
        .expect("/proc/net/ip_vs (is the ip_vs module loaded?)");
    assert!(
        version.starts_with("IP Virtual Server version"),
        "unexpected /proc/net/ip_vs: {version}"
    );
}

/// The virtual services that `ipvsadm -Ln` lists, as their "TCP/UDP ..." lines.
fn services(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter(|line| line.starts_with("TCP") || line.starts_with("UDP"))
        .collect()
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn fresh_netns_has_its_own_ipvs_table() {
    let root_before = run("ipvsadm", &["-Ln"]);
    let listing = in_fresh_netns(|| {
        assert!(
            services(&run("ipvsadm", &["-Ln"])).is_empty(),
            "a fresh namespace starts with an empty table"
        );
        run("ipvsadm", &["-A", "-t", "192.0.2.10:80", "-s", "rr"]);
        run(
            "ipvsadm",
            &[
                "-a",
                "-t",
                "192.0.2.10:80",
                "-r",
                "198.51.100.11:80",
                "-m",
                "-w",
                "2",
            ],
        );
        run("ipvsadm", &["-Ln"])
    });
    println!("{listing}");

    assert_eq!(services(&listing), ["TCP  192.0.2.10:80 rr"]);
    let real_server = listing
        .lines()
        .find(|line| line.contains("198.51.100.11:80"))
        .unwrap_or_else(|| panic!("no real server in:\n{listing}"));
    let fields: Vec<&str> = real_server.split_whitespace().collect();
    assert_eq!(fields[..4], ["->", "198.51.100.11:80", "Masq", "2"]);

    let root_after = run("ipvsadm", &["-Ln"]);
    assert!(
        services(&root_after).is_empty(),
        "the root namespace's table changed:\n{root_after}"
    );
    assert_eq!(root_before, root_after);
}
