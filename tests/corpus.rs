//! Every real-world lvs.cf in the shared corpus: shoal's verdict must equal the one
//! Piranha 0.8.6's own parser gave (`.expect`), except for the deliberate differences
//! listed here and in docs/lvs-cf.md; and every accepted file must round-trip.

mod common;

use std::path::PathBuf;

use shoal::config::{self, model::Config};

/// Files where shoal's verdict differs from Piranha's on purpose, with shoal's verdict.
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "11-trailing-comments",
        "accept",
        "trailing '# comment' accepted with a warning",
    ),
    (
        "29-bad-scheduler-sed",
        "accept",
        "sed is a shoal scheduler extension",
    ),
    (
        "30-bad-protocol-sctp",
        "accept",
        "sctp is a shoal protocol extension",
    ),
];

fn corpus() -> Vec<PathBuf> {
    let dir = common::shared_dir().join("corpus/lvs.cf");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "cf"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 39,
        "corpus incomplete: {} files",
        files.len()
    );
    files
}

/// `accept` or `reject LINE` from an `.expect` file's first line.
fn piranha_verdict(cf: &std::path::Path) -> String {
    let expect = std::fs::read_to_string(cf.with_extension("expect")).expect("expect file");
    let first = expect.lines().next().unwrap_or_default();
    match first.strip_prefix("reject ") {
        Some(rest) => format!("reject {}", rest.split(':').next().unwrap_or_default()),
        None => first.trim().to_string(),
    }
}

fn shoal_verdict(loaded: &config::Loaded) -> String {
    match loaded.diagnostics.iter().find(|d| d.is_error()) {
        Some(error) => format!("reject {}", error.line),
        None => "accept".to_string(),
    }
}

#[test]
fn verdicts_match_piranha_except_deliberate_differences() {
    let resolver = common::corpus_resolver();
    let mut mismatches = Vec::new();
    for cf in corpus() {
        let stem = cf
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let bytes = std::fs::read(&cf).expect("corpus file");
        let loaded = config::check(&bytes, &resolver, &config::KernelFeatures::unknown());
        let ours = shoal_verdict(&loaded);
        let wanted = DELIBERATE
            .iter()
            .find(|(name, _, _)| *name == stem)
            .map(|(_, verdict, _)| verdict.to_string())
            .unwrap_or_else(|| piranha_verdict(&cf));
        let rendered: Vec<String> = loaded.diagnostics.iter().map(|d| d.render(&stem)).collect();
        println!(
            "{stem}: piranha {} shoal {ours}\n  {}",
            piranha_verdict(&cf),
            rendered.join("\n  ")
        );
        if ours != wanted {
            mismatches.push(format!(
                "{stem}: wanted {wanted}, shoal said {ours}: {rendered:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn accepted_files_round_trip_byte_for_byte_and_model_for_model() {
    let resolver = common::corpus_resolver();
    for cf in corpus() {
        let bytes = std::fs::read(&cf).expect("corpus file");
        let loaded = config::check(&bytes, &resolver, &config::KernelFeatures::unknown());
        if loaded.has_errors() {
            continue;
        }
        let name = cf.display();
        let unchanged =
            config::write::update(&loaded.document, &loaded.config, &loaded.config, &resolver)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            unchanged, bytes,
            "{name}: an unchanged model must give the same bytes"
        );
        let fresh = config::write::render(&loaded.config, &resolver)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let reparsed: Config = config::parse::parse(&fresh, &resolver).config;
        assert_eq!(
            reparsed, loaded.config,
            "{name}: written from scratch, parsed again"
        );
    }
}
