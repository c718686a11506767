//! systemd's service notifications (sd_notify(3)) for `Type=notify`: `READY=1` once the
//! first reconcile is done and the control socket answers, a `STATUS=` line whenever the
//! state or the counts change, `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` at
//! shutdown, and `WATCHDOG=1` pings from the supervisor's own loop.
//!
//! The pings come from the loop that handles every event, not from a task of their own:
//! a supervisor stuck in one event stops pinging, and systemd restarts it after
//! `WatchdogSec`. Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::warn;

/// Talks to the service manager, remembering what it last said.
#[derive(Debug)]
pub struct Notifier {
    /// `NOTIFY_SOCKET` was set at start.
    enabled: bool,
    /// `WATCHDOG_USEC` (for this process), when systemd watches the daemon.
    watchdog: Option<Duration>,
    /// The last `STATUS=` sent, so an unchanged line is not sent again.
    status: String,
    /// A failed send was reported: one warning is enough, the next ones would repeat it.
    warned: bool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`/`WATCHDOG_PID` as systemd set them.
    pub fn from_env() -> Self {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog: sd_notify::watchdog_enabled().filter(|d| !d.is_zero()),
            status: String::new(),
            warned: false,
        }
    }

    /// Whether systemd listens: the status line (a walk over every real server) is
    /// worth computing only then.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often to send `WATCHDOG=1`: half of systemd's `WatchdogSec`, so one late
    /// ping is not yet a missed one. `None` without a watchdog.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|limit| limit / 2)
    }

    /// The daemon is up: its first reconcile is done and the control socket answers.
    pub fn ready(&mut self, status: &str) {
        self.status = status.to_string();
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Says `status` if it differs from the last line said.
    pub fn status(&mut self, status: &str) {
        if self.status != status {
            self.status = status.to_string();
            self.send(&[NotifyState::Status(status)]);
        }
    }

    /// A reload begins (systemd shows the unit as reloading until [`Notifier::ready`]).
    pub fn reloading(&mut self) {
        if !self.enabled {
            return;
        }
        // systemd 253 and later want the clock with RELOADING=1 to order the messages.
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(e) => warn!("systemd notification: cannot read the monotonic clock: {e}"),
        }
    }

    /// The daemon is shutting down.
    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// One watchdog ping: the supervisor's loop is alive.
    pub fn ping(&mut self) {
        self.send(&[NotifyState::Watchdog]);
    }

    fn send(&mut self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        match sd_notify::notify(states) {
            Ok(()) => self.warned = false,
            Err(e) if !self.warned => {
                self.warned = true;
                warn!("systemd notification failed: {e}");
            }
            Err(_) => {}
        }
    }
}

/// The next watchdog ping's time, or never without a watchdog.
pub async fn next_ping(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The `STATUS=` line: the node's state (and its role in a pair), the virtual servers
/// and how many of the real servers are in service, as an operator reads it in
/// `systemctl status shoal`.
pub fn status_line(
    state: &str,
    role: Option<crate::ha::Role>,
    dry_run: bool,
    virtual_servers: usize,
    up: usize,
    real_servers: usize,
) -> String {
    let role = role.map_or(String::new(), |r| format!(" {r}"));
    let dry = if dry_run { " (dry run)" } else { "" };
    let virtual_servers = counted(virtual_servers, "virtual server");
    let real_servers = counted(real_servers, "real server");
    format!("{state}{role}{dry}: {virtual_servers}, {up} of {real_servers} up")
}

fn counted(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::Role;

    #[test]
    fn the_status_line_names_state_role_and_counts() {
        assert_eq!(
            status_line("active", Some(Role::Primary), false, 2, 3, 5),
            "active primary: 2 virtual servers, 3 of 5 real servers up"
        );
        assert_eq!(
            status_line("inactive", None, true, 1, 0, 1),
            "inactive (dry run): 1 virtual server, 0 of 1 real server up"
        );
    }
}
