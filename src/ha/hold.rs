//! Telling a dead shoal from a dead director.
//!
//! When only the peer's shoal dies (a crash, `kill -9`, a watchdog kill), the peer's
//! kernel goes on serving: its VIPs stay on its interfaces, its IPVS table forwards every
//! established connection. Taking the service over at `deadtime`, as Piranha and
//! keepalived do, would move the VIPs to this node, whose kernel knows none of those
//! connections, and reset every one in flight — to replace a director that was working.
//! So when the peer held the service and falls silent, this node asks the LAN whether the
//! peer's addresses still answer (ARP probes, see [`crate::net::witness`]). While they do,
//! it holds off for up to `restart_grace`, long enough for systemd to start shoal again,
//! which then resumes the service it left without letting go of it. A director that is
//! really gone answers no probe, and is taken over at `deadtime` as before: the probes
//! start before `deadtime` runs out, so they add no delay to a real failover.
//!
//! The rules are pure functions of the times involved, tested here without a network.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Whatever can tell whether the peer's kernel still answers for its addresses. The
/// daemon gives the heartbeat one that sends ARP probes; tests give it a fake.
pub trait Witness: Send {
    /// Asks again (one probe per address).
    fn probe(&mut self);
    /// Whether every address answered at or after `since`, reading what has arrived.
    fn answered_since(&mut self, since: Instant) -> bool;
    /// The episode is over (the peer was heard, or declared dead): sockets may close.
    fn rest(&mut self);
    /// What is probed, for the log: `192.0.2.10 on eth0`.
    fn describe(&self) -> String;
}

/// The timing of the probes and of the hold, from `keepalive`, `deadtime` and
/// shoal.toml's `restart_grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRules {
    /// Longest time a silent peer whose addresses answer is waited for; zero: never
    /// (take over at `deadtime`, as Piranha does).
    pub grace: Duration,
    /// The peer's `deadtime`: an answer older than this no longer counts.
    pub deadtime: Duration,
    /// How long after the last heartbeat the first probe goes out: one heartbeat missed,
    /// and early enough that its answer is in before `deadtime`.
    pub first_probe: Duration,
    /// Probe period while the silence lasts; also how often a hold is reconsidered.
    pub probe_every: Duration,
}

impl HoldRules {
    /// The rules for a heartbeat of `keepalive` / `deadtime`: the first probe after one
    /// and a half keepalives (half of `deadtime` at most), then every keepalive (a third
    /// of `deadtime` at most, so at least two probes fall within any `deadtime`).
    pub fn new(keepalive: Duration, deadtime: Duration, grace: Duration) -> HoldRules {
        HoldRules {
            grace,
            deadtime,
            first_probe: (keepalive * 3 / 2).min(deadtime / 2),
            probe_every: keepalive.min(deadtime / 3),
        }
    }

    /// Whether holds are wanted at all.
    pub fn enabled(&self) -> bool {
        !self.grace.is_zero()
    }

    /// When the next probe is due, given the last heartbeat and the last probe of this
    /// silence (if any).
    pub fn next_probe(&self, last_heard: Instant, last_probe: Option<Instant>) -> Instant {
        let first = last_heard + self.first_probe;
        match last_probe {
            Some(probe) if probe >= last_heard => (probe + self.probe_every).max(first),
            _ => first,
        }
    }

    /// Since when an answer counts for a decision at `now`: after the silence began, and
    /// within the last `deadtime`.
    pub fn answers_count_from(&self, last_heard: Instant, now: Instant) -> Instant {
        let recent = now.checked_sub(self.deadtime).unwrap_or(now);
        recent.max(last_heard)
    }

    /// What to do with a peer silent since `last_heard` (its `deadtime` has run out by
    /// `now`): take over, or hold and look again at the returned time.
    pub fn verdict(&self, now: Instant, last_heard: Instant, silence: Silence) -> Verdict {
        if !self.enabled() {
            return Verdict::TakeOver(Why::NoGrace);
        }
        if !silence.peer_was_active {
            return Verdict::TakeOver(Why::PeerNotServing);
        }
        if !silence.addresses_answer {
            return Verdict::TakeOver(Why::AddressesSilent);
        }
        if now.duration_since(last_heard) >= self.grace {
            return Verdict::TakeOver(Why::GraceOver);
        }
        Verdict::Hold {
            until: now + self.probe_every,
        }
    }
}

/// What is known of a silent peer when its `deadtime` has run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// Its last heartbeat said it held the service.
    pub peer_was_active: bool,
    /// Every one of its addresses answered recently (see [`HoldRules::answers_count_from`]).
    pub addresses_answer: bool,
}

/// The decision on a silent peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The peer is dead: take the service.
    TakeOver(Why),
    /// Its kernel still serves: decide again at `until`.
    Hold {
        /// When to look again.
        until: Instant,
    },
}

/// Why a silent peer is taken over, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// `restart_grace = 0`.
    NoGrace,
    /// It did not hold the service, so there is nothing of its to keep.
    PeerNotServing,
    /// Its addresses answer no probe: the director itself is gone (or no witness).
    AddressesSilent,
    /// Its addresses answer but its shoal has not come back within `restart_grace`.
    GraceOver,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Why::NoGrace => "restart_grace = 0",
            Why::PeerNotServing => "it did not hold the service",
            Why::AddressesSilent => "its addresses answer no ARP probe",
            Why::GraceOver => "its addresses answer, but its shoal stayed silent for restart_grace",
        })
    }
}

/// A hold in progress, for status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct HoldView {
    /// Whether this node is holding off a takeover now.
    pub holding: bool,
    /// Milliseconds since the peer's last heartbeat, while holding.
    pub silent_ms: Option<u64>,
    /// Holds since start (silences in which the peer's kernel was found serving).
    pub holds: u64,
    /// Probes sent since start.
    pub probes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn rules() -> HoldRules {
        HoldRules::new(100 * MS, 300 * MS, Duration::from_secs(10))
    }

    const SERVING: Silence = Silence {
        peer_was_active: true,
        addresses_answer: true,
    };

    #[test]
    fn probes_start_after_one_missed_heartbeat_and_repeat_each_keepalive() {
        let r = rules();
        let heard = Instant::now();
        assert_eq!(r.next_probe(heard, None), heard + 150 * MS);
        assert_eq!(
            r.next_probe(heard, Some(heard + 150 * MS)),
            heard + 250 * MS
        );
        // A probe from an earlier silence does not count.
        assert_eq!(r.next_probe(heard, Some(heard - 5 * MS)), heard + 150 * MS);
        // Two probes fall within deadtime, the first well before it runs out.
        assert!(r.first_probe + r.probe_every < r.deadtime);
    }

    #[test]
    fn slow_heartbeats_still_probe_before_deadtime() {
        // Piranha's sample: keepalive 6, deadtime 18.
        let r = HoldRules::new(Duration::from_secs(6), Duration::from_secs(18), 10 * MS);
        assert_eq!(r.first_probe, Duration::from_secs(9));
        assert_eq!(r.probe_every, Duration::from_secs(6));
        // keepalive close to deadtime: half of deadtime, then a third.
        let r = HoldRules::new(Duration::from_secs(2), Duration::from_secs(3), 10 * MS);
        assert_eq!(r.first_probe, Duration::from_millis(1500));
        assert_eq!(r.probe_every, Duration::from_secs(1));
    }

    #[test]
    fn a_peer_whose_addresses_answer_is_held_until_the_grace_is_over() {
        let r = rules();
        let heard = Instant::now();
        let now = heard + 300 * MS;
        assert_eq!(
            r.verdict(now, heard, SERVING),
            Verdict::Hold {
                until: now + 100 * MS
            }
        );
        let late = heard + Duration::from_secs(10);
        assert_eq!(
            r.verdict(late, heard, SERVING),
            Verdict::TakeOver(Why::GraceOver)
        );
    }

    #[test]
    fn a_gone_director_or_a_standby_one_is_taken_over_at_once() {
        let r = rules();
        let heard = Instant::now();
        let now = heard + 300 * MS;
        let gone = Silence {
            addresses_answer: false,
            ..SERVING
        };
        assert_eq!(
            r.verdict(now, heard, gone),
            Verdict::TakeOver(Why::AddressesSilent)
        );
        let standby = Silence {
            peer_was_active: false,
            ..SERVING
        };
        assert_eq!(
            r.verdict(now, heard, standby),
            Verdict::TakeOver(Why::PeerNotServing)
        );
        let off = HoldRules::new(100 * MS, 300 * MS, Duration::ZERO);
        assert_eq!(
            off.verdict(now, heard, SERVING),
            Verdict::TakeOver(Why::NoGrace)
        );
    }

    #[test]
    fn only_answers_after_the_silence_began_and_within_deadtime_count() {
        let r = rules();
        let heard = Instant::now();
        assert_eq!(r.answers_count_from(heard, heard + 300 * MS), heard);
        assert_eq!(
            r.answers_count_from(heard, heard + 2000 * MS),
            heard + 1700 * MS
        );
    }
}
