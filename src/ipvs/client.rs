//! The IPVS generic netlink client: one socket, the family id resolved once, many
//! requests per send, every acknowledgement matched to its request.

use std::io::Cursor;

use neli::consts::nl::{NlmF, Nlmsg, NlmsgerrAttr};
use neli::consts::socket::{Msg, NlFamily};
use neli::genl::{Genlmsghdr, GenlmsghdrBuilder, NoUserHeader};
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::socket::NlSocket;
use neli::types::GenlBuffer;
use neli::utils::Groups;
use neli::{FromBytes, Size, ToBytes};

use super::types::{
    DestinationState, Info, Operation, ServiceKey, ServiceState, SyncDaemon, Timeouts,
};
use super::wire::{self, Attr, Fields, WireError, cmd};

/// `GENL_ID_CTRL`, the family that names the others.
const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_GETFAMILY`.
const CTRL_CMD_GETFAMILY: u8 = 3;
/// `CTRL_ATTR_FAMILY_ID`.
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME`.
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// Requests per send: large enough that round trips do not dominate, small enough
/// that the acknowledgements of one batch fit the socket's receive buffer.
const BATCH: usize = 256;
/// One receive: the kernel sends at most a few pages per datagram.
const RECEIVE_BUFFER: usize = 256 * 1024;

type Message = Nlmsghdr<u16, Genlmsghdr<u8, u16>>;

/// What went wrong talking to IPVS, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no IPVS family in this network namespace.
    #[error("IPVS is not available: load the ip_vs module")]
    NotAvailable,
    /// The netlink socket itself failed.
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The kernel refused a request.
    #[error("{operation}: {reason}")]
    Kernel {
        /// The request, naming its service or destination.
        operation: String,
        /// The errno the kernel returned.
        errno: i32,
        /// The kernel's extended-ACK message, or what the errno means for IPVS.
        reason: String,
    },
    /// The kernel's reply could not be read.
    #[error("unreadable reply from the kernel: {0}")]
    Reply(String),
    /// A request could not be built.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// The requests of a batch the kernel refused; the others were applied.
#[derive(Debug, thiserror::Error)]
#[error("{} of {sent} IPVS operations failed: {}", failures.len(), describe(failures))]
pub struct BatchError {
    /// How many requests were sent.
    pub sent: usize,
    /// Index into the batch, and why that request failed.
    pub failures: Vec<(usize, IpvsError)>,
}

fn describe(failures: &[(usize, IpvsError)]) -> String {
    failures
        .iter()
        .map(|(_, e)| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A connection to the kernel's IPVS table in the caller's network namespace.
pub struct IpvsClient {
    socket: NlSocket,
    family: u16,
    next_seq: u32,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for IpvsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IpvsClient {{ family: {} }}", self.family)
    }
}

/// A request on its way: its bytes and what to call it in an error.
struct Request {
    command: u8,
    attrs: Vec<Attr>,
    what: String,
}

impl IpvsClient {
    /// Opens a socket and resolves the IPVS family id once.
    pub fn connect() -> Result<Self, IpvsError> {
        let socket = NlSocket::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(IpvsError::Socket)?;
        socket.enable_ext_ack(true).map_err(IpvsError::Socket)?;
        let mut client = IpvsClient {
            socket,
            family: GENL_ID_CTRL,
            next_seq: 1,
            buffer: vec![0; RECEIVE_BUFFER],
        };
        client.family = client.resolve_family(wire::FAMILY_NAME)?;
        Ok(client)
    }

    /// The id of a generic netlink family by name; `NotAvailable` when it is absent.
    fn resolve_family(&mut self, name: &str) -> Result<u16, IpvsError> {
        let mut name_bytes = name.as_bytes().to_vec();
        name_bytes.push(0);
        let request = Request {
            command: CTRL_CMD_GETFAMILY,
            attrs: vec![wire::raw_attr(CTRL_ATTR_FAMILY_NAME, name_bytes)?],
            what: format!("look up generic netlink family {name}"),
        };
        let replies = match self.exchange(GENL_ID_CTRL, 2, request, false) {
            // The kernel answers EINVAL for an unknown family name (ENOENT on some versions).
            Err(IpvsError::Kernel { errno, .. })
                if errno == libc::EINVAL || errno == libc::ENOENT =>
            {
                return Err(IpvsError::NotAvailable);
            }
            other => other?,
        };
        replies
            .iter()
            .find_map(|reply| {
                let fields = Fields::of(reply.attrs().iter());
                let id = fields.get(CTRL_ATTR_FAMILY_ID)?;
                Some(u16::from_ne_bytes(id.get(..2)?.try_into().ok()?))
            })
            .ok_or_else(|| IpvsError::Reply(format!("no id for family {name}")))
    }

    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    fn encode(
        &self,
        family: u16,
        version: u8,
        seq: u32,
        request: &Request,
        flags: NlmF,
    ) -> Result<Vec<u8>, IpvsError> {
        let attrs: GenlBuffer<u16, neli::types::Buffer> = request.attrs.iter().cloned().collect();
        let genl = GenlmsghdrBuilder::<u8, u16, NoUserHeader>::default()
            .cmd(request.command)
            .version(version)
            .attrs(attrs)
            .build()
            .map_err(|e| WireError(format!("genl header: {e}")))?;
        let message: Message = NlmsghdrBuilder::default()
            .nl_type(family)
            .nl_flags(flags)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .map_err(|e| WireError(format!("netlink header: {e}")))?;
        let mut cursor = Cursor::new(vec![0; message.padded_size()]);
        message
            .to_bytes(&mut cursor)
            .map_err(|e| WireError(format!("serialize: {e}")))?;
        Ok(cursor.into_inner())
    }

    /// Sends one request and collects its replies: a dump's messages up to DONE, or
    /// the payload replies and the ACK of a plain request.
    fn exchange(
        &mut self,
        family: u16,
        version: u8,
        request: Request,
        dump: bool,
    ) -> Result<Vec<Genlmsghdr<u8, u16>>, IpvsError> {
        let seq = self.take_seq();
        let flags = if dump {
            NlmF::REQUEST | NlmF::DUMP
        } else {
            NlmF::REQUEST | NlmF::ACK
        };
        let bytes = self.encode(family, version, seq, &request, flags)?;
        self.socket
            .send(&bytes, Msg::empty())
            .map_err(IpvsError::Socket)?;
        let mut replies = Vec::new();
        loop {
            for reply in self.receive()? {
                if reply.seq != seq {
                    continue;
                }
                match reply.body {
                    Body::Payload(genl) => replies.push(genl),
                    Body::Done | Body::Ack => return Ok(replies),
                    Body::Error { errno, message } => {
                        return Err(kernel_error(&request.what, request.command, errno, message));
                    }
                }
            }
        }
    }

    /// Reads one datagram and splits it into messages by their own lengths, so a
    /// message that carries more than neli reads never shifts the next one.
    fn receive(&mut self) -> Result<Vec<Reply>, IpvsError> {
        let (size, _) = self
            .socket
            .recv(&mut self.buffer[..], Msg::empty())
            .map_err(IpvsError::Socket)?;
        let mut replies = Vec::new();
        let mut offset = 0;
        let data = &self.buffer[..size.min(self.buffer.len())];
        while offset + 16 <= data.len() {
            let length = u32::from_ne_bytes(data[offset..offset + 4].try_into().unwrap_or_default())
                as usize;
            if length < 16 || offset + length > data.len() {
                return Err(IpvsError::Reply(format!(
                    "message of {length} bytes at {offset}"
                )));
            }
            replies.push(parse_reply(&data[offset..offset + length])?);
            offset += (length + 3) & !3;
        }
        Ok(replies)
    }

    /// Applies operations in batches; every request is acknowledged, and the ones the
    /// kernel refused are reported by index with the kernel's reason.
    pub fn apply(&mut self, operations: &[Operation]) -> Result<(), BatchError> {
        let mut failures = Vec::new();
        for (chunk_index, chunk) in operations.chunks(BATCH).enumerate() {
            let base = chunk_index * BATCH;
            if let Err(e) = self.apply_chunk(chunk, base, &mut failures) {
                failures.push((base, e));
                break;
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BatchError {
                sent: operations.len(),
                failures,
            })
        }
    }

    fn apply_chunk(
        &mut self,
        chunk: &[Operation],
        base: usize,
        failures: &mut Vec<(usize, IpvsError)>,
    ) -> Result<(), IpvsError> {
        let mut bytes = Vec::new();
        let mut pending = Vec::with_capacity(chunk.len());
        for (i, operation) in chunk.iter().enumerate() {
            let request = request_for(operation)?;
            let seq = self.take_seq();
            bytes.extend(self.encode(
                self.family,
                wire::VERSION,
                seq,
                &request,
                NlmF::REQUEST | NlmF::ACK,
            )?);
            pending.push((seq, base + i, request));
        }
        self.socket
            .send(&bytes, Msg::empty())
            .map_err(IpvsError::Socket)?;
        let mut waiting = pending.len();
        while waiting > 0 {
            for reply in self.receive()? {
                let Some((_, index, request)) =
                    pending.iter().find(|(seq, _, _)| *seq == reply.seq)
                else {
                    continue;
                };
                match reply.body {
                    Body::Ack => waiting -= 1,
                    Body::Error { errno, message } => {
                        waiting -= 1;
                        failures.push((
                            *index,
                            kernel_error(&request.what, request.command, errno, message),
                        ));
                    }
                    Body::Payload(_) | Body::Done => {}
                }
            }
        }
        Ok(())
    }

    /// Runs one operation.
    pub fn execute(&mut self, operation: &Operation) -> Result<(), IpvsError> {
        self.apply(std::slice::from_ref(operation))
            .map_err(|mut e| match e.failures.pop() {
                Some((_, error)) => error,
                None => IpvsError::Reply("empty batch error".into()),
            })
    }

    fn get(
        &mut self,
        command: u8,
        attrs: Vec<Attr>,
        what: &str,
        dump: bool,
    ) -> Result<Vec<Genlmsghdr<u8, u16>>, IpvsError> {
        let request = Request {
            command,
            attrs,
            what: what.to_string(),
        };
        self.exchange(self.family, wire::VERSION, request, dump)
    }

    /// IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let replies = self.get(cmd::GET_INFO, Vec::new(), "read IPVS info", false)?;
        let reply = replies
            .first()
            .ok_or_else(|| IpvsError::Reply("no info".into()))?;
        Ok(wire::read_info(&Fields::of(reply.attrs().iter())))
    }

    /// A dump whose replies each carry one nested object of the same kind.
    fn dump_nested<T>(
        &mut self,
        command: u8,
        attrs: Vec<Attr>,
        what: &str,
        nested: u16,
        read: impl Fn(&[u8]) -> Result<T, WireError>,
    ) -> Result<Vec<T>, IpvsError> {
        let replies = self.get(command, attrs, what, true)?;
        replies
            .iter()
            .filter_map(|r| Fields::of(r.attrs().iter()).get(nested).map(&read))
            .collect::<Result<_, _>>()
            .map_err(IpvsError::from)
    }

    /// Every service with its counters (destinations not included).
    pub fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        self.dump_nested(
            cmd::GET_SERVICE,
            Vec::new(),
            "list services",
            wire::top::SERVICE,
            wire::read_service,
        )
    }

    /// One service's settings and counters (destinations not included), or `None` when
    /// the kernel has no such service: a reload that changed one service reads that one
    /// instead of listing 10,000.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceState>, IpvsError> {
        let what = format!("read service {key}");
        let replies = match self.get(
            cmd::GET_SERVICE,
            vec![wire::service_key_attr(key)?],
            &what,
            false,
        ) {
            Ok(replies) => replies,
            Err(IpvsError::Kernel { errno, .. }) if errno == libc::ESRCH => return Ok(None),
            Err(e) => return Err(e),
        };
        let nested = replies.iter().find_map(|r| {
            Fields::of(r.attrs().iter())
                .get(wire::top::SERVICE)
                .map(wire::read_service)
        });
        nested.transpose().map_err(IpvsError::from)
    }

    /// The destinations of one service.
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError> {
        let what = format!("list real servers of service {key}");
        let family = key.family();
        self.dump_nested(
            cmd::GET_DEST,
            vec![wire::service_key_attr(key)?],
            &what,
            wire::top::DEST,
            |p| wire::read_destination(p, family),
        )
    }

    /// The whole table: every service and its destinations (1 + N round trips, the
    /// kernel has no single dump of both).
    pub fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        let mut services = self.services()?;
        for service in &mut services {
            service.destinations = self.destinations(&service.service.key)?;
        }
        Ok(services)
    }

    /// The global protocol timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let replies = self.get(cmd::GET_CONFIG, Vec::new(), "read timeouts", false)?;
        let reply = replies
            .first()
            .ok_or_else(|| IpvsError::Reply("no timeouts".into()))?;
        Ok(wire::read_timeouts(&Fields::of(reply.attrs().iter())))
    }

    /// The running sync daemons.
    pub fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.dump_nested(
            cmd::GET_DAEMON,
            Vec::new(),
            "list sync daemons",
            wire::top::DAEMON,
            wire::read_daemon,
        )
    }
}

/// The netlink request that carries an operation.
fn request_for(operation: &Operation) -> Result<Request, WireError> {
    let (command, attrs) = match operation {
        Operation::NewService(s) => (cmd::NEW_SERVICE, vec![wire::service_attr(s)?]),
        Operation::SetService(s) => (cmd::SET_SERVICE, vec![wire::service_attr(s)?]),
        Operation::DelService(k) => (cmd::DEL_SERVICE, vec![wire::service_key_attr(k)?]),
        Operation::NewDestination(k, d) => (
            cmd::NEW_DEST,
            vec![wire::service_key_attr(k)?, wire::destination_attr(d)?],
        ),
        Operation::SetDestination(k, d) => (
            cmd::SET_DEST,
            vec![wire::service_key_attr(k)?, wire::destination_attr(d)?],
        ),
        Operation::DelDestination(k, address, port) => (
            cmd::DEL_DEST,
            vec![
                wire::service_key_attr(k)?,
                wire::destination_key_attr(*address, *port)?,
            ],
        ),
        Operation::SetTimeouts(t) => (cmd::SET_CONFIG, wire::timeout_attrs(t)?),
        Operation::NewSyncDaemon(d) => (cmd::NEW_DAEMON, vec![wire::daemon_attr(d)?]),
        Operation::DelSyncDaemon(state) => {
            (cmd::DEL_DAEMON, vec![wire::daemon_state_attr(*state)?])
        }
        Operation::Zero(Some(k)) => (cmd::ZERO, vec![wire::service_key_attr(k)?]),
        Operation::Zero(None) => (cmd::ZERO, Vec::new()),
        Operation::Flush => (cmd::FLUSH, Vec::new()),
    };
    Ok(Request {
        command,
        attrs,
        what: operation.to_string(),
    })
}

/// What an errno means for an IPVS request, where the kernel gave no message of its own.
fn explain(command: u8, errno: i32) -> &'static str {
    let on_destination = matches!(
        command,
        cmd::NEW_DEST | cmd::SET_DEST | cmd::DEL_DEST | cmd::GET_DEST
    );
    match errno {
        libc::ESRCH => "no such service",
        libc::ENOENT if command == cmd::NEW_SERVICE || command == cmd::SET_SERVICE => {
            "the kernel has no such scheduler or persistence engine (is its ip_vs_ module available?)"
        }
        libc::ENOENT if on_destination => "no such real server in this service",
        libc::ENOENT => "not found",
        libc::EEXIST if on_destination => "this real server is already in the service",
        libc::EEXIST => "it already exists",
        libc::EINVAL => {
            "invalid request (a malformed attribute, or an address that is not unicast)"
        }
        libc::ERANGE => "a value is out of range (weight or thresholds)",
        libc::EPERM | libc::EACCES => "permission denied: CAP_NET_ADMIN is needed",
        libc::EAFNOSUPPORT => "address family not supported (IPv6 support in IPVS?)",
        libc::EBUSY => "busy (a sync daemon in this state is already running?)",
        _ => "refused",
    }
}

fn kernel_error(what: &str, command: u8, errno: i32, message: Option<String>) -> IpvsError {
    let cause = std::io::Error::from_raw_os_error(errno);
    let reason = match message {
        Some(text) => format!("{text} ({cause})"),
        None => format!("{} ({cause})", explain(command, errno)),
    };
    IpvsError::Kernel {
        operation: what.to_string(),
        errno,
        reason,
    }
}

/// One message of a reply, reduced to what the client needs.
struct Reply {
    seq: u32,
    body: Body,
}

enum Body {
    Payload(Genlmsghdr<u8, u16>),
    Ack,
    Done,
    Error { errno: i32, message: Option<String> },
}

fn parse_reply(bytes: &[u8]) -> Result<Reply, IpvsError> {
    let unreadable = |e: neli::err::DeError| IpvsError::Reply(e.to_string());
    let message = Message::from_bytes(&mut Cursor::new(bytes)).map_err(unreadable)?;
    let seq = *message.nl_seq();
    let body = match message.nl_payload() {
        NlPayload::Ack(_) => Body::Ack,
        NlPayload::Err(e) => Body::Error {
            errno: -*e.error(),
            message: e
                .ext_ack()
                .iter()
                .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
                .map(|a| {
                    let text = a.nla_payload().as_ref();
                    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
                    String::from_utf8_lossy(&text[..end]).into_owned()
                }),
        },
        NlPayload::DumpExtAck(_) | NlPayload::Empty => Body::Done,
        NlPayload::Payload(_) if *message.nl_type() == u16::from(Nlmsg::Done) => Body::Done,
        NlPayload::Payload(genl) => Body::Payload(genl.clone()),
    };
    Ok(Reply { seq, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_family_resolves_and_a_missing_family_is_named() {
        let socket =
            NlSocket::connect(NlFamily::Generic, None, Groups::empty()).expect("netlink socket");
        let mut client = IpvsClient {
            socket,
            family: GENL_ID_CTRL,
            next_seq: 1,
            buffer: vec![0; RECEIVE_BUFFER],
        };
        assert_eq!(
            client.resolve_family("nlctrl").expect("nlctrl exists"),
            GENL_ID_CTRL
        );
        let missing = client
            .resolve_family("no-such-family-x")
            .expect_err("absent");
        assert_eq!(
            missing.to_string(),
            "IPVS is not available: load the ip_vs module"
        );
    }
}
