//! Configuration sync between the two directors (SPEC 6.7): `shoal sync push` (and the web
//! UI's "Sync to backup") send this node's lvs.cf to the peer's daemon, which checks it,
//! writes it atomically (keeping `lvs.cf.bak`) and reloads. It replaces the `scp` the Red
//! Hat guide tells administrators to run after every edit.
//!
//! # Channel
//!
//! TCP on the heartbeat port (lvs.cf `heartbeat_port`, default 539; the heartbeat itself is
//! UDP, and TCP and UDP ports are separate), one push per connection, all integers
//! big-endian:
//!
//! 1. the receiver sends a hello ([`HELLO_LEN`] bytes): `b"SHSH"`, version ([`VERSION`]),
//!    3 zero bytes, a 16-byte random challenge read from `/dev/urandom`;
//! 2. the pusher sends the push: a [`HEADER_LEN`]-byte header (`b"SHSP"`, version, 3 zero
//!    bytes, the challenge echoed, the pusher's wall clock in nanoseconds (for logs only),
//!    the file's `serial_no`, the content length), then the content, then an
//!    HMAC-SHA256 tag ([`TAG_LEN`] bytes) over header and content with the pair's key
//!    (shoal.toml `heartbeat.key_file`, the heartbeat's key; the magic keeps a push and a
//!    heartbeat from ever passing for each other), and closes its sending side;
//! 3. the receiver answers with one line of text ([`Reply`]) and closes: `applied
//!    serial_no 5`, or `refused: ` and why (`refused: older serial_no 3, this node has
//!    4`, `refused: bad authentication tag ...`, `refused: lvs.cf:12:3: error: ...`).
//!
//! # What is refused, and why
//!
//! - **No key, no sync.** A receiver without a key refuses every push and says so, and
//!   `shoal sync push` refuses to send without one: an unauthenticated push would let any
//!   host that reaches the port rewrite the load balancer. There is no `--insecure`.
//! - **Authentication.** A wrong tag (wrong key, any altered byte) is refused before the
//!   content is even parsed.
//! - **Replays.** The tag covers the receiver's fresh challenge, so a recorded push fails on
//!   any later connection. Independently, the receiver refuses a `serial_no` not greater
//!   than its own file's (an older file, or the same serial again), which also stops the
//!   replay of an old push should the challenge ever be defeated; the header's serial must
//!   match the one in the content.
//! - **Validity.** The content is checked as `shoal check` does, with this node's kernel
//!   features; errors refuse it, with the first ones in the reply.
//! - **Size and time.** Content is at most [`MAX_CONTENT`] bytes (16 MiB, far beyond a
//!   10,000-service file), declared up front so nothing is read past the limit; a push
//!   must arrive within [`Limits::request_timeout`], and at most [`MAX_CONNECTIONS`] are
//!   read at once.
//!
//! A refused push leaves the receiver's lvs.cf byte for byte as it was. An applied one is
//! written by [`crate::config::atomic::replace_file`] under a lock (pushes are applied one
//! at a time), and a [`PushReceipt`] goes to the daemon, which reloads.
//!
//! The daemon's side, in short:
//!
//! ```no_run
//! # async fn example(key: shoal::ha::HeartbeatKey) -> Result<(), shoal::ha::sync::SyncError> {
//! use shoal::ha::{Auth, sync};
//! let listener = sync::bind("192.0.2.2".parse().unwrap(), 539).await?;
//! let receiver = sync::Receiver::new(
//!     "/etc/sysconfig/ha/lvs.cf".into(),
//!     Auth::Key(key),
//!     shoal::config::KernelFeatures::detect(),
//! );
//! let (applied, mut receipts) = tokio::sync::mpsc::channel(4);
//! let server = tokio::spawn(receiver.serve(listener, applied));
//! while let Some(receipt) = receipts.recv().await {
//!     // re-read lvs.cf, as on SIGHUP
//! }
//! server.abort();
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tracing::{info, warn};

use super::wire::{Auth, ConfigHash, HeartbeatKey};
use crate::config::atomic::{AtomicWriteError, replace_file};
use crate::config::resolve::{Resolver, StaticResolver, SystemResolver};
use crate::config::{self, KernelFeatures};

/// Magic of the receiver's hello.
pub const HELLO_MAGIC: [u8; 4] = *b"SHSH";
/// Magic of a push.
pub const PUSH_MAGIC: [u8; 4] = *b"SHSP";
/// The sync protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Size of the receiver's challenge.
pub const CHALLENGE_LEN: usize = 16;
/// Size of the hello: magic, version, 3 reserved bytes, challenge.
pub const HELLO_LEN: usize = 4 + 1 + 3 + CHALLENGE_LEN;
/// Size of a push's header: magic, version, 3 reserved, challenge, sent-at, serial_no,
/// content length.
pub const HEADER_LEN: usize = 4 + 1 + 3 + CHALLENGE_LEN + 8 + 8 + 8;
/// Size of the HMAC-SHA256 tag that ends a push.
pub const TAG_LEN: usize = 32;
/// The largest lvs.cf accepted (16 MiB): bounds what a peer can make the receiver hold.
pub const MAX_CONTENT: u64 = 16 * 1024 * 1024;
/// The longest reply line a pusher reads.
pub const MAX_REPLY: u64 = 4096;
/// How many pushes a receiver reads at once (each may hold up to [`MAX_CONTENT`]).
pub const MAX_CONNECTIONS: usize = 4;
/// How many errors of an invalid file the reply quotes.
const QUOTED_ERRORS: usize = 3;

/// Byte offsets in the header, declared once for the encoder and the decoder.
mod offset {
    use super::CHALLENGE_LEN;
    pub const VERSION: usize = 4;
    pub const CHALLENGE: usize = 8;
    pub const SENT_AT: usize = CHALLENGE + CHALLENGE_LEN;
    pub const SERIAL: usize = SENT_AT + 8;
    pub const LENGTH: usize = SERIAL + 8;
}

// ----------------------------------------------------------------------------------------
// errors

/// Why a push was refused or failed on the receiver's side. The `Display` text is what the
/// pusher reads after `refused: `, so each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The receiver has no key; see the module documentation.
    #[error(
        "this node has no peer key (shoal.toml heartbeat.key_file), so it accepts no pushes: \
         an unauthenticated push would let anyone rewrite the load balancer"
    )]
    NoKey,
    /// The bytes are not a shoal push at all.
    #[error("not a shoal sync push (magic {0:02x?})")]
    NotAPush([u8; 4]),
    /// The pusher speaks another version of this protocol.
    #[error("sync protocol version {0}, this node speaks {VERSION}")]
    Version(u8),
    /// The declared content is over the limit.
    #[error("lvs.cf of {length} bytes, at most {max} are accepted")]
    TooLarge {
        /// Declared length.
        length: u64,
        /// The limit.
        max: u64,
    },
    /// The tag is not the HMAC of the push under this node's key.
    #[error("bad authentication tag (the nodes' keys differ, or the push was altered)")]
    BadTag,
    /// An authentic push, but signed for another connection's challenge.
    #[error("the push answers another connection's challenge (a replayed push)")]
    Replayed,
    /// The header's serial is not the content's.
    #[error("the push says serial_no {header} but its lvs.cf says {content}")]
    SerialMismatch {
        /// In the header.
        header: u64,
        /// In the content.
        content: u64,
    },
    /// The pushed file is older than this node's.
    #[error("older serial_no {pushed}, this node has {current}")]
    Older {
        /// Pushed.
        pushed: u64,
        /// This node's.
        current: u64,
    },
    /// The pushed file has this node's serial.
    #[error("same serial_no {serial} as this node ({})", if *.identical {
        "identical file"
    } else {
        "a different file: increment serial_no to push it"
    })]
    Same {
        /// Both serials.
        serial: u64,
        /// Whether the bytes are the same too.
        identical: bool,
    },
    /// The pushed file does not pass `shoal check`.
    #[error("{}", quote_errors(.errors, *.total))]
    Invalid {
        /// The first errors, rendered as `lvs.cf:LINE:COL: error: ...`.
        errors: Vec<String>,
        /// How many errors there are in all.
        total: usize,
    },
    /// This node's own lvs.cf cannot be read, so its serial is unknown.
    #[error("cannot read this node's {}: {source}", .path.display())]
    Current {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the new file failed (the message says the file is unchanged).
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    /// The connection failed.
    #[error("{stage}: {source}")]
    Io {
        /// What was being done.
        stage: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pusher was too slow.
    #[error("timed out after {0:?} waiting for the push")]
    Timeout(Duration),
    /// The listener could not be bound.
    #[error("cannot listen for config pushes on TCP {address}: {source}")]
    Bind {
        /// The address and port.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn quote_errors(errors: &[String], total: usize) -> String {
    let mut text = errors.join("; ");
    if total > errors.len() {
        text.push_str(&format!(" (and {} more)", total - errors.len()));
    }
    text
}

/// Why `shoal sync push` could not get an answer from the peer (a refusal is not an
/// error here: it is a [`Reply`]).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The file is over [`MAX_CONTENT`].
    #[error("the lvs.cf has {length} bytes, at most {MAX_CONTENT} can be pushed")]
    TooLarge {
        /// Its size.
        length: usize,
    },
    /// The peer cannot be reached.
    #[error("cannot connect to {to}: {source}")]
    Connect {
        /// The peer.
        to: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The conversation broke off.
    #[error("{to}: {stage}: {source}")]
    Io {
        /// The peer.
        to: SocketAddr,
        /// What was being done.
        stage: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer did not answer in time.
    #[error("{to}: no answer within {timeout:?} ({stage})")]
    Timeout {
        /// The peer.
        to: SocketAddr,
        /// What was being waited for.
        stage: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// What answered is not a shoal sync receiver (or another version of one).
    #[error("{to} is not a shoal sync receiver of version {VERSION}: {what}")]
    NotAReceiver {
        /// The peer.
        to: SocketAddr,
        /// What it sent.
        what: String,
    },
}

// ----------------------------------------------------------------------------------------
// wire

/// The receiver's greeting: its version and the challenge the push must sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The challenge, fresh per connection.
    pub challenge: [u8; CHALLENGE_LEN],
}

impl Hello {
    /// A hello with a challenge from the kernel's random source.
    pub fn random() -> std::io::Result<Hello> {
        let mut challenge = [0u8; CHALLENGE_LEN];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut challenge)?;
        Ok(Hello { challenge })
    }

    /// The hello's bytes.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut bytes = [0u8; HELLO_LEN];
        bytes[..4].copy_from_slice(&HELLO_MAGIC);
        bytes[offset::VERSION] = VERSION;
        bytes[offset::CHALLENGE..].copy_from_slice(&self.challenge);
        bytes
    }

    /// Reads a hello, naming what was received instead when it is not one.
    pub fn decode(bytes: &[u8; HELLO_LEN]) -> Result<Hello, String> {
        if bytes[..4] != HELLO_MAGIC {
            return Err(format!("unknown greeting {:02x?}", &bytes[..4]));
        }
        if bytes[offset::VERSION] != VERSION {
            return Err(format!("sync version {}", bytes[offset::VERSION]));
        }
        let mut challenge = [0u8; CHALLENGE_LEN];
        challenge.copy_from_slice(&bytes[offset::CHALLENGE..]);
        Ok(Hello { challenge })
    }
}

/// A push's header, as read by the receiver before the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The challenge the pusher answers.
    pub challenge: [u8; CHALLENGE_LEN],
    /// The pusher's wall clock at the push, in nanoseconds since 1970 (for logs only).
    pub sent_at_ns: u64,
    /// The pushed file's `serial_no`.
    pub serial_no: u64,
    /// Content length in bytes.
    pub length: u64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..4].copy_from_slice(&PUSH_MAGIC);
        bytes[offset::VERSION] = VERSION;
        bytes[offset::CHALLENGE..offset::SENT_AT].copy_from_slice(&self.challenge);
        bytes[offset::SENT_AT..offset::SERIAL].copy_from_slice(&self.sent_at_ns.to_be_bytes());
        bytes[offset::SERIAL..offset::LENGTH].copy_from_slice(&self.serial_no.to_be_bytes());
        bytes[offset::LENGTH..].copy_from_slice(&self.length.to_be_bytes());
        bytes
    }

    /// Magic and version first, so another protocol is named as such.
    fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, SyncError> {
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != PUSH_MAGIC {
            return Err(SyncError::NotAPush(magic));
        }
        if bytes[offset::VERSION] != VERSION {
            return Err(SyncError::Version(bytes[offset::VERSION]));
        }
        let mut challenge = [0u8; CHALLENGE_LEN];
        challenge.copy_from_slice(&bytes[offset::CHALLENGE..offset::SENT_AT]);
        Ok(Header {
            challenge,
            sent_at_ns: be_u64(&bytes[offset::SENT_AT..offset::SERIAL]),
            serial_no: be_u64(&bytes[offset::SERIAL..offset::LENGTH]),
            length: be_u64(&bytes[offset::LENGTH..]),
        })
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_be_bytes(word)
}

/// The whole push for `challenge`: header, content, tag. Public so tests (and the web UI)
/// build exactly what `shoal sync push` sends.
pub fn encode_push(
    key: &HeartbeatKey,
    challenge: [u8; CHALLENGE_LEN],
    serial_no: u64,
    content: &[u8],
) -> Vec<u8> {
    let header = Header {
        challenge,
        sent_at_ns: now_ns(),
        serial_no,
        length: content.len() as u64,
    };
    let mut message = Vec::with_capacity(HEADER_LEN + content.len() + TAG_LEN);
    message.extend_from_slice(&header.encode());
    message.extend_from_slice(content);
    let tag = key.tag(&message);
    message.extend_from_slice(&tag);
    message
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The receiver's one-line answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Whether the file was written.
    pub applied: bool,
    /// The line, without its newline: `applied serial_no 5` or `refused: ...`.
    pub line: String,
}

impl Reply {
    /// Reads a reply line; anything but `applied...` counts as not applied.
    pub fn parse(text: &str) -> Reply {
        let line = text.lines().next().unwrap_or("").trim_end().to_string();
        let line = match line.is_empty() {
            true => "refused: the peer closed the connection without an answer".to_string(),
            false => line,
        };
        Reply {
            applied: line.starts_with("applied"),
            line,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

// ----------------------------------------------------------------------------------------
// receiver

/// What the daemon learns of an applied push: enough to reload and to log who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReceipt {
    /// The pusher's address.
    pub from: SocketAddr,
    /// The new file's `serial_no`.
    pub serial_no: u64,
    /// The replaced file's, when there was one.
    pub previous_serial_no: Option<u64>,
    /// SHA-256 of the new file, as the heartbeat carries it.
    pub config_hash: ConfigHash,
    /// The new file's size.
    pub bytes: usize,
}

/// The receiver's bounds; the defaults suit a real pair, tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest content accepted.
    pub max_content: u64,
    /// Time for the whole push to arrive after the hello.
    pub request_timeout: Duration,
    /// Time to write the reply, and to drain what a refused pusher still sends.
    pub reply_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content: MAX_CONTENT,
            request_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// The daemon's side of config sync: which file it guards, with which key, checked
/// against which kernel. Cheap to clone; clones share the lock that applies pushes one at
/// a time.
#[derive(Clone)]
pub struct Receiver {
    lvs_cf: PathBuf,
    auth: Auth,
    kernel: KernelFeatures,
    resolver: Arc<dyn Resolver + Send + Sync>,
    limits: Limits,
    apply_lock: Arc<std::sync::Mutex<()>>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("lvs_cf", &self.lvs_cf)
            .field("keyed", &self.auth.is_keyed())
            .field("limits", &self.limits)
            .finish()
    }
}

/// A push read off the wire and authenticated, not yet checked.
struct Request {
    header: Header,
    content: Vec<u8>,
}

impl Receiver {
    /// A receiver for `lvs_cf`. With [`Auth::None`] it refuses every push (and says so).
    /// Host names in pushed files are resolved with the system's resolver, as at load.
    pub fn new(lvs_cf: PathBuf, auth: Auth, kernel: KernelFeatures) -> Receiver {
        Receiver {
            lvs_cf,
            auth,
            kernel,
            resolver: Arc::new(SystemResolver::new()),
            limits: Limits::default(),
            apply_lock: Arc::new(std::sync::Mutex::new(())),
        }
    }

    /// Resolves host names with `resolver` instead (tests, so no verdict depends on DNS).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolver + Send + Sync>) -> Receiver {
        self.resolver = resolver;
        self
    }

    /// Other bounds (tests).
    pub fn with_limits(mut self, limits: Limits) -> Receiver {
        self.limits = limits;
        self
    }

    /// Accepts pushes until the task is aborted or the daemon drops its end of `applied`;
    /// each connection is handled on its own task, at most [`MAX_CONNECTIONS`] at once.
    /// Accept errors (out of file descriptors) are logged and retried, never fatal.
    pub async fn serve(self, listener: TcpListener, applied: mpsc::Sender<PushReceipt>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = applied.closed() => return,
            };
            let (stream, from) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("config sync: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let receiver = self.clone();
            let applied = applied.clone();
            tokio::spawn(async move {
                let _ = receiver.receive_one(stream, from, &applied).await;
                drop(slot);
            });
        }
    }

    /// Handles one connection: hello, push, verdict, reply, and on success the receipt on
    /// `applied`. Returns the verdict too, for tests and logs; it is logged here already.
    pub async fn receive_one<S>(
        &self,
        mut stream: S,
        from: SocketAddr,
        applied: &mpsc::Sender<PushReceipt>,
    ) -> Result<PushReceipt, SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let result = self.handle(&mut stream, from).await;
        let line = match &result {
            Ok(receipt) => {
                info!(
                    "config sync: {from} pushed serial_no {} ({} bytes, was {:?}); written to {}",
                    receipt.serial_no,
                    receipt.bytes,
                    receipt.previous_serial_no,
                    self.lvs_cf.display()
                );
                match applied.send(receipt.clone()).await {
                    Ok(()) => format!("applied serial_no {}", receipt.serial_no),
                    Err(_) => format!(
                        "applied serial_no {}, but the daemon was not told: reload it by hand",
                        receipt.serial_no
                    ),
                }
            }
            Err(e) => {
                warn!("config sync: refused a push from {from}: {e}");
                format!("refused: {e}")
            }
        };
        self.finish(&mut stream, &line).await;
        result
    }

    async fn handle<S>(&self, stream: &mut S, from: SocketAddr) -> Result<PushReceipt, SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let hello = Hello::random().map_err(|source| SyncError::Io {
            stage: "cannot read a challenge from /dev/urandom",
            source,
        })?;
        let timeout = self.limits.request_timeout;
        let request = tokio::time::timeout(timeout, self.read_request(stream, &hello))
            .await
            .map_err(|_| SyncError::Timeout(timeout))??;
        let receiver = self.clone();
        tokio::task::spawn_blocking(move || receiver.apply(request, from))
            .await
            .map_err(|e| SyncError::Io {
                stage: "the check of the pushed file failed",
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// Everything before the file is looked at: framing, key, size, tag, challenge.
    async fn read_request<S>(&self, stream: &mut S, hello: &Hello) -> Result<Request, SyncError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let io = |stage| move |source| SyncError::Io { stage, source };
        stream
            .write_all(&hello.encode())
            .await
            .map_err(io("cannot send the hello"))?;
        let mut head = [0u8; HEADER_LEN];
        stream
            .read_exact(&mut head)
            .await
            .map_err(io("cannot read the push header"))?;
        let header = Header::decode(&head)?;
        let Auth::Key(key) = &self.auth else {
            return Err(SyncError::NoKey);
        };
        if header.length > self.limits.max_content {
            return Err(SyncError::TooLarge {
                length: header.length,
                max: self.limits.max_content,
            });
        }
        let mut rest = Vec::new();
        (&mut *stream)
            .take(header.length + TAG_LEN as u64)
            .read_to_end(&mut rest)
            .await
            .map_err(io("cannot read the pushed file"))?;
        let Some(split) = rest
            .len()
            .checked_sub(TAG_LEN)
            .filter(|n| *n as u64 == header.length)
        else {
            return Err(SyncError::Io {
                stage: "the push ended early",
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        };
        let tag = rest.split_off(split);
        let mut signed = head.to_vec();
        signed.extend_from_slice(&rest);
        if !key.verify(&signed, &tag) {
            return Err(SyncError::BadTag);
        }
        if header.challenge != hello.challenge {
            return Err(SyncError::Replayed);
        }
        Ok(Request {
            header,
            content: rest,
        })
    }

    /// Serial, check, write: one push at a time, so two pushes cannot both pass the serial
    /// comparison against the same old file.
    fn apply(&self, request: Request, from: SocketAddr) -> Result<PushReceipt, SyncError> {
        let _one_at_a_time = self
            .apply_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pushed = request.header.serial_no;
        let current = self.current()?;
        if let Some((serial, hash)) = current {
            compare_serials(pushed, serial, hash == ConfigHash::of(&request.content))?;
        }
        self.check(&request.content, pushed)?;
        match replace_file(&self.lvs_cf, &request.content, true) {
            Ok(()) => {}
            Err(e @ AtomicWriteError::SyncDir { .. }) => warn!("config sync: {e}"),
            Err(e) => return Err(e.into()),
        }
        Ok(PushReceipt {
            from,
            serial_no: pushed,
            previous_serial_no: current.map(|(serial, _)| serial),
            config_hash: ConfigHash::of(&request.content),
            bytes: request.content.len(),
        })
    }

    /// This node's serial and hash; `None` when it has no file yet. The serial is read
    /// without resolving names (a broken file still has one).
    fn current(&self) -> Result<Option<(u64, ConfigHash)>, SyncError> {
        match std::fs::read(&self.lvs_cf) {
            Ok(bytes) => Ok(Some((serial_of(&bytes), ConfigHash::of(&bytes)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SyncError::Current {
                path: self.lvs_cf.clone(),
                source,
            }),
        }
    }

    /// `shoal check` on the pushed bytes, and the header's serial against the content's.
    fn check(&self, content: &[u8], header_serial: u64) -> Result<(), SyncError> {
        let loaded = config::check(content, &*self.resolver, &self.kernel);
        if loaded.has_errors() {
            let all: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render(&display_name(&self.lvs_cf)).replace('\n', " "))
                .collect();
            return Err(SyncError::Invalid {
                total: all.len(),
                errors: all.into_iter().take(QUOTED_ERRORS).collect(),
            });
        }
        let content_serial = loaded.config.global.serial_no;
        if content_serial != header_serial {
            return Err(SyncError::SerialMismatch {
                header: header_serial,
                content: content_serial,
            });
        }
        Ok(())
    }

    /// Writes the reply, closes the sending side, then reads what a refused pusher may
    /// still send, so closing does not reset the connection before it read the reply.
    async fn finish<S>(&self, stream: &mut S, line: &str)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let budget = self.limits.reply_timeout;
        let drain_cap = self.limits.max_content + (HEADER_LEN + TAG_LEN) as u64;
        let work = async {
            stream.write_all(format!("{line}\n").as_bytes()).await?;
            stream.shutdown().await?;
            tokio::io::copy(&mut (&mut *stream).take(drain_cap), &mut tokio::io::sink()).await
        };
        if let Ok(Err(e)) = tokio::time::timeout(budget, work).await {
            warn!("config sync: cannot answer the pusher: {e}");
        }
    }
}

/// Refuses a push whose serial is not newer than this node's; see the module doc on
/// replays.
fn compare_serials(pushed: u64, current: u64, identical: bool) -> Result<(), SyncError> {
    match pushed.cmp(&current) {
        std::cmp::Ordering::Greater => Ok(()),
        std::cmp::Ordering::Equal => Err(SyncError::Same {
            serial: pushed,
            identical,
        }),
        std::cmp::Ordering::Less => Err(SyncError::Older { pushed, current }),
    }
}

/// The `serial_no` of lvs.cf bytes (0 when absent), without DNS or kernel lookups.
pub fn serial_of(bytes: &[u8]) -> u64 {
    config::parse::parse(bytes, &StaticResolver::default())
        .config
        .global
        .serial_no
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lvs.cf".to_string())
}

/// A TCP listener for pushes on `address`, port `port` (lvs.cf `heartbeat_port`), with
/// `SO_REUSEADDR` so a restarted daemon binds again at once.
pub async fn bind(address: IpAddr, port: u16) -> Result<TcpListener, SyncError> {
    let socket_address = SocketAddr::new(address, port);
    let bind_error = |source| SyncError::Bind {
        address: socket_address,
        source,
    };
    let socket = match address {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(bind_error)?;
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(socket_address).map_err(bind_error)?;
    socket.listen(16).map_err(bind_error)
}

// ----------------------------------------------------------------------------------------
// pusher

/// Pushes `content` (an lvs.cf with `serial_no`) to the receiver at `to`, within
/// `timeout` per step, and returns its answer. Refusals are answers, not errors.
pub async fn push(
    to: SocketAddr,
    key: &HeartbeatKey,
    serial_no: u64,
    content: &[u8],
    timeout: Duration,
) -> Result<Reply, PushError> {
    if content.len() as u64 > MAX_CONTENT {
        return Err(PushError::TooLarge {
            length: content.len(),
        });
    }
    push_with(to, timeout, |hello| {
        encode_push(key, hello.challenge, serial_no, content)
    })
    .await
}

/// The conversation of [`push`] with the message built by `build` from the hello: for
/// tests that send altered or replayed pushes, and for [`push`] itself.
pub async fn push_with(
    to: SocketAddr,
    timeout: Duration,
    build: impl FnOnce(&Hello) -> Vec<u8>,
) -> Result<Reply, PushError> {
    let limit = |stage| move |_| PushError::Timeout { to, stage, timeout };
    let io = |stage| move |source| PushError::Io { to, stage, source };
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect(to))
        .await
        .map_err(limit("connecting"))?
        .map_err(|source| PushError::Connect { to, source })?;
    let mut greeting = [0u8; HELLO_LEN];
    tokio::time::timeout(timeout, stream.read_exact(&mut greeting))
        .await
        .map_err(limit("waiting for the hello"))?
        .map_err(io("cannot read the hello"))?;
    let hello = Hello::decode(&greeting).map_err(|what| PushError::NotAReceiver { to, what })?;
    let message = build(&hello);
    let sent = tokio::time::timeout(timeout, async {
        stream.write_all(&message).await?;
        stream.shutdown().await
    })
    .await
    .map_err(limit("sending the push"))?;
    // A receiver that refused early answers before reading everything: its reply is
    // still worth reading when the send broke off.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        timeout,
        (&mut stream).take(MAX_REPLY).read_to_end(&mut answer),
    )
    .await
    .map_err(limit("waiting for the answer"))?;
    match (sent, read) {
        (_, Ok(_)) if !answer.is_empty() => Ok(Reply::parse(&String::from_utf8_lossy(&answer))),
        (Err(source), _) => Err(PushError::Io {
            to,
            stage: "cannot send the push",
            source,
        }),
        (Ok(()), Err(source)) => Err(io("cannot read the answer")(source)),
        (Ok(()), Ok(_)) => Ok(Reply::parse("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_names_strangers() {
        let hello = Hello {
            challenge: [7; CHALLENGE_LEN],
        };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        let mut other = hello.encode();
        other[offset::VERSION] = 9;
        assert_eq!(Hello::decode(&other), Err("sync version 9".to_string()));
        other[0] = b'X';
        assert!(Hello::decode(&other).is_err());
    }

    #[test]
    fn header_fields_sit_at_their_offsets() {
        let header = Header {
            challenge: [1; CHALLENGE_LEN],
            sent_at_ns: 2,
            serial_no: 3,
            length: 4,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[..5], b"SHSP\x01");
        assert_eq!(&bytes[8..24], &[1; 16]);
        assert_eq!(&bytes[32..40], &3u64.to_be_bytes());
        assert_eq!(&bytes[40..48], &4u64.to_be_bytes());
        assert_eq!(Header::decode(&bytes).ok(), Some(header));
    }

    #[test]
    fn a_push_is_header_content_and_tag_over_both() {
        let key = HeartbeatKey::new(vec![3; 32]).expect("key");
        let message = encode_push(&key, [5; CHALLENGE_LEN], 9, b"serial_no = 9\n");
        assert_eq!(message.len(), HEADER_LEN + 14 + TAG_LEN);
        let (signed, tag) = message.split_at(message.len() - TAG_LEN);
        assert!(key.verify(signed, tag));
    }

    #[test]
    fn serials_must_grow() {
        assert!(compare_serials(5, 4, false).is_ok());
        assert_eq!(
            compare_serials(3, 4, false).map_err(|e| e.to_string()),
            Err("older serial_no 3, this node has 4".to_string())
        );
        assert!(
            compare_serials(4, 4, true)
                .map_err(|e| e.to_string())
                .is_err_and(|e| e.contains("same serial_no 4") && e.contains("identical"))
        );
    }

    #[test]
    fn replies_read_their_first_line() {
        assert!(Reply::parse("applied serial_no 5\n").applied);
        let refused = Reply::parse("refused: older\n");
        assert!(!refused.applied);
        assert_eq!(refused.line, "refused: older");
        assert!(!Reply::parse("").applied);
    }

    #[test]
    fn invalid_files_quote_the_first_errors() {
        let errors = vec!["a".to_string(), "b".to_string()];
        assert_eq!(quote_errors(&errors, 5), "a; b (and 3 more)");
        assert_eq!(quote_errors(&errors, 2), "a; b");
    }
}
