//! A reload re-reads only the blocks an edit touched (`Loaded::update`); whatever the
//! edit, the result must be exactly what a full check of the new file gives, and an
//! invalid edit must leave the running version as it was.

mod common;

use proptest::prelude::*;
use shoal::config::incremental::Change;
use shoal::config::resolve::StaticResolver;
use shoal::config::{KernelFeatures, Loaded, check};

fn corpus() -> Vec<Vec<u8>> {
    let dir = common::shared_dir().join("corpus/lvs.cf");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .collect();
    files.sort();
    let mut texts: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    texts.push(generated(6).into_bytes());
    texts
}

fn generated(services: u32) -> String {
    let mut text = String::from("serial_no = 1\nprimary = 192.0.2.1\nnetwork = nat\n");
    for s in 0..services {
        text.push_str(&format!(
            "virtual vs{s} {{\n  active = 1\n  address = 192.0.2.{} eth0:1\n  port = 80\n  scheduler = wlc\n  \
             server a {{\n    address = 198.51.100.1\n    active = 1\n    weight = 1\n  }}\n  \
             server b {{\n    address = 198.51.100.2\n    active = 1\n  }}\n}}\n",
            s + 10
        ));
    }
    text
}

fn checked(bytes: &[u8]) -> Loaded {
    check(
        bytes,
        &common::corpus_resolver(),
        &KernelFeatures::unknown(),
    )
}

/// Applies `new` to `running` and compares with a full check of `new`.
fn update_matches_full_check(running: &mut Loaded, new: &[u8]) -> Result<Change, ()> {
    let before = running.clone();
    let full = checked(new);
    match running.update(
        new.to_vec(),
        &common::corpus_resolver(),
        &KernelFeatures::unknown(),
    ) {
        Ok(change) => {
            assert!(!full.has_errors(), "an invalid file was taken");
            assert_same(running, &full);
            Ok(change)
        }
        Err(refused) => {
            assert!(full.has_errors());
            assert_same(&refused, &full);
            assert_same(running, &before);
            Err(())
        }
    }
}

/// Field by field, so a failure says which part differs without printing two files.
fn assert_same(got: &Loaded, want: &Loaded) {
    assert_eq!(got.diagnostics, want.diagnostics, "diagnostics");
    assert_eq!(got.spans, want.spans, "spans");
    assert!(got.config == want.config, "config differs");
    assert!(got.document == want.document, "document differs");
    assert!(got.source == want.source, "source differs");
    assert!(got == want, "outline or findings differ");
}

const SNIPPETS: &[&str] = &[
    "",
    "\n",
    "\r\n",
    "\r",
    "# a comment\n",
    "  weight = 7\n",
    "    weight = 3\n",
    "    active = 0\n",
    "  port = 8080\n",
    "  active = 0\n",
    "}\n",
    "{",
    "virtual",
    "x",
    "9",
    "serial_no = 9\n",
    "virtual extra {\n  address = 192.0.2.77 eth0:1\n  port = 81\n  active = 1\n  server s1 {\n    address = 198.51.100.9\n    active = 1\n  }\n}\n",
    "virtual vs1 {\n  address = 192.0.2.78 eth0:1\n  active = 1\n}\n",
    "virtual dup {\n  address = 192.0.2.10 eth0:1\n  port = 80\n  active = 1\n}\n",
    "failover f {\n  address = 192.0.2.90 eth0:1\n  port = 22\n}\n",
    "  server c {\n    address = 198.51.100.3\n    active = 1\n  }\n",
];

/// One edit: at a fraction of the file (optionally moved to a line start), delete some
/// bytes and insert a snippet.
#[derive(Debug, Clone)]
struct Edit {
    at: f64,
    line_start: bool,
    delete: usize,
    snippet: usize,
}

fn apply(bytes: &[u8], edit: &Edit) -> Vec<u8> {
    let mut at = ((bytes.len() as f64) * edit.at) as usize;
    if edit.line_start {
        while at > 0 && bytes[at - 1] != b'\n' {
            at -= 1;
        }
    }
    let end = (at + edit.delete).min(bytes.len());
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(SNIPPETS[edit.snippet].as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0.0..1.0f64,
        any::<bool>(),
        prop_oneof![Just(0usize), 0..200usize],
        0..SNIPPETS.len(),
    )
        .prop_map(|(at, line_start, delete, snippet)| Edit {
            at,
            line_start,
            delete,
            snippet,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn a_run_of_edits_gives_what_a_full_check_gives(file in 0..40usize, edits in prop::collection::vec(edit(), 1..5)) {
        let files = corpus();
        let mut bytes = files[file % files.len()].clone();
        let mut running = checked(&bytes);
        for edit in &edits {
            let new = apply(&bytes, edit);
            if update_matches_full_check(&mut running, &new).is_ok() {
                bytes = new;
            }
        }
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> Vec<u8> {
    let at = text.find(from).expect("text to replace");
    format!("{}{to}{}", &text[..at], &text[at + from.len()..]).into_bytes()
}

#[test]
fn a_weight_change_rereads_one_block() {
    let text = generated(50);
    let mut running = checked(text.as_bytes());
    let new = replace_once(
        &text,
        "address = 192.0.2.30 eth0:1\n  port = 80\n  scheduler = wlc\n  server a {\n    address = 198.51.100.1\n    active = 1\n    weight = 1",
        "address = 192.0.2.30 eth0:1\n  port = 80\n  scheduler = wlc\n  server a {\n    address = 198.51.100.1\n    active = 1\n    weight = 5",
    );
    let change = update_matches_full_check(&mut running, &new).expect("valid");
    let Change::Virtual { at, removed, added } = change else {
        panic!("a whole-file check for one weight: {change:?}");
    };
    assert_eq!((at, removed.len(), added), (20, 1, 1));
    assert_eq!(removed[0].servers[0].weight, 1);
    assert_eq!(running.config.virtual_servers[20].servers[0].weight, 5);
}

#[test]
fn adding_and_removing_blocks_rereads_only_them() {
    let text = generated(5);
    let mut running = checked(text.as_bytes());
    let added = format!("{text}{}", SNIPPETS[16]);
    let change = update_matches_full_check(&mut running, added.as_bytes()).expect("valid");
    assert!(
        matches!(change, Change::Virtual { at: 5, added: 1, ref removed } if removed.is_empty()),
        "{change:?}"
    );
    let change = update_matches_full_check(&mut running, text.as_bytes()).expect("valid");
    assert!(
        matches!(change, Change::Virtual { at: 5, added: 0, ref removed } if removed.len() == 1),
        "{change:?}"
    );
    let middle = replace_once(
        &text,
        "virtual vs2 {",
        &format!("{}virtual vs2 {{", SNIPPETS[16]),
    );
    let change = update_matches_full_check(&mut running, &middle).expect("valid");
    assert!(
        matches!(change, Change::Virtual { at: 2, added: 2, ref removed } if removed.len() == 1),
        "{change:?}"
    );
    assert_eq!(running.config.virtual_servers[2].name, "extra");
}

#[test]
fn a_global_change_or_a_bad_edit_is_checked_whole() {
    let text = generated(5);
    let mut running = checked(text.as_bytes());
    let change = update_matches_full_check(
        &mut running,
        &replace_once(&text, "serial_no = 1", "serial_no = 2"),
    )
    .expect("valid");
    assert!(matches!(change, Change::Whole), "{change:?}");
    let duplicate = replace_once(&text, "virtual vs3 {", "virtual vs1 {");
    assert!(update_matches_full_check(&mut running, &duplicate).is_err());
    let same_service = replace_once(&text, "192.0.2.13 eth0:1", "192.0.2.12 eth0:1");
    assert!(update_matches_full_check(&mut running, &same_service).is_err());
    assert!(matches!(
        running.update(
            text.clone().into_bytes(),
            &StaticResolver::default(),
            &KernelFeatures::unknown()
        ),
        Ok(Change::Whole)
    ));
}
