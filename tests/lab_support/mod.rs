//! Helpers for the kernel tests (`tests/kernel_*.rs`), which run only inside the lab VM
//! (`scripts/lab-tests.sh` boots Debian's kernel under qemu and runs them there with
//! `--ignored`). Include it with `mod lab_support;` and mark each test
//! `#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]`.

#![allow(dead_code)]

use std::process::Command;

/// Runs `f` on a new thread that has its own, fresh network namespace, and returns what
/// it returns. The namespace has only `lo`, which is brought up first: IPVS refuses to add
/// a real server (EINVAL, "address not unicast") in a namespace whose `lo` is down.
///
/// Network namespaces belong to threads, and child processes inherit the namespace of the
/// thread that spawns them, so [`run`] called inside `f` works on the new namespace. The
/// namespace disappears when the thread ends (nothing is left behind in `ip netns list`).
pub fn in_fresh_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: unshare only changes this thread's namespace membership.
                let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "unshare(CLONE_NEWNET): {}",
                    std::io::Error::last_os_error()
                );
                run("ip", &["link", "set", "lo", "up"]);
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs a program and returns its standard output; panics with the command line, the
/// exit status and standard error when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let output = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    let line = format!("{cmd} {}", args.join(" "));
    assert!(
        output.status.success(),
        "`{line}` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("`{line}`: output not UTF-8: {e}"))
}

/// Runs a snippet with the demo's shell functions (tests/lab/demo.sh) in a fresh
/// director namespace, `$SHOAL` naming the crate's binary, and returns its output; panics
/// with the output when it fails. The `EXIT` trap stops shoal and removes the client and
/// real server namespaces however the snippet ends; the director's own devices go with
/// its namespace when the thread ends.
pub fn demo(snippet: &str) -> String {
    in_fresh_netns(|| {
        let script = format!(". /lab/prelude.sh; . /lab/demo.sh; trap demo_stop EXIT; {snippet}");
        let output = Command::new("sh")
            .args(["-c", &script])
            // Tests know the crate's binary; examples that include this file use PATH's.
            .env(
                "SHOAL",
                option_env!("CARGO_BIN_EXE_shoal").unwrap_or("shoal"),
            )
            .output()
            .expect("sh runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{text}");
        text
    })
}
