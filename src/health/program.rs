//! `send_program`: an administrator's own check command.
//!
//! As Piranha's nanny: `%h` becomes the real server's address and `%p` its port, the
//! command is split on spaces into argv and run without a shell, and its standard output
//! (at most 4095 bytes) must equal `expect`. Unlike Piranha, which dropped the last
//! character whatever it was, only a trailing newline is removed, so a program that
//! prints `OK` without one still compares as `OK`. Without `expect`, the exit status
//! decides (0 passes), which Piranha had no answer for.
//!
//! The program runs in a process group of its own, and the whole group is killed when
//! the probe ends or times out, so neither the program nor anything it started outlives
//! the probe (a child that leaves the group with `setsid` is beyond reach). Output past
//! 4095 bytes fails the probe at once: a program flooding its output neither stalls the
//! probe nor takes memory.

use std::process::Stdio;

use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout, Command};

use super::Target;
use super::check::{Outcome, ProbeError, Progress};
use super::expect::show;

/// The most output compared, as Piranha's nanny read it.
pub const OUTPUT_LIMIT: usize = 4095;

/// A `send_program` check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProgramCheck {
    /// The command line, with `%h` and `%p` not yet substituted.
    pub command: String,
    /// What the output must equal; `None` to judge by the exit status.
    pub expect: Option<String>,
}

/// The argv of `command` for `target`: split on spaces (runs of them count as one), then
/// `%h` and `%p` replaced in every word.
pub fn argv(command: &str, target: Target) -> Vec<String> {
    let host = target.address.to_string();
    let port = target.port.to_string();
    command
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(|word| word.replace("%h", &host).replace("%p", &port))
        .collect()
}

/// Runs the program for `target` and judges its output.
pub async fn probe(check: &ProgramCheck, target: Target, progress: &Progress) -> Outcome {
    let argv = argv(&check.command, target);
    let Some((program, args)) = argv.split_first() else {
        return Err(ProbeError::Config("send_program is empty".to_string()));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProbeError::Config(format!("cannot run '{program}': {e}")))?;
    // Declared after the child, so dropped first: the group dies before the leader is
    // killed and reaped by tokio, even when the timeout drops this future.
    let _group = child.id().map(ProcessGroup);
    progress.note(format!("running {program}"));
    let stdout = child.stdout.take();
    let output = match stdout {
        Some(stdout) => read_output(stdout).await?,
        None => Vec::new(),
    };
    progress.note(format!(
        "{program} closed its output, waiting for it to exit"
    ));
    judge(check, &mut child, &output).await
}

async fn read_output(mut stdout: ChildStdout) -> Result<Vec<u8>, ProbeError> {
    let mut output = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stdout
            .read(&mut chunk)
            .await
            .map_err(|e| ProbeError::io("read the program's output", e))?;
        if n == 0 {
            return Ok(output);
        }
        if output.len() + n > OUTPUT_LIMIT {
            return Err(ProbeError::Mismatch(format!(
                "more than {OUTPUT_LIMIT} bytes of output: {}",
                show(&output)
            )));
        }
        output.extend_from_slice(&chunk[..n]);
    }
}

async fn judge(check: &ProgramCheck, child: &mut Child, output: &[u8]) -> Outcome {
    let output = output.strip_suffix(b"\n").unwrap_or(output);
    match &check.expect {
        Some(expect) if output == expect.as_bytes() => Ok(format!("printed {}", show(output))),
        Some(expect) => Err(ProbeError::Mismatch(format!(
            "printed {}, expected {}",
            show(output),
            show(expect.as_bytes())
        ))),
        None => {
            let status = child
                .wait()
                .await
                .map_err(|e| ProbeError::io("wait for the program", e))?;
            if status.success() {
                Ok(format!("exited 0, printed {}", show(output)))
            } else {
                Err(ProbeError::Mismatch(format!(
                    "{status}, printed {}",
                    show(output)
                )))
            }
        }
    }
}

/// Kills a process group when dropped: the program and whatever it started.
#[derive(Debug)]
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Ok(group) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH,
        // which is fine. The id cannot name another group: the kernel does not reuse a
        // process id while a group of that id has members, and the leader itself is
        // reaped only after this guard runs (or, judging by exit status, a moment
        // before, with no other child of ours started in between).
        unsafe {
            libc::killpg(group, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_split_on_spaces_and_substituted() {
        let target = Target {
            address: "2001:db8::1".parse().expect("literal"),
            port: 8080,
        };
        assert_eq!(
            argv("/usr/bin/check  -H %h:%p --x=%p%%h", target),
            vec![
                "/usr/bin/check",
                "-H",
                "2001:db8::1:8080",
                "--x=8080%2001:db8::1"
            ]
        );
        assert!(argv("   ", target).is_empty());
    }
}
