//! Network namespaces for host tests that need more than one node (`tests/netns_*.rs`):
//! a switch namespace holding bridges, and nodes with veths on them. Needs root and a
//! kernel with network namespaces, veth and bridge (no IPVS).
//!
//! Every namespace is named `shoal-h-<pid>-<n>-<role>` and deleted when the value is
//! dropped, panic or not; the veths and bridges inside go with them.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

#[path = "../lab_support/mod.rs"]
mod lab_support;

pub use lab_support::run;

/// Namespaces that exist for one test.
pub struct Namespaces {
    names: Vec<(String, String)>,
}

impl Namespaces {
    /// One namespace per role, each with `lo` up.
    pub fn new(roles: &[&str]) -> Namespaces {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut namespaces = Namespaces { names: Vec::new() };
        for role in roles {
            let name = format!("shoal-h-{}-{n}-{role}", std::process::id());
            run("ip", &["netns", "add", &name]);
            namespaces.names.push((role.to_string(), name));
            namespaces.ip(role, &["link", "set", "lo", "up"]);
        }
        namespaces
    }

    /// The namespace's name.
    pub fn name(&self, role: &str) -> &str {
        self.names
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, name)| name.as_str())
            .unwrap_or_else(|| panic!("no namespace {role}"))
    }

    /// The path to `setns` into.
    pub fn path(&self, role: &str) -> String {
        format!("/run/netns/{}", self.name(role))
    }

    /// `ip -n NS ARGS...`
    pub fn ip(&self, role: &str, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name(role)];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `f` on a thread inside the namespace and returns its result; sockets made
    /// there stay in the namespace after the thread ends.
    pub fn enter<T: Send>(&self, role: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path(role);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter(&path);
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// `ip netns exec NS PROGRAM ARGS...`, its output whatever the exit status.
    pub fn exec(&self, role: &str, program: &str, args: &[&str]) -> std::process::Output {
        let mut all = vec!["netns", "exec", self.name(role), program];
        all.extend_from_slice(args);
        Command::new("ip")
            .args(&all)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec: {e}"))
    }

    /// Runs an async body with its own current-thread runtime inside the namespace.
    pub fn block_on<T: Send, F: Future<Output = T>>(
        &self,
        role: &str,
        body: impl FnOnce() -> F + Send,
    ) -> T {
        self.enter(role, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(body())
        })
    }

    /// A bridge `name` in the switch namespace `switch`, and for each `(role, device,
    /// address/prefix)` a veth from that node's `device` to a port of the bridge.
    pub fn bridge(&self, switch: &str, name: &str, nodes: &[(&str, &str, &str)]) {
        self.ip(switch, &["link", "add", name, "type", "bridge"]);
        self.ip(switch, &["link", "set", name, "up"]);
        for (role, device, address) in nodes {
            let port = port_name(role, device);
            let node_ns = self.name(role).to_string();
            self.ip(
                switch,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", device, "netns", &node_ns,
                ],
            );
            self.ip(switch, &["link", "set", &port, "master", name, "up"]);
            self.ip(role, &["link", "set", device, "up"]);
            self.ip(role, &["addr", "add", address, "dev", device]);
        }
    }

    /// Detaches a node's port from its bridge: its packets go nowhere, both ways, while
    /// its link stays up (a cut between switches, not a NIC failure).
    pub fn cut(&self, switch: &str, role: &str, device: &str) {
        self.ip(
            switch,
            &["link", "set", &port_name(role, device), "nomaster"],
        );
    }

    /// Re-attaches a port that [`Self::cut`] detached.
    pub fn restore(&self, switch: &str, bridge: &str, role: &str, device: &str) {
        self.ip(
            switch,
            &["link", "set", &port_name(role, device), "master", bridge],
        );
    }
}

fn port_name(role: &str, device: &str) -> String {
    format!("p-{role}-{device}")
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for (_, name) in self.names.drain(..).rev() {
            let status = Command::new("ip").args(["netns", "del", &name]).status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("warning: could not delete network namespace {name}: {status:?}");
            }
        }
    }
}

/// Moves the calling thread into the namespace mounted at `path`.
pub fn enter(path: &str) {
    let file = File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns on a valid namespace fd only changes this thread's membership.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
}
