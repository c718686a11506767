//! Piranha's `lvs.cf`: the one file that describes the load balancer.
//!
//! `lexer` cuts lines into tokens, `keywords` declares every keyword once, `values`
//! reads and writes their values, `parse` builds the typed `model` and the lossless
//! `document`, `validate` finds what a careful administrator would want to know before
//! deploying, and `write` puts a changed model back into the file without losing a
//! byte of what it did not change, through `atomic`.

pub mod atomic;
pub mod diagnostics;
pub mod document;
pub mod incremental;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod reference;
pub mod resolve;
pub mod settings;
pub mod validate;
pub mod values;
pub mod write;

use std::path::Path;

pub use diagnostics::{Diagnostic, Severity};
pub use model::Config;
pub use validate::KernelFeatures;

/// A checked lvs.cf: what the rest of shoal works from, and what the writer needs to
/// put a change back into the same file.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The typed model.
    pub config: Config,
    /// The file as written.
    pub document: document::Document,
    /// Where each value was set.
    pub spans: parse::Spans,
    /// Parse and validation findings, in file order (see [`diagnostics::sort`]).
    pub diagnostics: Vec<Diagnostic>,
    /// The bytes it was read from, to detect concurrent edits before a write.
    pub source: Vec<u8>,
    /// Where each top-level item starts, so a reload can re-read only what changed.
    outline: incremental::Outline,
    /// The parser's findings alone.
    parse_findings: Vec<Diagnostic>,
    /// Validation's findings, kept apart per virtual server (empty after parse errors).
    findings: validate::Findings,
}

impl Loaded {
    /// Whether the file must be refused.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// How many findings of one severity there are.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// Parses and, when the file is well formed, validates it. Semantic checks run only on
/// a well-formed file, so a skipped line never causes a misleading follow-up error.
pub fn check(bytes: &[u8], resolver: &dyn resolve::Resolver, kernel: &KernelFeatures) -> Loaded {
    let parsed = parse::parse(bytes, resolver);
    let findings = match parsed.has_errors() {
        true => validate::Findings::default(),
        false => validate::validate_parts(&parsed.config, &parsed.spans, kernel),
    };
    let mut loaded = Loaded {
        outline: incremental::Outline::of(&parsed.document.items),
        config: parsed.config,
        document: parsed.document,
        spans: parsed.spans,
        diagnostics: Vec::new(),
        source: bytes.to_vec(),
        parse_findings: parsed.diagnostics,
        findings,
    };
    loaded.diagnostics = loaded.assemble_diagnostics();
    loaded
}

impl Loaded {
    /// Every finding in file order: the parser's, then validation's, as one list.
    fn assemble_diagnostics(&self) -> Vec<Diagnostic> {
        let mut all = self.parse_findings.clone();
        all.extend(self.findings.whole_file.iter().cloned());
        all.extend(self.findings.per_virtual.iter().flatten().cloned());
        diagnostics::sort(&mut all);
        all
    }
}

/// Reads and checks a file.
pub fn load_file(
    path: &Path,
    resolver: &dyn resolve::Resolver,
    kernel: &KernelFeatures,
) -> std::io::Result<Loaded> {
    std::fs::read(path).map(|bytes| check(&bytes, resolver, kernel))
}
