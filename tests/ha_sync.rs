//! Configuration sync (SPEC 6.7) on loopback: a receiver in the test process, pushes from
//! the library and from `shoal sync push`. Every refusal must leave the receiver's lvs.cf
//! byte for byte as it was, make no backup and send the daemon no receipt.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shoal::config::KernelFeatures;
use shoal::config::resolve::StaticResolver;
use shoal::ha::sync::{self, CHALLENGE_LEN, HEADER_LEN, Limits, PushReceipt, Receiver, Reply};
use shoal::ha::{Auth, ConfigHash, HeartbeatKey};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const TIMEOUT: Duration = Duration::from_secs(5);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn lvs_cf(serial: u64, weight: u32) -> Vec<u8> {
    format!(
        "serial_no = {serial}\nservice = lvs\nprimary = 127.0.0.1\nbackup = 127.0.0.2\n\
         backup_active = 1\nnetwork = direct\nvirtual web {{\n    active = 1\n    \
         address = 192.0.2.10 eth0:1\n    port = 80\n    protocol = tcp\n    \
         scheduler = wlc\n    server one {{\n        address = 198.51.100.11\n        \
         active = 1\n        weight = {weight}\n    }}\n}}\n"
    )
    .into_bytes()
}

fn key(byte: u8) -> HeartbeatKey {
    HeartbeatKey::new(vec![byte; 32]).expect("long enough")
}

/// A receiver on 127.0.0.x with its own lvs.cf, served as the daemon would.
struct Node {
    _dir: tempfile::TempDir,
    lvs_cf: PathBuf,
    original: Vec<u8>,
    address: SocketAddr,
    receipts: mpsc::Receiver<PushReceipt>,
    server: Option<JoinHandle<()>>,
}

impl Node {
    async fn start(auth: Auth, serial: u64) -> Node {
        Node::start_with(auth, serial, LOCALHOST, Limits::default()).await
    }

    async fn start_with(auth: Auth, serial: u64, ip: IpAddr, limits: Limits) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lvs.cf");
        let original = lvs_cf(serial, 1);
        std::fs::write(&path, &original).expect("write lvs.cf");
        let listener = sync::bind(ip, 0).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let receiver = Receiver::new(path.clone(), auth, KernelFeatures::unknown())
            .with_resolver(Arc::new(StaticResolver::default()))
            .with_limits(limits);
        let (applied, receipts) = mpsc::channel(4);
        let server = tokio::spawn(receiver.serve(listener, applied));
        Node {
            _dir: dir,
            lvs_cf: path,
            original,
            address,
            receipts,
            server: Some(server),
        }
    }

    fn backup(&self) -> PathBuf {
        self.lvs_cf.with_file_name("lvs.cf.bak")
    }

    /// The refusal contract: a `refused: ` answer, and the node untouched.
    fn assert_unchanged(&mut self, reply: &Reply) {
        assert!(!reply.applied, "{reply}");
        assert!(reply.line.starts_with("refused: "), "{reply}");
        self.assert_untouched();
    }

    /// File byte-identical, no backup, no receipt.
    fn assert_untouched(&mut self) {
        assert_eq!(read(&self.lvs_cf), self.original, "lvs.cf byte-identical");
        assert!(!self.backup().exists(), "no lvs.cf.bak after a refusal");
        assert!(self.receipts.try_recv().is_err(), "no receipt");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

async fn push(node: &Node, key: &HeartbeatKey, serial: u64, content: &[u8]) -> Reply {
    sync::push(node.address, key, serial, content, TIMEOUT)
        .await
        .expect("an answer")
}

/// A push with one bit flipped at `at` (an offset into the whole message, or counted
/// from its end when negative).
async fn push_flipped(node: &Node, key: &HeartbeatKey, content: &[u8], at: isize) -> Reply {
    sync::push_with(node.address, TIMEOUT, |hello| {
        let mut message = sync::encode_push(key, hello.challenge, 5, content);
        let index = match at {
            n if n < 0 => message.len() - n.unsigned_abs(),
            n => n.unsigned_abs(),
        };
        message[index] ^= 0x01;
        message
    })
    .await
    .expect("an answer")
}

#[tokio::test]
async fn a_valid_push_is_applied_backed_up_and_reported() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let new = lvs_cf(5, 3);

    let reply = push(&node, &key(1), 5, &new).await;

    assert_eq!(reply.line, "applied serial_no 5");
    assert!(reply.applied);
    assert_eq!(read(&node.lvs_cf), new);
    assert_eq!(
        read(&node.backup()),
        node.original,
        "lvs.cf.bak keeps the old file"
    );
    let receipt = node.receipts.recv().await.expect("a receipt");
    assert_eq!(receipt.serial_no, 5);
    assert_eq!(receipt.previous_serial_no, Some(4));
    assert_eq!(receipt.config_hash, ConfigHash::of(&new));
    assert_eq!(receipt.bytes, new.len());
    assert_eq!(receipt.from.ip(), LOCALHOST);
}

#[tokio::test]
async fn a_flipped_bit_in_content_tag_or_header_fails_authentication() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let new = lvs_cf(5, 3);
    let places = [
        ("content", HEADER_LEN as isize + 20),
        ("tag", -1),
        ("serial in the header", 39),
        ("challenge", 8 + CHALLENGE_LEN as isize - 1),
    ];
    for (what, at) in places {
        let reply = push_flipped(&node, &key(1), &new, at).await;
        assert_eq!(
            reply.line,
            "refused: bad authentication tag (the nodes' keys differ, or the push was altered)",
            "{what}"
        );
        node.assert_unchanged(&reply);
    }
}

#[tokio::test]
async fn a_push_signed_with_another_key_is_refused() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let reply = push(&node, &key(2), 5, &lvs_cf(5, 3)).await;
    assert!(
        reply.line.starts_with("refused: bad authentication tag"),
        "{reply}"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn a_receiver_without_a_key_refuses_every_push_and_says_why() {
    let mut node = Node::start(Auth::None, 4).await;
    let reply = push(&node, &key(1), 5, &lvs_cf(5, 3)).await;
    assert!(
        reply
            .line
            .starts_with("refused: this node has no peer key (shoal.toml heartbeat.key_file)"),
        "{reply}"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn older_and_equal_serials_are_refused() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;

    let reply = push(&node, &key(1), 3, &lvs_cf(3, 3)).await;
    assert_eq!(reply.line, "refused: older serial_no 3, this node has 4");
    node.assert_unchanged(&reply);

    let reply = push(&node, &key(1), 4, &lvs_cf(4, 3)).await;
    assert_eq!(
        reply.line,
        "refused: same serial_no 4 as this node (a different file: increment serial_no to push it)"
    );
    node.assert_unchanged(&reply);

    let same = node.original.clone();
    let reply = push(&node, &key(1), 4, &same).await;
    assert_eq!(
        reply.line,
        "refused: same serial_no 4 as this node (identical file)"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn an_invalid_file_is_refused_with_its_first_errors() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let broken = String::from_utf8(lvs_cf(5, 3))
        .expect("text")
        .replace("scheduler = wlc", "scheduler = nope");
    let reply = push(&node, &key(1), 5, broken.as_bytes()).await;
    assert!(reply.line.starts_with("refused: lvs.cf:12:"), "{reply}");
    assert!(reply.line.contains(": error: "), "{reply}");
    assert!(reply.line.contains("nope"), "{reply}");
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn a_header_serial_that_is_not_the_files_is_refused() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let reply = push(&node, &key(1), 9, &lvs_cf(5, 3)).await;
    assert_eq!(
        reply.line,
        "refused: the push says serial_no 9 but its lvs.cf says 5"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn oversize_pushes_are_refused_before_the_content_is_read() {
    let limits = Limits {
        max_content: 100,
        ..Limits::default()
    };
    let mut node = Node::start_with(Auth::Key(key(1)), 4, LOCALHOST, limits).await;
    let new = lvs_cf(5, 3);
    let reply = push(&node, &key(1), 5, &new).await;
    assert_eq!(
        reply.line,
        format!(
            "refused: lvs.cf of {} bytes, at most 100 are accepted",
            new.len()
        )
    );
    node.assert_unchanged(&reply);

    // At the default limit: a header declaring 16 MiB + 1, and nothing after it.
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let reply = sync::push_with(node.address, TIMEOUT, |hello| {
        let mut message = sync::encode_push(&key(1), hello.challenge, 5, b"");
        message.truncate(HEADER_LEN);
        message[40..48].copy_from_slice(&(sync::MAX_CONTENT + 1).to_be_bytes());
        message
    })
    .await
    .expect("an answer");
    assert_eq!(
        reply.line,
        "refused: lvs.cf of 16777217 bytes, at most 16777216 are accepted"
    );
    node.assert_unchanged(&reply);

    let local = sync::push(
        node.address,
        &key(1),
        5,
        &vec![b'#'; 16 * 1024 * 1024 + 1],
        TIMEOUT,
    )
    .await
    .expect_err("the pusher refuses too");
    assert!(local.to_string().contains("at most 16777216"), "{local}");
}

#[tokio::test]
async fn a_recorded_push_replayed_on_another_connection_is_refused() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let new = lvs_cf(5, 3);
    let mut recorded = Vec::new();
    let reply = sync::push_with(node.address, TIMEOUT, |hello| {
        recorded = sync::encode_push(&key(1), hello.challenge, 5, &new);
        recorded.clone()
    })
    .await
    .expect("an answer");
    assert!(reply.applied, "{reply}");
    node.receipts.recv().await.expect("receipt");

    // The operator rolls back to serial 4; the recording must not bring 5 back.
    std::fs::write(&node.lvs_cf, &node.original).expect("roll back");
    std::fs::remove_file(node.backup()).expect("remove backup");
    let reply = sync::push_with(node.address, TIMEOUT, |_| recorded.clone())
        .await
        .expect("an answer");
    assert_eq!(
        reply.line,
        "refused: the push answers another connection's challenge (a replayed push)"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn a_silent_pusher_times_out_and_is_told() {
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let mut node = Node::start_with(Auth::Key(key(1)), 4, LOCALHOST, limits).await;
    let mut stream = TcpStream::connect(node.address).await.expect("connect");
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("closed in time")
        .expect("read");
    let reply = Reply::parse(&String::from_utf8_lossy(&answer[sync::HELLO_LEN..]));
    assert_eq!(
        reply.line,
        "refused: timed out after 200ms waiting for the push"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test]
async fn garbage_is_named_as_not_a_push() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let reply = sync::push_with(node.address, TIMEOUT, |_| vec![b'G'; HEADER_LEN])
        .await
        .expect("an answer");
    assert!(
        reply.line.starts_with("refused: not a shoal sync push"),
        "{reply}"
    );
    node.assert_unchanged(&reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_simultaneous_pushes_of_one_serial_apply_once() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let new = lvs_cf(5, 3);
    let pair_key = key(1);
    let (a, b) = tokio::join!(
        push(&node, &pair_key, 5, &new),
        push(&node, &pair_key, 5, &new)
    );
    let mut lines = [a.line, b.line];
    lines.sort();
    assert_eq!(
        lines,
        [
            "applied serial_no 5".to_string(),
            "refused: same serial_no 5 as this node (identical file)".to_string()
        ]
    );
    assert_eq!(read(&node.lvs_cf), new);
    assert_eq!(node.receipts.recv().await.expect("receipt").serial_no, 5);
    assert!(node.receipts.try_recv().is_err(), "one receipt");
}

#[tokio::test]
async fn the_server_stops_when_the_daemon_drops_its_receipts() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let server = node.server.take().expect("serving");
    node.receipts = mpsc::channel(1).1;
    tokio::time::timeout(TIMEOUT, server)
        .await
        .expect("serve returns")
        .expect("no panic");
}

// ----------------------------------------------------------------------------------------
// shoal sync push

struct Pusher {
    dir: tempfile::TempDir,
    lvs_cf: PathBuf,
    settings: PathBuf,
}

fn pusher(serial: u64, key_byte: Option<u8>) -> Pusher {
    let dir = tempfile::tempdir().expect("temp dir");
    let lvs_cf = dir.path().join("lvs.cf");
    std::fs::write(&lvs_cf, lvs_cf_text(serial)).expect("lvs.cf");
    let key_file = dir.path().join("peer.key");
    if let Some(byte) = key_byte {
        std::fs::write(&key_file, vec![byte; 32]).expect("key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let settings = dir.path().join("shoal.toml");
    std::fs::write(
        &settings,
        format!(
            "[heartbeat]\nkey_file = {:?}\n",
            key_file.display().to_string()
        ),
    )
    .expect("shoal.toml");
    Pusher {
        dir,
        lvs_cf,
        settings,
    }
}

fn lvs_cf_text(serial: u64) -> Vec<u8> {
    lvs_cf(serial, 7)
}

async fn shoal_sync_push(pusher: &Pusher, extra: Vec<String>) -> std::process::Output {
    let mut command = std::process::Command::new(SHOAL);
    command
        .args(["sync", "push", "-c"])
        .arg(&pusher.lvs_cf)
        .arg("--settings")
        .arg(&pusher.settings)
        .args(extra)
        .current_dir(pusher.dir.path());
    tokio::task::spawn_blocking(move || command.output().expect("shoal runs"))
        .await
        .expect("joined")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn shoal_sync_push_applies_the_file_at_the_named_peer() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let pusher = pusher(5, Some(1));
    let port = node.address.port().to_string();

    let output = shoal_sync_push(
        &pusher,
        vec!["--to".into(), "127.0.0.1".into(), "--port".into(), port],
    )
    .await;

    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("{}: applied serial_no 5\n", node.address)
    );
    assert_eq!(read(&node.lvs_cf), read(&pusher.lvs_cf));
    assert_eq!(read(&node.backup()), node.original);
    assert_eq!(node.receipts.recv().await.expect("receipt").serial_no, 5);
}

#[tokio::test]
async fn shoal_sync_push_goes_to_the_backup_from_the_primary_by_default() {
    // lvs.cf: primary 127.0.0.1 (this host's lo), backup 127.0.0.2.
    let backup = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut node = Node::start_with(Auth::Key(key(1)), 4, backup, Limits::default()).await;
    let pusher = pusher(6, Some(1));

    let output = shoal_sync_push(
        &pusher,
        vec!["--port".into(), node.address.port().to_string()],
    )
    .await;

    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("127.0.0.2:{}: applied serial_no 6\n", node.address.port())
    );
    assert_eq!(read(&node.lvs_cf), read(&pusher.lvs_cf));
    assert_eq!(node.receipts.recv().await.expect("receipt").serial_no, 6);
}

#[tokio::test]
async fn shoal_sync_push_reports_a_refusal_and_fails() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let pusher = pusher(3, Some(1));
    let port = node.address.port().to_string();

    let output = shoal_sync_push(
        &pusher,
        vec!["--to".into(), "127.0.0.1".into(), "--port".into(), port],
    )
    .await;

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!(
            "shoal: {}: refused: older serial_no 3, this node has 4\n",
            node.address
        )
    );
    node.assert_untouched();
}

#[tokio::test]
async fn shoal_sync_push_refuses_to_send_without_a_key() {
    let mut node = Node::start(Auth::Key(key(1)), 4).await;
    let pusher = pusher(5, None);
    let port = node.address.port().to_string();

    let output = shoal_sync_push(
        &pusher,
        vec!["--to".into(), "127.0.0.1".into(), "--port".into(), port],
    )
    .await;

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("shoal: sync push: no peer key at "),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
    node.assert_untouched();
}

#[tokio::test]
async fn shoal_sync_push_refuses_to_send_an_invalid_file() {
    let pusher = pusher(5, Some(1));
    let broken = text(&read(&pusher.lvs_cf)).replace("port = 80", "port = eighty");
    std::fs::write(&pusher.lvs_cf, broken).expect("write");

    let output = shoal_sync_push(
        &pusher,
        vec![
            "--to".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "9".into(),
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("is invalid, not pushed"), "{stderr}");
    assert!(stderr.contains(":10:"), "{stderr}");
}
