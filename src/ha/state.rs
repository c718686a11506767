//! Who holds the service: the failover rules as a pure state machine (SPEC 6.3).
//!
//! The machine knows nothing of sockets or timers. The runtime feeds it what happened
//! (a heartbeat heard, the peer declared dead, a link change, an operator command) with
//! the time, and it answers with at most one [`Action`] for the daemon. Keeping it pure
//! lets every rule be tested without a network.
//!
//! The rules, and where they differ from Piranha's pulse:
//!
//! 1. An inactive node that can serve activates when the peer is dead (silent for
//!    `deadtime`) or says "stopped" and cannot serve. (Piranha: dead or "stopped".)
//! 2. An active backup that hears the primary "running" deactivates, so a split brain
//!    always heals to the primary. Piranha does this too; SPEC 6.3 ties it to
//!    `preempt = 1`, but with `preempt = 0` both nodes would then stay active forever, so
//!    shoal yields whatever `preempt` says. (`preempt` only decides rule 4.)
//! 3. An active primary that hears the backup "running" stays active and re-announces
//!    (gratuitous ARPs, `active_cmd`): the ARP caches must end up pointing at it.
//!    Piranha re-announces on every such heartbeat; shoal on the first one and then at
//!    most once per `reannounce_every`, so a backup that never yields cannot make it run
//!    `active_cmd` ten times a second.
//! 4. `preempt = 1`: an inactive primary that can serve and hears the backup "running"
//!    takes the service back (activates; the backup then yields by rule 2), once it has
//!    been able to serve for `preempt_delay`, and only if the backup says it hears the
//!    primary (a backup that does not would never yield: a lasting split brain).
//!    `preempt = 0`: it stays inactive. Piranha as described in piranha-facts 1.3 leaves
//!    a returning primary inactive; lvs.cf's `preempt` keyword documents taking back as
//!    Piranha's behaviour, and shoal follows the keyword.
//! 5. Both inactive and able to serve (a `shoal` peer says "stopped" with a non-zero
//!    priority): the primary activates at once and the backup waits for it, so a pair
//!    started together does not make both activate. Piranha's 4-byte "stopped" says
//!    nothing about readiness and is read as "cannot serve" (rule 1), as Piranha does.
//! 6. A failed monitored link or an operator stop deactivates and prevents activation
//!    until the link is back or the operator starts the node again; such a node tells
//!    the peer "stopped" with priority 0, so the peer takes over at once.
//! 7. At start the node is inactive; `--force-active` activates it at once. Otherwise it
//!    waits for the peer's first heartbeat or for `deadtime` of silence, as Piranha does:
//!    activating earlier would only shorten a cold start (not a failover) and would turn a
//!    lost first packet into a brief double activation.
//! 8. Resuming: a node whose previous run ended while it held the service (its
//!    addresses are still on its interfaces when it starts) keeps them and says nothing
//!    until it has heard the peer. If the peer stands by, the node takes the service it
//!    never let go of (no gap: the kernel served throughout); if the peer has taken the
//!    service, the node gives up what it kept and stands by, and `preempt` decides the
//!    rest as for any returning node; if the peer stays silent for `deadtime`, rule 1.
//!    It is quiet meanwhile because a "stopped" from it would make a standing-by primary
//!    take the service at once (rule 5) and a "running" would make an active backup
//!    yield (rule 2), whatever `preempt` says.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Which of the pair this node is, from lvs.cf's `primary` and `backup` addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The node with the `primary` address; wins split brains.
    Primary,
    /// The node with the `backup` address; yields to the primary.
    Backup,
}

impl Role {
    /// The priority this role announces in `shoal` heartbeats when it can serve
    /// (informational: the rules use only "zero or not").
    pub fn priority(self) -> u8 {
        match self {
            Role::Primary => 200,
            Role::Backup => 100,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        })
    }
}

/// The fixed parameters of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// This node's role.
    pub role: Role,
    /// lvs.cf `preempt`: whether an inactive primary takes the service back (rule 4).
    pub preempt: bool,
    /// How long a primary must have been able to serve before it preempts, so a freshly
    /// started primary can let its health checks settle first. Zero = at once.
    pub preempt_delay: Duration,
    /// `--force-active`: activate at start without waiting for the peer.
    pub force_active: bool,
    /// Least time between two re-announcements for a peer that stays "running" (rule 3).
    pub reannounce_every: Duration,
    /// Rule 8: the node starts holding the addresses its previous run left.
    pub resume: bool,
}

/// What the peer last said, as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PeerReport {
    /// "Running": the peer holds the service.
    Active {
        /// Whether the peer says it hears this node (`shoal` only; Piranha's heartbeat
        /// cannot say, and is read as "yes").
        hears_us: bool,
    },
    /// "Stopped": the peer does not hold the service; `ready` when it says it could
    /// (only `shoal` heartbeats can say so).
    Inactive {
        /// Whether the peer could take the service.
        ready: bool,
    },
}

/// What this node knows of the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "peer")]
pub enum PeerKnowledge {
    /// Nothing heard since start, and `deadtime` has not passed yet.
    Unknown,
    /// Heard within `deadtime`; its last word.
    Heard(PeerReport),
    /// Silent for `deadtime` on every channel.
    Dead,
}

/// What happened, fed to the machine by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The daemon started (applies `--force-active`).
    Start,
    /// A valid heartbeat from the peer.
    Peer(PeerReport),
    /// The peer has been silent for `deadtime`.
    PeerDead,
    /// A monitored link went down (`false`) or came back (`true`).
    Link(bool),
    /// The operator stopped (`true`, `shoal stop`) or started (`false`) the node.
    Stopped(bool),
}

/// Why the node changes state; for the daemon's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// `--force-active` at start.
    ForceActive,
    /// The peer was silent for `deadtime`.
    PeerDead,
    /// The peer said "stopped" and cannot serve.
    PeerStopped,
    /// Both inactive and ready; the primary takes the service.
    PeerStandby,
    /// The primary takes the service back from an active backup (`preempt = 1`).
    Preempt,
    /// The backup hears the primary "running" and yields.
    PrimaryActive,
    /// A monitored link failed.
    LinkDown,
    /// The operator stopped the node.
    OperatorStop,
    /// The node restarted holding the service and the peer stands by: it goes on.
    Resumed,
    /// The node restarted holding addresses, but the peer has taken the service.
    PeerTookOver,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cause::ForceActive => "--force-active",
            Cause::PeerDead => "partner dead",
            Cause::PeerStopped => "partner stopped",
            Cause::PeerStandby => "partner inactive, primary takes the service",
            Cause::Preempt => "primary takes the service back (preempt)",
            Cause::PrimaryActive => "primary active, backup yields",
            Cause::LinkDown => "local link failure",
            Cause::OperatorStop => "stopped by the operator",
            Cause::Resumed => "restarted while serving, partner standing by: resuming",
            Cause::PeerTookOver => "restarted while serving, but the partner holds the service",
        })
    }
}

/// What the daemon must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "cause")]
pub enum Action {
    /// Nothing changes.
    Nothing,
    /// Take the service: run `active_cmd`, add and announce the addresses.
    Activate(Cause),
    /// Give the service up: remove the addresses, run `inactive_cmd`.
    Deactivate(Cause),
    /// Stay active, send the gratuitous ARPs again and re-run `active_cmd`.
    Reannounce,
}

/// What this node tells the peer in its heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// Whether this node holds the service ("running").
    pub active: bool,
    /// Whether it could take the service (not stopped, links up).
    pub ready: bool,
}

/// The failover state of one node.
#[derive(Debug, Clone)]
pub struct StateMachine {
    rules: Rules,
    active: bool,
    stopped: bool,
    link_up: bool,
    peer: PeerKnowledge,
    ready_since: Instant,
    last_reannounce: Option<Instant>,
    /// Rule 8, until the first decision.
    resuming: bool,
}

/// A read-only view of the machine for status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MachineView {
    /// This node's role.
    pub role: Role,
    /// Whether it holds the service.
    pub active: bool,
    /// Whether the operator stopped it.
    pub stopped: bool,
    /// Whether its monitored links are up.
    pub link_up: bool,
    /// What it knows of the peer.
    pub peer: PeerKnowledge,
    /// Rule 8: it restarted holding the service and has not heard the peer yet.
    pub resuming: bool,
}

impl StateMachine {
    /// A node that has just started: inactive, links up, peer unknown.
    pub fn new(rules: Rules, now: Instant) -> StateMachine {
        StateMachine {
            rules,
            active: false,
            stopped: false,
            link_up: true,
            peer: PeerKnowledge::Unknown,
            ready_since: now,
            last_reannounce: None,
            resuming: rules.resume,
        }
    }

    /// Applies one input and returns what the daemon must do.
    pub fn handle(&mut self, input: Input, now: Instant) -> Action {
        if self.resuming {
            return self.resume(input, now);
        }
        let action = match input {
            Input::Start => self.on_start(now),
            Input::Peer(report) => self.on_peer(report, now),
            Input::PeerDead => {
                self.peer = PeerKnowledge::Dead;
                self.try_activate(now)
            }
            Input::Link(up) => self.on_link(up, now),
            Input::Stopped(stopped) => self.on_stopped(stopped, now),
        };
        self.apply(action, now);
        action
    }

    /// Rule 8: the first decision of a node that restarted holding the service; until
    /// it is made the node holds addresses without being active, so every way out of
    /// the state either takes the service or gives the addresses up.
    fn resume(&mut self, input: Input, now: Instant) -> Action {
        let action = match input {
            Input::Start if self.rules.force_active => Action::Activate(Cause::ForceActive),
            Input::Start => return Action::Nothing,
            Input::Peer(report) => {
                self.peer = PeerKnowledge::Heard(report);
                match report {
                    PeerReport::Active { .. } => Action::Deactivate(Cause::PeerTookOver),
                    PeerReport::Inactive { .. } => Action::Activate(Cause::Resumed),
                }
            }
            Input::PeerDead => {
                self.peer = PeerKnowledge::Dead;
                Action::Activate(Cause::PeerDead)
            }
            Input::Link(up) => {
                self.link_up = up;
                if up {
                    return Action::Nothing;
                }
                Action::Deactivate(Cause::LinkDown)
            }
            Input::Stopped(stopped) => {
                self.stopped = stopped;
                if !stopped {
                    return Action::Nothing;
                }
                Action::Deactivate(Cause::OperatorStop)
            }
        };
        let action = match action {
            Action::Activate(_) if !self.can_serve() => Action::Deactivate(if self.stopped {
                Cause::OperatorStop
            } else {
                Cause::LinkDown
            }),
            action => action,
        };
        self.resuming = false;
        self.ready_since = now;
        self.apply(action, now);
        action
    }

    /// Whether the node must not heartbeat yet (rule 8: not before it has heard the
    /// peer or `deadtime` has passed).
    pub fn is_quiet(&self) -> bool {
        self.resuming
    }

    /// What to tell the peer now.
    pub fn announcement(&self) -> Announcement {
        Announcement {
            active: self.active,
            ready: self.can_serve(),
        }
    }

    /// Whether this node holds the service.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The state for status output.
    pub fn view(&self) -> MachineView {
        MachineView {
            role: self.rules.role,
            active: self.active,
            stopped: self.stopped,
            link_up: self.link_up,
            peer: self.peer,
            resuming: self.resuming,
        }
    }

    fn can_serve(&self) -> bool {
        !self.stopped && self.link_up
    }

    fn on_start(&mut self, now: Instant) -> Action {
        if self.rules.force_active && self.can_serve() && !self.active {
            return Action::Activate(Cause::ForceActive);
        }
        self.try_activate(now)
    }

    fn on_peer(&mut self, report: PeerReport, now: Instant) -> Action {
        let previous = self.peer;
        self.peer = PeerKnowledge::Heard(report);
        match (self.active, report, self.rules.role) {
            (true, PeerReport::Active { .. }, Role::Backup) => {
                Action::Deactivate(Cause::PrimaryActive)
            }
            (true, PeerReport::Active { .. }, Role::Primary) => self.reannounce(previous, now),
            (true, PeerReport::Inactive { .. }, _) => Action::Nothing,
            (false, _, _) => self.try_activate(now),
        }
    }

    fn reannounce(&self, previous: PeerKnowledge, now: Instant) -> Action {
        let newly_active = !matches!(previous, PeerKnowledge::Heard(PeerReport::Active { .. }));
        let due = self
            .last_reannounce
            .is_none_or(|last| now.duration_since(last) >= self.rules.reannounce_every);
        if newly_active || due {
            Action::Reannounce
        } else {
            Action::Nothing
        }
    }

    fn on_link(&mut self, up: bool, now: Instant) -> Action {
        if !up {
            self.link_up = false;
            return self.deactivate_if_active(Cause::LinkDown);
        }
        if !self.link_up {
            self.link_up = true;
            self.ready_since = now;
        }
        self.try_activate(now)
    }

    fn on_stopped(&mut self, stopped: bool, now: Instant) -> Action {
        if stopped {
            self.stopped = true;
            return self.deactivate_if_active(Cause::OperatorStop);
        }
        if self.stopped {
            self.stopped = false;
            self.ready_since = now;
        }
        self.try_activate(now)
    }

    fn deactivate_if_active(&self, cause: Cause) -> Action {
        if self.active {
            Action::Deactivate(cause)
        } else {
            Action::Nothing
        }
    }

    /// Rules 1, 4 and 5: whether an inactive node that can serve takes the service.
    fn try_activate(&self, now: Instant) -> Action {
        if self.active || !self.can_serve() {
            return Action::Nothing;
        }
        let primary = self.rules.role == Role::Primary;
        let cause = match self.peer {
            PeerKnowledge::Unknown => None,
            PeerKnowledge::Dead => Some(Cause::PeerDead),
            PeerKnowledge::Heard(PeerReport::Inactive { ready: false }) => Some(Cause::PeerStopped),
            PeerKnowledge::Heard(PeerReport::Inactive { ready: true }) => {
                primary.then_some(Cause::PeerStandby)
            }
            PeerKnowledge::Heard(PeerReport::Active { hears_us }) => {
                let preempt = primary && self.rules.preempt && hears_us;
                (preempt && self.preempt_delay_passed(now)).then_some(Cause::Preempt)
            }
        };
        cause.map_or(Action::Nothing, Action::Activate)
    }

    fn preempt_delay_passed(&self, now: Instant) -> bool {
        now.duration_since(self.ready_since) >= self.rules.preempt_delay
    }

    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Activate(_) => {
                self.active = true;
                self.last_reannounce = None;
            }
            Action::Deactivate(_) => self.active = false,
            Action::Reannounce => self.last_reannounce = Some(now),
            Action::Nothing => {}
        }
    }
}

/// Why this node cannot tell its role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// lvs.cf names no primary.
    #[error("lvs.cf has no `primary` address, so this node cannot tell its role")]
    NoPrimary,
    /// The node holds neither address.
    #[error(
        "this node has neither the primary address {primary} nor the backup address {} \
         (its addresses: {})",
        .backup.map_or_else(|| "(none)".to_string(), |b| b.to_string()),
        list(.local)
    )]
    NotInPair {
        /// lvs.cf's `primary`.
        primary: std::net::IpAddr,
        /// lvs.cf's `backup`, if any.
        backup: Option<std::net::IpAddr>,
        /// What the node has.
        local: Vec<std::net::IpAddr>,
    },
}

fn list(addresses: &[std::net::IpAddr]) -> String {
    if addresses.is_empty() {
        return "none".to_string();
    }
    addresses
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The other director's public address for this node's role: the backup for the
/// primary, the primary for the backup (where `shoal sync push` sends lvs.cf).
pub fn peer_address(
    global: &crate::config::model::GlobalSettings,
    local: &[std::net::IpAddr],
) -> Result<std::net::IpAddr, String> {
    match decide_role(global, local).map_err(|e| e.to_string())? {
        Role::Primary => global
            .backup_address()
            .ok_or_else(|| "lvs.cf names no backup director".to_string()),
        Role::Backup => global
            .primary
            .ok_or_else(|| "lvs.cf names no primary director".to_string()),
    }
}

/// Decides the role as Piranha does (SPEC 6.1): primary if the node has the `primary`
/// address, else backup if it has `backup` (`0.0.0.0` is no backup), else an error that
/// names both addresses and the node's own. The addresses are a parameter so this is
/// testable; [`super::local_addresses`] lists the real ones.
pub fn decide_role(
    global: &crate::config::model::GlobalSettings,
    local: &[std::net::IpAddr],
) -> Result<Role, RoleError> {
    let has = |address: std::net::IpAddr| {
        local
            .iter()
            .any(|l| l.to_canonical() == address.to_canonical())
    };
    let primary = global.primary.ok_or(RoleError::NoPrimary)?;
    let backup = global.backup_address();
    if has(primary) {
        return Ok(Role::Primary);
    }
    if backup.is_some_and(has) {
        return Ok(Role::Backup);
    }
    Err(RoleError::NotInPair {
        primary,
        backup,
        local: local.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::GlobalSettings;
    use std::net::IpAddr;

    const ACTIVE: Input = Input::Peer(PeerReport::Active { hears_us: true });
    const ACTIVE_DEAF: Input = Input::Peer(PeerReport::Active { hears_us: false });
    const STOPPED: Input = Input::Peer(PeerReport::Inactive { ready: false });
    const STANDBY: Input = Input::Peer(PeerReport::Inactive { ready: true });

    fn rules(role: Role, preempt: bool) -> Rules {
        Rules {
            role,
            preempt,
            preempt_delay: Duration::ZERO,
            force_active: false,
            reannounce_every: Duration::from_secs(1),
            resume: false,
        }
    }

    /// A machine, its clock, and a helper to feed inputs a few milliseconds apart.
    struct Node {
        machine: StateMachine,
        now: Instant,
    }

    impl Node {
        fn new(rules: Rules) -> Node {
            let now = Instant::now();
            let mut node = Node {
                machine: StateMachine::new(rules, now),
                now,
            };
            node.feed(Input::Start);
            node
        }

        fn primary(preempt: bool) -> Node {
            Node::new(rules(Role::Primary, preempt))
        }

        fn backup(preempt: bool) -> Node {
            Node::new(rules(Role::Backup, preempt))
        }

        fn feed(&mut self, input: Input) -> Action {
            self.now += Duration::from_millis(10);
            self.machine.handle(input, self.now)
        }

        fn after(&mut self, pause: Duration, input: Input) -> Action {
            self.now += pause;
            self.machine.handle(input, self.now)
        }

        fn active(mut self) -> Node {
            assert_eq!(
                self.feed(Input::PeerDead),
                Action::Activate(Cause::PeerDead)
            );
            self
        }
    }

    #[test]
    fn a_node_starts_inactive_and_waits_for_the_peer() {
        for role in [Role::Primary, Role::Backup] {
            let node = Node::new(rules(role, true));
            assert!(!node.machine.is_active());
            assert_eq!(node.machine.view().peer, PeerKnowledge::Unknown);
            assert_eq!(
                node.machine.announcement(),
                Announcement {
                    active: false,
                    ready: true
                }
            );
        }
    }

    fn resuming(role: Role, preempt: bool) -> Node {
        let node = Node::new(Rules {
            resume: true,
            ..rules(role, preempt)
        });
        assert!(
            node.machine.is_quiet(),
            "says nothing before hearing the peer"
        );
        assert!(node.machine.view().resuming);
        assert!(!node.machine.is_active());
        node
    }

    #[test]
    fn rule8_a_restarted_node_goes_on_serving_when_the_peer_stands_by() {
        for role in [Role::Primary, Role::Backup] {
            for preempt in [true, false] {
                let mut node = resuming(role, preempt);
                assert_eq!(node.feed(STANDBY), Action::Activate(Cause::Resumed));
                assert!(node.machine.is_active() && !node.machine.is_quiet());
                let mut node = resuming(role, preempt);
                assert_eq!(node.feed(STOPPED), Action::Activate(Cause::Resumed));
                let mut node = resuming(role, preempt);
                assert_eq!(
                    node.feed(Input::PeerDead),
                    Action::Activate(Cause::PeerDead)
                );
            }
        }
    }

    #[test]
    fn rule8_a_restarted_node_gives_up_what_it_kept_when_the_peer_took_over() {
        for role in [Role::Primary, Role::Backup] {
            let mut node = resuming(role, false);
            assert_eq!(node.feed(ACTIVE), Action::Deactivate(Cause::PeerTookOver));
            assert!(!node.machine.is_active() && !node.machine.is_quiet());
            // preempt = 0: a returning primary stays inactive after that.
            assert_eq!(node.feed(ACTIVE), Action::Nothing);
        }
        // preempt = 1: it takes the service back by rule 4, not by resuming.
        let mut node = resuming(Role::Primary, true);
        assert_eq!(node.feed(ACTIVE), Action::Deactivate(Cause::PeerTookOver));
        assert_eq!(node.feed(ACTIVE), Action::Activate(Cause::Preempt));
    }

    #[test]
    fn rule8_a_restarted_node_that_cannot_serve_gives_its_addresses_up() {
        let mut node = resuming(Role::Primary, true);
        assert_eq!(
            node.feed(Input::Link(false)),
            Action::Deactivate(Cause::LinkDown)
        );
        assert_eq!(node.feed(Input::PeerDead), Action::Nothing);
        let mut node = resuming(Role::Backup, true);
        assert_eq!(
            node.feed(Input::Stopped(true)),
            Action::Deactivate(Cause::OperatorStop)
        );
        let mut forced = Node::new(Rules {
            resume: true,
            force_active: true,
            ..rules(Role::Backup, false)
        });
        assert!(forced.machine.is_active(), "--force-active at start");
        assert_eq!(
            forced.feed(ACTIVE),
            Action::Deactivate(Cause::PrimaryActive)
        );
    }

    #[test]
    fn rule1_inactive_node_activates_when_the_peer_is_dead() {
        for role in [Role::Primary, Role::Backup] {
            for preempt in [true, false] {
                let mut node = Node::new(rules(role, preempt));
                assert_eq!(
                    node.feed(Input::PeerDead),
                    Action::Activate(Cause::PeerDead)
                );
                assert!(node.machine.is_active());
                assert_eq!(
                    node.feed(Input::PeerDead),
                    Action::Nothing,
                    "already active"
                );
            }
        }
    }

    #[test]
    fn rule1_inactive_node_activates_when_the_peer_says_stopped() {
        for role in [Role::Primary, Role::Backup] {
            for preempt in [true, false] {
                let mut node = Node::new(rules(role, preempt));
                assert_eq!(node.feed(STOPPED), Action::Activate(Cause::PeerStopped));
            }
        }
    }

    #[test]
    fn an_active_node_ignores_a_stopped_peer() {
        for mut node in [Node::primary(true).active(), Node::backup(false).active()] {
            assert_eq!(node.feed(STOPPED), Action::Nothing);
            assert_eq!(node.feed(STANDBY), Action::Nothing);
            assert!(node.machine.is_active());
        }
    }

    #[test]
    fn rule2_active_backup_yields_to_the_running_primary_with_and_without_preempt() {
        for preempt in [true, false] {
            let mut backup = Node::backup(preempt).active();
            assert_eq!(
                backup.feed(ACTIVE),
                Action::Deactivate(Cause::PrimaryActive)
            );
            assert!(!backup.machine.is_active());
            assert_eq!(
                backup.machine.announcement(),
                Announcement {
                    active: false,
                    ready: true
                }
            );
            assert_eq!(backup.feed(ACTIVE), Action::Nothing, "stays inactive");
        }
    }

    #[test]
    fn rule3_active_primary_reannounces_when_the_backup_runs() {
        let mut primary = Node::primary(true).active();
        assert_eq!(primary.feed(ACTIVE), Action::Reannounce);
        assert!(primary.machine.is_active());
        // Again within reannounce_every: nothing; after it: once more.
        assert_eq!(primary.feed(ACTIVE), Action::Nothing);
        assert_eq!(
            primary.after(Duration::from_secs(1), ACTIVE),
            Action::Reannounce
        );
        // A new episode (the backup stopped, then ran again) re-announces at once.
        assert_eq!(primary.feed(STANDBY), Action::Nothing);
        assert_eq!(primary.feed(ACTIVE), Action::Reannounce);
    }

    #[test]
    fn rule4_inactive_primary_takes_the_service_back_only_with_preempt() {
        let mut primary = Node::primary(true);
        assert_eq!(primary.feed(ACTIVE), Action::Activate(Cause::Preempt));
        let mut primary = Node::primary(false);
        assert_eq!(primary.feed(ACTIVE), Action::Nothing);
        assert_eq!(
            primary.after(Duration::from_secs(60), ACTIVE),
            Action::Nothing
        );
        assert!(!primary.machine.is_active());
    }

    #[test]
    fn rule4_the_primary_does_not_preempt_a_backup_that_cannot_hear_it() {
        // A one-way failure: the backup never hears the primary and so would never
        // yield; preempting would make a lasting split brain.
        let mut primary = Node::primary(true);
        assert_eq!(primary.feed(ACTIVE_DEAF), Action::Nothing);
        assert_eq!(primary.feed(ACTIVE), Action::Activate(Cause::Preempt));
    }

    #[test]
    fn rule4_preempt_waits_for_preempt_delay() {
        let mut primary = Node::new(Rules {
            preempt_delay: Duration::from_secs(5),
            ..rules(Role::Primary, true)
        });
        assert_eq!(primary.feed(ACTIVE), Action::Nothing);
        assert_eq!(
            primary.after(Duration::from_secs(5), ACTIVE),
            Action::Activate(Cause::Preempt)
        );
    }

    #[test]
    fn an_inactive_backup_never_takes_the_service_from_a_running_primary() {
        for preempt in [true, false] {
            let mut backup = Node::backup(preempt);
            assert_eq!(backup.feed(ACTIVE), Action::Nothing);
            assert!(!backup.machine.is_active());
        }
    }

    #[test]
    fn rule5_both_ready_and_inactive_the_primary_activates_and_the_backup_waits() {
        let mut primary = Node::primary(false);
        let mut backup = Node::backup(false);
        assert_eq!(backup.feed(STANDBY), Action::Nothing);
        assert_eq!(primary.feed(STANDBY), Action::Activate(Cause::PeerStandby));
        assert_eq!(backup.feed(ACTIVE), Action::Nothing);
    }

    #[test]
    fn split_brain_heals_to_the_primary_with_and_without_preempt() {
        for preempt in [true, false] {
            let mut primary = Node::primary(preempt).active();
            let mut backup = Node::backup(preempt).active();
            // The link comes back: each hears the other running.
            assert_eq!(
                backup.feed(ACTIVE),
                Action::Deactivate(Cause::PrimaryActive)
            );
            assert_eq!(primary.feed(ACTIVE), Action::Reannounce);
            // The backup now says stopped-but-ready; the primary stays.
            assert_eq!(primary.feed(STANDBY), Action::Nothing);
            assert!(primary.machine.is_active() && !backup.machine.is_active());
        }
    }

    #[test]
    fn force_active_activates_at_start_and_still_yields_as_backup() {
        let mut backup = Node::new(Rules {
            force_active: true,
            ..rules(Role::Backup, true)
        });
        assert!(backup.machine.is_active());
        assert_eq!(
            backup.feed(ACTIVE),
            Action::Deactivate(Cause::PrimaryActive)
        );
        let mut primary = StateMachine::new(
            Rules {
                force_active: true,
                ..rules(Role::Primary, false)
            },
            Instant::now(),
        );
        assert_eq!(
            primary.handle(Input::Start, Instant::now()),
            Action::Activate(Cause::ForceActive)
        );
    }

    #[test]
    fn force_active_does_not_override_a_down_link() {
        let now = Instant::now();
        let mut machine = StateMachine::new(
            Rules {
                force_active: true,
                ..rules(Role::Primary, true)
            },
            now,
        );
        assert_eq!(machine.handle(Input::Link(false), now), Action::Nothing);
        assert_eq!(machine.handle(Input::Start, now), Action::Nothing);
    }

    #[test]
    fn link_down_deactivates_and_blocks_activation_until_it_is_back() {
        for role in [Role::Primary, Role::Backup] {
            let mut node = Node::new(rules(role, true)).active();
            assert_eq!(
                node.feed(Input::Link(false)),
                Action::Deactivate(Cause::LinkDown)
            );
            assert_eq!(
                node.machine.announcement(),
                Announcement {
                    active: false,
                    ready: false
                }
            );
            assert_eq!(node.feed(Input::PeerDead), Action::Nothing);
            assert_eq!(node.feed(STOPPED), Action::Nothing);
            assert_eq!(node.feed(Input::Link(false)), Action::Nothing);
            // The peer said stopped last: the link's return activates.
            assert_eq!(
                node.feed(Input::Link(true)),
                Action::Activate(Cause::PeerStopped)
            );
        }
    }

    #[test]
    fn link_back_with_the_peer_active_follows_preempt() {
        let mut primary = Node::primary(true).active();
        primary.feed(Input::Link(false));
        assert_eq!(primary.feed(ACTIVE), Action::Nothing, "link still down");
        assert_eq!(
            primary.feed(Input::Link(true)),
            Action::Activate(Cause::Preempt)
        );
        let mut backup = Node::backup(true).active();
        backup.feed(Input::Link(false));
        backup.feed(ACTIVE);
        assert_eq!(backup.feed(Input::Link(true)), Action::Nothing);
    }

    #[test]
    fn operator_stop_deactivates_says_not_ready_and_start_resumes() {
        let mut node = Node::primary(true).active();
        assert_eq!(
            node.feed(Input::Stopped(true)),
            Action::Deactivate(Cause::OperatorStop)
        );
        assert_eq!(
            node.machine.announcement(),
            Announcement {
                active: false,
                ready: false
            }
        );
        assert!(node.machine.view().stopped);
        // The backup took over; a stopped primary does not preempt.
        assert_eq!(node.feed(ACTIVE), Action::Nothing);
        assert_eq!(node.feed(Input::PeerDead), Action::Nothing);
        assert_eq!(node.feed(Input::Stopped(true)), Action::Nothing);
        // Started again: the backup is active and preempt = 1, so it takes back...
        node.feed(ACTIVE);
        assert_eq!(
            node.feed(Input::Stopped(false)),
            Action::Activate(Cause::Preempt)
        );
        // ... but without preempt it waits.
        let mut node = Node::primary(false).active();
        node.feed(Input::Stopped(true));
        node.feed(ACTIVE);
        assert_eq!(node.feed(Input::Stopped(false)), Action::Nothing);
    }

    #[test]
    fn a_stopped_peer_is_taken_over_even_by_the_backup() {
        let mut backup = Node::backup(true);
        assert_eq!(backup.feed(ACTIVE), Action::Nothing);
        // The primary is stopped by its operator: "stopped", priority 0.
        assert_eq!(backup.feed(STOPPED), Action::Activate(Cause::PeerStopped));
    }

    #[test]
    fn the_peer_heard_again_after_death_is_known_again() {
        let mut backup = Node::backup(true).active();
        assert_eq!(backup.machine.view().peer, PeerKnowledge::Dead);
        assert_eq!(backup.feed(STANDBY), Action::Nothing);
        assert_eq!(
            backup.machine.view().peer,
            PeerKnowledge::Heard(PeerReport::Inactive { ready: true })
        );
    }

    fn global(primary: &str, backup: &str) -> GlobalSettings {
        GlobalSettings {
            primary: Some(primary.parse().expect("ip")),
            backup: Some(backup.parse().expect("ip")),
            backup_active: true,
            ..GlobalSettings::default()
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn the_role_comes_from_the_local_addresses() {
        let g = global("192.0.2.1", "192.0.2.2");
        assert_eq!(
            decide_role(&g, &ips(&["127.0.0.1", "192.0.2.1"])),
            Ok(Role::Primary)
        );
        assert_eq!(decide_role(&g, &ips(&["192.0.2.2"])), Ok(Role::Backup));
        assert_eq!(
            decide_role(&g, &ips(&["192.0.2.1", "192.0.2.2"])),
            Ok(Role::Primary),
            "primary first, as Piranha"
        );
        let v6 = global("2001:db8::1", "2001:db8::2");
        assert_eq!(decide_role(&v6, &ips(&["2001:db8::2"])), Ok(Role::Backup));
    }

    #[test]
    fn a_node_with_neither_address_is_told_what_it_has() {
        let g = global("192.0.2.1", "192.0.2.2");
        let error = decide_role(&g, &ips(&["127.0.0.1", "198.51.100.7"])).expect_err("neither");
        assert_eq!(
            error.to_string(),
            "this node has neither the primary address 192.0.2.1 nor the backup address \
             192.0.2.2 (its addresses: 127.0.0.1, 198.51.100.7)"
        );
        let no_backup = global("192.0.2.1", "0.0.0.0");
        assert_eq!(
            decide_role(&no_backup, &ips(&["0.0.0.0"])),
            Err(RoleError::NotInPair {
                primary: "192.0.2.1".parse().expect("ip"),
                backup: None,
                local: ips(&["0.0.0.0"]),
            })
        );
        assert_eq!(
            decide_role(&GlobalSettings::default(), &[]),
            Err(RoleError::NoPrimary)
        );
    }
}
