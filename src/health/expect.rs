//! Piranha's `expect`: what a reply must look like, and reading a reply just far enough
//! to decide.
//!
//! Replies are compared as bytes, never as strings, so a server answering with invalid
//! UTF-8 is judged like any other, and reads stop at a bound so a server sending a
//! megabyte costs no more than one sending the expected prefix.

use regex::bytes::{Regex, RegexBuilder};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::check::{ProbeError, Progress};

/// How many bytes a regular expression is matched against: Piranha's nanny read 255.
pub const REGEX_READ_LIMIT: usize = 255;

/// How many characters of a reply a probe's detail shows, so a log line stays a line.
const SHOWN_BYTES: usize = 60;

/// What a reply must look like (`expect`, with `use_regex`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "lowercase")]
pub enum Expect {
    /// `expect = *`: any non-empty reply.
    Any,
    /// The reply starts with these bytes (Piranha's `strncmp` of `strlen(expect)` bytes).
    Prefix(String),
    /// `use_regex = 1`: the start of the reply (up to [`REGEX_READ_LIMIT`] bytes) contains
    /// a match of this expression (POSIX `regexec` semantics: a search, not anchored).
    Regex(String),
}

impl Expect {
    /// Reads the `expect` and `use_regex` keywords; `None` for an empty expect, which
    /// asks for nothing (a `strncmp` of zero bytes always agrees).
    pub fn from_keywords(expect: &str, use_regex: bool) -> Option<Expect> {
        match expect {
            "" => None,
            "*" => Some(Expect::Any),
            text if use_regex => Some(Expect::Regex(text.to_string())),
            text => Some(Expect::Prefix(text.to_string())),
        }
    }

    /// Prepares the expectation for one probe, compiling a regular expression.
    pub fn matcher(&self) -> Result<Matcher<'_>, ProbeError> {
        let regex = match self {
            Expect::Regex(pattern) => Some(compile(pattern)?),
            Expect::Any | Expect::Prefix(_) => None,
        };
        Ok(Matcher {
            expect: self,
            regex,
        })
    }
}

/// Compiles like POSIX `regcomp(REG_EXTENDED)` without `REG_NEWLINE`: `.` matches a
/// newline too, and bytes rather than characters, so invalid UTF-8 can still match.
/// Expressions that need Unicode (`\p{L}`) fall back to Unicode mode.
fn compile(pattern: &str) -> Result<Regex, ProbeError> {
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .unicode(unicode)
            .dot_matches_new_line(true)
            .size_limit(1 << 20)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| ProbeError::Config(format!("invalid regular expression: {e}")))
}

/// An expectation ready to judge replies.
#[derive(Debug)]
pub struct Matcher<'a> {
    expect: &'a Expect,
    regex: Option<Regex>,
}

/// The verdict on the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The reply is what was expected; the detail says what matched.
    Pass(String),
    /// The reply cannot be what was expected, whatever follows; the detail says why.
    Fail(String),
    /// Not decided yet: read more.
    More,
}

impl Matcher<'_> {
    /// How many bytes are worth reading: the expected prefix, one byte for `*`, or
    /// Piranha's 255 for a regular expression.
    pub fn limit(&self) -> usize {
        match self.expect {
            Expect::Any => 1,
            Expect::Prefix(text) => text.len(),
            Expect::Regex(_) => REGEX_READ_LIMIT,
        }
    }

    /// Judges `received`; `complete` says no more will come (end of stream, the limit
    /// reached, or a whole datagram).
    pub fn judge(&self, received: &[u8], complete: bool) -> Verdict {
        let complete = complete || received.len() >= self.limit();
        match self.expect {
            Expect::Any => judge_any(received, complete),
            Expect::Prefix(text) => judge_prefix(text.as_bytes(), received, complete),
            Expect::Regex(pattern) => match &self.regex {
                Some(regex) => judge_regex(regex, pattern, received, complete),
                None => Verdict::Fail("regular expression not compiled".into()),
            },
        }
    }
}

fn judge_any(received: &[u8], complete: bool) -> Verdict {
    match (received.is_empty(), complete) {
        (false, _) => Verdict::Pass(format!("got {}", show(received))),
        (true, true) => Verdict::Fail("no reply".into()),
        (true, false) => Verdict::More,
    }
}

fn judge_prefix(expected: &[u8], received: &[u8], complete: bool) -> Verdict {
    let n = expected.len().min(received.len());
    if expected[..n] != received[..n] {
        return Verdict::Fail(format!(
            "expected {}, got {}",
            show(expected),
            show(received)
        ));
    }
    match (n == expected.len(), complete) {
        (true, _) => Verdict::Pass(format!("got {}", show(received))),
        (false, true) if received.is_empty() => {
            Verdict::Fail(format!("expected {}, got no reply", show(expected)))
        }
        (false, true) => Verdict::Fail(format!(
            "expected {}, the reply ended after {}",
            show(expected),
            show(received)
        )),
        (false, false) => Verdict::More,
    }
}

fn judge_regex(regex: &Regex, pattern: &str, received: &[u8], complete: bool) -> Verdict {
    if regex.is_match(received) {
        return Verdict::Pass(format!("got {} (matches /{pattern}/)", show(received)));
    }
    match (complete, received.is_empty()) {
        (false, _) => Verdict::More,
        (true, true) => Verdict::Fail(format!("expected /{pattern}/, got no reply")),
        (true, false) => Verdict::Fail(format!("expected /{pattern}/, got {}", show(received))),
    }
}

/// Reads from `reader` until `matcher` decides, the stream ends, or its limit is reached,
/// noting what has arrived in `progress` so a timeout can say so.
pub async fn read_reply<R>(
    reader: &mut R,
    matcher: &Matcher<'_>,
    progress: &Progress,
) -> Result<String, ProbeError>
where
    R: AsyncRead + Unpin,
{
    let limit = matcher.limit();
    let mut received = Vec::with_capacity(limit.min(1024));
    let mut chunk = [0u8; 512];
    loop {
        let want = limit.saturating_sub(received.len()).clamp(1, chunk.len());
        let n = reader
            .read(&mut chunk[..want])
            .await
            .map_err(|e| ProbeError::io("read", e))?;
        received.extend_from_slice(&chunk[..n]);
        match matcher.judge(&received, n == 0) {
            Verdict::Pass(detail) => return Ok(detail),
            Verdict::Fail(detail) => return Err(ProbeError::Mismatch(detail)),
            Verdict::More => {
                progress.note(format!("waiting for the reply, got {}", show(&received)))
            }
        }
    }
}

/// A reply for a log line: at most 60 bytes, invalid UTF-8 replaced, control characters
/// escaped, quoted, with the total length when cut.
pub fn show(bytes: &[u8]) -> String {
    let cut = bytes.len().min(SHOWN_BYTES);
    let text: String = String::from_utf8_lossy(&bytes[..cut])
        .chars()
        .flat_map(char::escape_debug)
        .collect();
    if cut < bytes.len() {
        format!("\"{text}\"... ({} bytes)", bytes.len())
    } else {
        format!("\"{text}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(expect: &Expect, received: &[u8], complete: bool) -> Verdict {
        expect
            .matcher()
            .expect("compiles")
            .judge(received, complete)
    }

    fn passes(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Pass(_))
    }

    #[test]
    fn keywords_pick_the_kind() {
        assert_eq!(Expect::from_keywords("", false), None);
        assert_eq!(Expect::from_keywords("*", true), Some(Expect::Any));
        assert_eq!(
            Expect::from_keywords("HTTP", false),
            Some(Expect::Prefix("HTTP".into()))
        );
        assert_eq!(
            Expect::from_keywords("^HTTP", true),
            Some(Expect::Regex("^HTTP".into()))
        );
    }

    #[test]
    fn prefix_compares_only_its_own_length() {
        let expect = Expect::Prefix("HTTP".into());
        assert!(passes(&judge(&expect, b"HTTP/1.0 200 OK", false)));
        assert!(passes(&judge(&expect, b"HTTP", true)));
        assert!(matches!(judge(&expect, b"HTT", false), Verdict::More));
        assert!(matches!(judge(&expect, b"HTT", true), Verdict::Fail(_)));
        assert!(matches!(judge(&expect, b"", true), Verdict::Fail(_)));
        // A wrong first byte fails without waiting for the rest.
        assert!(matches!(judge(&expect, b"F", false), Verdict::Fail(_)));
        assert!(matches!(
            judge(&expect, b"http/1.0", false),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn prefix_handles_invalid_utf8_as_bytes() {
        let expect = Expect::Prefix("OK".into());
        assert!(passes(&judge(&expect, b"OK\xff\xfe", false)));
        assert!(matches!(
            judge(&expect, b"\xff\xfeOK", false),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn star_accepts_any_nonempty_reply() {
        assert!(passes(&judge(&Expect::Any, b"\0", false)));
        assert!(passes(&judge(&Expect::Any, b"\xff", false)));
        assert!(matches!(judge(&Expect::Any, b"", false), Verdict::More));
        assert!(matches!(judge(&Expect::Any, b"", true), Verdict::Fail(_)));
    }

    #[test]
    fn regex_searches_posix_style() {
        let expect = Expect::Regex("1\\.[01] [23][0-9][0-9]".into());
        assert!(passes(&judge(&expect, b"HTTP/1.1 200 OK\r\n", false)));
        assert!(matches!(
            judge(&expect, b"HTTP/1.1 500", false),
            Verdict::More
        ));
        assert!(matches!(
            judge(&expect, b"HTTP/1.1 500", true),
            Verdict::Fail(_)
        ));
        let classes = Expect::Regex("^[[:digit:]]+ ready$".into());
        assert!(passes(&judge(&classes, b"220 ready", true)));
        // `.` crosses lines and matches bytes that are not UTF-8, as regexec would.
        let dot = Expect::Regex("a.b".into());
        assert!(passes(&judge(&dot, b"a\nb", true)));
        assert!(passes(&judge(&dot, b"a\xffb", true)));
    }

    #[test]
    fn regex_reads_at_most_255_bytes() {
        let expect = Expect::Regex("END".into());
        let matcher = expect.matcher().expect("compiles");
        assert_eq!(matcher.limit(), REGEX_READ_LIMIT);
        let long = vec![b'x'; REGEX_READ_LIMIT];
        assert!(matches!(matcher.judge(&long, false), Verdict::Fail(_)));
    }

    #[test]
    fn an_invalid_regex_is_a_configuration_error() {
        let expect = Expect::Regex("(".into());
        assert!(matches!(expect.matcher(), Err(ProbeError::Config(_))));
    }

    #[test]
    fn shown_replies_are_short_and_printable() {
        assert_eq!(show(b"ab\r\n"), "\"ab\\r\\n\"");
        assert_eq!(show(b"\xff"), "\"\u{fffd}\"");
        let long = show(&[b'a'; 1000]);
        assert!(long.ends_with("... (1000 bytes)"), "{long}");
        assert!(long.len() < 100);
    }
}
