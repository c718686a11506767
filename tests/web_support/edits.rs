//! What an edit through the UI must have done to lvs.cf, for the HTTP and the browser
//! tests alike: exactly the expected lines removed and added (plus the serial's
//! increment), every comment kept, and a file that `shoal check` accepts.

use std::path::Path;
use std::process::Command;

/// The lines removed (`-`) and added (`+`) from `before` to `after`, in file order
/// (a longest-common-subsequence line diff; in a changed stretch the removed lines come
/// first).
pub fn diff(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(format!("+{}", b[j]));
            j += 1;
        } else {
            out.push(format!("-{}", a[i]));
            i += 1;
        }
    }
    out
}

/// The comment lines of a file, in order.
pub fn comments(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect()
}

/// Panics unless `shoal check` accepts the file.
pub fn check_passes(lvs_cf: &Path) {
    let output = Command::new(super::shoal_binary())
        .arg("check")
        .arg(lvs_cf)
        .env("NO_COLOR", "1")
        .output()
        .expect("shoal check");
    assert!(
        output.status.success(),
        "shoal check: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that the file at `lvs_cf`, which was `before`, changed by exactly
/// `expected` (diff lines in file order) and by `serial_no` going from `serial.0` to
/// `serial.1`, kept its comments and passes `shoal check`.
pub fn assert_changed(lvs_cf: &Path, before: &str, serial: (u64, u64), expected: &[&str]) {
    let after = std::fs::read_to_string(lvs_cf).expect("lvs.cf");
    let mut got = diff(before, &after);
    // The serial's line pair comes first in the file; compare the rest in order.
    got.retain(|l| !l.contains("serial_no"));
    assert_eq!(got, expected, "the change, and only it");
    assert!(
        after.contains(&format!("\nserial_no = {}\n", serial.1))
            && before.contains(&format!("\nserial_no = {}\n", serial.0)),
        "serial_no raised from {} to {}",
        serial.0,
        serial.1
    );
    assert_eq!(comments(before), comments(&after), "comments kept");
    check_passes(lvs_cf);
}

#[test]
fn the_diff_names_removed_and_added_lines_in_order() {
    assert_eq!(diff("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n"), ["-b", "+B", "+e"]);
    assert!(diff("same\n", "same\n").is_empty());
}
