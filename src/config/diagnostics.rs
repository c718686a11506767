//! Errors and warnings about an lvs.cf, each naming its line and column.

use std::fmt;

use serde::Serialize;

/// Whether a problem stops the file from being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is refused.
    Error,
    /// The file is used, but an administrator should look.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem, placed so an editor can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line; 0 for the file as a whole.
    pub line: usize,
    /// 1-based column in characters; 0 when the line as a whole is meant.
    pub column: usize,
    /// The keyword concerned, when there is one.
    pub keyword: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Diagnostic {
    /// An error at a place.
    pub fn error(
        line: usize,
        column: usize,
        keyword: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, line, column, keyword, message)
    }

    /// A warning at a place.
    pub fn warning(
        line: usize,
        column: usize,
        keyword: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, line, column, keyword, message)
    }

    fn new(
        severity: Severity,
        line: usize,
        column: usize,
        keyword: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            line,
            column,
            keyword: keyword.map(str::to_string),
            message: message.into(),
        }
    }

    /// Whether this one refuses the file.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col: error: message`, the form compilers use and editors understand.
    pub fn render(&self, file: &str) -> String {
        match (self.line, self.column) {
            (0, _) => format!("{file}: {}: {}", self.severity, self.message),
            (line, 0) => format!("{file}:{line}: {}: {}", self.severity, self.message),
            (line, column) => format!(
                "{file}:{line}:{column}: {}: {}",
                self.severity, self.message
            ),
        }
    }
}

/// In file order (line, then column), so a reader can walk the file top to bottom;
/// a finding about the file as a whole (line 0) comes first when it is an error and
/// last when it is a warning.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line == 0 && !d.is_error(), d.line, d.column));
}
