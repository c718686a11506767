//! `shoal check` as an administrator runs it: output, summary and exit codes.

use assert_cmd::Command;

fn shoal() -> Command {
    Command::cargo_bin("shoal").expect("the shoal binary is built")
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), text).expect("write");
    file
}

#[test]
fn the_sample_is_valid_with_a_one_line_summary() {
    let out = shoal().args(["check", "etc/lvs.cf"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        stdout,
        "etc/lvs.cf: 2 virtual servers, 5 real servers, 0 warnings\n"
    );
}

#[test]
fn an_invalid_file_exits_1_naming_line_and_column() {
    let file = write_temp("primary = 192.0.2.1\nvirtual web {\n  adress = 192.0.2.10 eth0:1\n}\n");
    let path = file.path().display().to_string();
    let out = shoal().arg("check").arg(file.path()).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        stdout,
        format!(
            "{path}:3:3: error: unknown command 'adress' (did you mean 'address'?)\n\
             {path}: invalid, 1 error, 1 virtual server, 0 real servers, 0 warnings\n"
        )
    );
}

#[test]
fn warnings_do_not_fail_the_check() {
    let file = write_temp("primary = 192.0.2.1\nheartbeat = 1\n");
    let out = shoal().arg("check").arg(file.path()).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.ends_with(": 0 virtual servers, 0 real servers, 1 warning\n"),
        "{stdout}"
    );
}

#[test]
fn an_unreadable_file_exits_2_with_the_cause_on_stderr() {
    let out = shoal()
        .args(["check", "/nonexistent/lvs.cf"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(
        stderr,
        "shoal: cannot read /nonexistent/lvs.cf: No such file or directory (os error 2)\n"
    );
}

#[test]
fn json_output_carries_every_diagnostic() {
    let file = write_temp("primary = 192.0.2.1 192.0.2.2\nbackup_active = yes\n");
    let out = shoal()
        .arg("check")
        .arg(file.path())
        .args(["--format", "json"])
        .assert()
        .code(1);
    let report: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("valid JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 2);
    let lines: Vec<(u64, u64)> = report["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(lines, [(1, 21), (2, 17)]);
    assert_eq!(report["diagnostics"][1]["keyword"], "backup_active");
}
