//! Where `shoal run` and `shoal web` log (SPEC 8): to journald, with the virtual and real
//! server names as fields (`journalctl SHOAL_VIRTUAL_SERVER=http`), when systemd started
//! them with their stderr on the journal; otherwise lines on stderr, as text or, with
//! `[log] format = "json"`, one JSON object a line.
//!
//! journald is used only when its socket exists *and* `JOURNAL_STREAM` says stderr is the
//! journal (systemd sets it for a unit's processes): an operator running `shoal run` in a
//! terminal, or a test reading its stderr, on a machine with journald, sees the lines
//! where they expect them. An explicit `json` format is kept under systemd too (the lines
//! reach the journal through stderr), for collectors that parse them.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::settings::LogFormat;

/// journald's native protocol socket.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// journald's native protocol: priority and fields kept.
    Journald,
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object a line on stderr.
    Json,
}

/// Chooses the target from the configured format and what the process finds around it:
/// whether journald's socket exists and whether stderr is already the journal.
pub fn log_target(format: LogFormat, journald_socket: bool, stderr_is_journal: bool) -> LogTarget {
    match format {
        LogFormat::Json => LogTarget::Json,
        LogFormat::Text if journald_socket && stderr_is_journal => LogTarget::Journald,
        LogFormat::Text => LogTarget::Text,
    }
}

/// Whether `JOURNAL_STREAM` (`DEVICE:INODE`) names this process's stderr, as systemd
/// sets it when a unit's stderr is connected to the journal.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let stderr = std::io::stderr();
    let Ok(fd) = std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| names_file(&stream, &m))
}

/// Whether a `JOURNAL_STREAM` value is the device and inode of `file`.
fn names_file(stream: &std::ffi::OsStr, file: &std::fs::Metadata) -> bool {
    let Some((device, inode)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    device.parse() == Ok(file.dev()) && inode.parse() == Ok(file.ino())
}

/// Installs the process's log subscriber (once; later calls are ignored). `SHOAL_LOG`
/// filters as `RUST_LOG` does; the default is `info`.
pub fn init(format: LogFormat) {
    let target = log_target(
        format,
        Path::new(JOURNALD_SOCKET).exists(),
        stderr_is_journal(),
    );
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    // Colours for a person at a terminal only, not in a file or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = || {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
    };
    let _ = match target {
        LogTarget::Journald => match tracing_journald::layer() {
            Ok(layer) => {
                // syslog's levels, as Piranha logged: info lines are informational (6),
                // so `journalctl -p notice` shows the warnings and errors alone.
                let priorities = PriorityMappings {
                    info: Priority::Informational,
                    debug: Priority::Debug,
                    ..PriorityMappings::new()
                };
                let layer = layer
                    .with_field_prefix(Some("SHOAL".into()))
                    .with_syslog_identifier("shoal".into())
                    .with_priority_mappings(priorities);
                tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .try_init()
                    .map_err(|e| e.to_string())
            }
            Err(e) => {
                // The journal still gets these lines, through stderr.
                eprintln!("shoal: cannot log to journald ({e}); logging to stderr");
                stderr().try_init().map_err(|e| e.to_string())
            }
        },
        LogTarget::Text => stderr().try_init().map_err(|e| e.to_string()),
        LogTarget::Json => stderr().json().try_init().map_err(|e| e.to_string()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_only_when_its_socket_exists_and_stderr_is_the_journal() {
        use LogFormat::{Json, Text};
        assert_eq!(log_target(Text, true, true), LogTarget::Journald);
        assert_eq!(log_target(Text, false, true), LogTarget::Text);
        assert_eq!(log_target(Text, true, false), LogTarget::Text);
        assert_eq!(log_target(Text, false, false), LogTarget::Text);
        assert_eq!(log_target(Json, true, true), LogTarget::Json);
        assert_eq!(log_target(Json, false, false), LogTarget::Json);
    }

    #[test]
    fn a_journal_stream_names_one_file_by_device_and_inode() {
        let root = std::fs::metadata("/").unwrap();
        let ours = format!("{}:{}", root.dev(), root.ino());
        assert!(names_file(ours.as_ref(), &root));
        let tmp = tempfile::tempfile().unwrap().metadata().unwrap();
        assert!(!names_file(ours.as_ref(), &tmp));
        let same_inode_elsewhere = format!("{}:{}", root.dev() + 1, root.ino());
        assert!(!names_file(same_inode_elsewhere.as_ref(), &root));
        assert!(!names_file("garbage".as_ref(), &root));
        assert!(!names_file("".as_ref(), &root));
    }
}
