//! Saving a changed model over lvs.cf: serial_no, conflicts, refusal of invalid
//! configurations, the backup, and an untouched file whenever saving fails.

use std::path::PathBuf;

use shoal::config::resolve::StaticResolver;
use shoal::config::write::{SaveError, save};
use shoal::config::{self, KernelFeatures, Loaded};

const FILE: &str = "# managed by hand and by shoal\nserial_no = 7\nprimary = 192.0.2.1\n\n# web\nvirtual web {\n    active = 1\n    address = 192.0.2.10 eth0:1\n    server a {\n        address = 198.51.100.11\n        active = 1\n    }\n}\n";

fn setup() -> (tempfile::TempDir, PathBuf, Loaded) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lvs.cf");
    std::fs::write(&path, FILE).expect("write");
    let loaded = config::load_file(
        &path,
        &StaticResolver::default(),
        &KernelFeatures::unknown(),
    )
    .expect("loads");
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    (dir, path, loaded)
}

fn save_change(
    path: &std::path::Path,
    loaded: &Loaded,
    change: impl FnOnce(&mut config::Config),
) -> Result<Loaded, SaveError> {
    let mut new = loaded.config.clone();
    change(&mut new);
    save(
        path,
        loaded,
        &new,
        &StaticResolver::default(),
        &KernelFeatures::unknown(),
    )
}

#[test]
fn a_save_increments_the_serial_keeps_comments_and_a_backup() {
    let (_dir, path, loaded) = setup();
    let saved = save_change(&path, &loaded, |c| {
        c.virtual_servers[0].servers[0].weight = 5
    })
    .expect("saves");
    let written = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        written,
        FILE.replace("serial_no = 7", "serial_no = 8")
            .replace("active = 1\n    }", "active = 1\n        weight = 5\n    }")
    );
    assert_eq!(saved.config.global.serial_no, 8);
    assert_eq!(
        std::fs::read_to_string(path.with_file_name("lvs.cf.bak")).expect("backup"),
        FILE
    );
    let again =
        save_change(&path, &saved, |c| c.virtual_servers[0].active = false).expect("saves again");
    assert_eq!(again.config.global.serial_no, 9);
}

#[test]
fn a_file_changed_since_loading_is_a_conflict_and_stays_as_it_is() {
    let (_dir, path, loaded) = setup();
    let theirs = FILE.replace("serial_no = 7", "serial_no = 8");
    std::fs::write(&path, &theirs).expect("someone else writes");
    match save_change(&path, &loaded, |c| c.virtual_servers[0].active = false) {
        Err(SaveError::Conflict {
            loaded,
            on_disk,
            current,
            ..
        }) => {
            assert_eq!((loaded, on_disk), (7, 8));
            assert_eq!(current, theirs.as_bytes());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).expect("read"), theirs);
}

#[test]
fn an_invalid_configuration_is_never_written() {
    let (_dir, path, loaded) = setup();
    let result = save_change(&path, &loaded, |c| {
        let copy = c.virtual_servers[0].clone();
        c.virtual_servers.push(copy);
    });
    let Err(SaveError::Invalid(diagnostics)) = result else {
        panic!("expected refusal, got {result:?}");
    };
    assert!(
        diagnostics
            .iter()
            .any(|d| d.is_error() && d.message.contains("used twice"))
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
    assert!(!path.with_file_name("lvs.cf.bak").exists());
}

#[test]
fn a_model_lvs_cf_cannot_express_is_refused() {
    let (_dir, path, loaded) = setup();
    let result = save_change(&path, &loaded, |c| {
        c.virtual_servers[0].name = "two words".into()
    });
    assert!(
        matches!(result, Err(SaveError::Unwritable(_))),
        "{result:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
}
