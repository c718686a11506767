//! Piranha's lexical rules for lvs.cf: lines, blanks and (possibly quoted) tokens.
//!
//! The lexer knows nothing about keywords; it only cuts a line into tokens and remembers
//! where each one came from, so errors can name a column and the writer can replace a
//! value without touching the rest of the line.

use winnow::combinator::{alt, repeat};
use winnow::prelude::*;
use winnow::token::{any, none_of, take_while};

/// One physical line of the file, split from its line ending so the file can be
/// written back byte for byte whatever mix of LF, CR LF and CR it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// The bytes of the line without its ending.
    pub content: &'a [u8],
    /// `\n`, `\r\n`, `\r`, or empty for a last line without one.
    pub ending: &'a [u8],
}

/// Splits a file into lines; CR LF, lone CR and LF all end a line, as Piranha 0.8.2 and
/// later intended (its 0.8.6 parser mishandles CR LF; shoal does not).
pub fn split_lines(bytes: &[u8]) -> Vec<RawLine<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let ending_len = match bytes[i] {
            b'\n' => 1,
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => 2,
            b'\r' => 1,
            _ => 0,
        };
        if ending_len > 0 {
            lines.push(RawLine {
                content: &bytes[start..i],
                ending: &bytes[i..i + ending_len],
            });
            i += ending_len;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        lines.push(RawLine {
            content: &bytes[start..],
            ending: &[],
        });
    }
    lines
}

/// A blank for Piranha is what C's `isspace` accepts inside a line.
pub fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c')
}

/// One token of a line, with its position, so diagnostics can point at it and the
/// writer can replace exactly the value part of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token as written, quotes included (borrowed from the line: a 10,000-service
    /// file has 150,000 lines, and allocating per token dominated its parse time).
    pub text: &'a str,
    /// The token without its surrounding quotes; backslash escapes are left as written
    /// because only some keywords (`send`, `expect`) give them a meaning.
    pub value: &'a str,
    /// The quote character if the token was quoted.
    pub quote: Option<char>,
    /// 1-based column (in characters) where the token starts.
    pub column: usize,
    /// Byte offset of the token's first byte within the line.
    pub start: usize,
    /// Byte offset just past the token's last byte within the line.
    pub end: usize,
}

/// Why a line could not be cut into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnterminatedQuote {
    /// 1-based column of the opening quote.
    pub column: usize,
    /// The quote character that was never closed.
    pub quote: char,
}

fn quoted<'i>(quote: char) -> impl Parser<&'i str, &'i str, winnow::error::ContextError> {
    (
        quote,
        repeat::<_, _, (), _, _>(
            0..,
            alt((('\\', any).void(), none_of([quote, '\\']).void())),
        ),
        quote,
    )
        .take()
}

fn bare<'i>(input: &mut &'i str) -> winnow::Result<&'i str> {
    take_while(1.., |c: char| !is_blank(c)).parse_next(input)
}

/// Cuts a line into tokens: blanks separate tokens, a token that starts with `"` or `'`
/// runs to the matching unescaped quote and may contain blanks.
pub fn tokenize(line: &str) -> Result<Vec<Token<'_>>, UnterminatedQuote> {
    let mut tokens = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(is_blank);
        if rest.is_empty() {
            return Ok(tokens);
        }
        let start = line.len() - rest.len();
        let column = line[..start].chars().count() + 1;
        let first = rest.chars().next().unwrap_or(' ');
        let (text, quote) = if first == '"' || first == '\'' {
            match quoted(first).parse_next(&mut rest) {
                Ok(text) => (text, Some(first)),
                Err(_) => {
                    return Err(UnterminatedQuote {
                        column,
                        quote: first,
                    });
                }
            }
        } else {
            // `bare` cannot fail here: `rest` is non-empty and starts with a non-blank.
            (bare(&mut rest).unwrap_or_default(), None)
        };
        let value = match quote {
            Some(_) => &text[1..text.len() - 1],
            None => text,
        };
        tokens.push(Token {
            text,
            value,
            quote,
            column,
            start,
            end: start + text.len(),
        });
    }
}

/// Piranha's escapes for `send` and `expect`: `\n \r \t \\ \' \"`. Any other backslash
/// is kept as written, so a regular expression such as `1\.[01]` survives.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(e @ ('\\' | '\'' | '"')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The inverse of [`unescape`], quoted with `"`, so a probe string with line breaks or
/// quotes can be written on one line and read back unchanged.
pub fn escape_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// Writes a plain value (a device, a path, a command) as one token, quoting it only
/// when it would otherwise not read back as itself. `None` when no quoting can carry it.
pub fn plain_token(value: &str) -> Option<String> {
    let needs_quotes =
        value.is_empty() || value.contains(is_blank) || value.starts_with(['"', '\'', '#']);
    let candidates = if needs_quotes {
        // Bare last: `#\` cannot be quoted (its backslash escapes the closing quote)
        // but reads back bare, since `#` starts a comment only after a directive's values.
        vec![
            format!("\"{value}\""),
            format!("'{value}'"),
            value.to_string(),
        ]
    } else {
        vec![value.to_string()]
    };
    candidates.into_iter().find(|candidate| {
        !value.contains(['\n', '\r'])
            && matches!(tokenize(candidate).as_deref(), Ok([t]) if t.value == value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<String> {
        tokenize(line)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.value.to_string())
            .collect()
    }

    #[test]
    fn splits_every_kind_of_line_ending() {
        let lines = split_lines(b"a\r\nb\rc\nd");
        let contents: Vec<&[u8]> = lines.iter().map(|l| l.content).collect();
        let endings: Vec<&[u8]> = lines.iter().map(|l| l.ending).collect();
        assert_eq!(contents, [b"a", b"b", b"c", b"d"]);
        assert_eq!(endings, [&b"\r\n"[..], b"\r", b"\n", b""]);
    }

    #[test]
    fn equals_is_a_token_of_its_own_only_between_blanks() {
        assert_eq!(values("port = 80"), ["port", "=", "80"]);
        assert_eq!(values("port=80"), ["port=80"]);
        assert_eq!(values("\tvirtual\tsmtp\t{"), ["virtual", "smtp", "{"]);
    }

    #[test]
    fn quotes_keep_blanks_and_escaped_quotes() {
        assert_eq!(
            values(r#"send = "GET / HTTP/1.0\r\n\r\n""#),
            ["send", "=", r"GET / HTTP/1.0\r\n\r\n"]
        );
        assert_eq!(values(r#"expect = "say \"hi\"""#)[2], r#"say \"hi\""#);
        assert_eq!(values("send = 'EHLO lvs'")[2], "EHLO lvs");
        assert_eq!(values(r#"send = """#)[2], "");
    }

    #[test]
    fn unterminated_quote_names_its_column() {
        assert_eq!(
            tokenize(r#"send = "GET /"#),
            Err(UnterminatedQuote {
                column: 8,
                quote: '"'
            })
        );
    }

    #[test]
    fn columns_count_characters() {
        let tokens = tokenize("é = x").expect("tokenizes");
        assert_eq!(tokens[2].column, 5);
        assert_eq!(tokens[2].start, 5);
    }

    #[test]
    fn escapes_round_trip() {
        for text in ["a\r\n", "q\"'\\", r"1\.[01]", "tab\there", "\\", ""] {
            let written = escape_quoted(text);
            let token = &tokenize(&written).expect("tokenizes")[0];
            assert_eq!(unescape(token.value), text, "{written}");
        }
    }

    #[test]
    fn plain_tokens_quote_only_when_needed() {
        assert_eq!(plain_token("eth0:1").as_deref(), Some("eth0:1"));
        assert_eq!(plain_token("/bin/x a").as_deref(), Some("\"/bin/x a\""));
        assert_eq!(plain_token("").as_deref(), Some("\"\""));
        assert_eq!(plain_token("a\nb"), None);
        assert_eq!(plain_token("#x").as_deref(), Some("\"#x\""));
        // `active_cmd = #\` is accepted, so its value must be writable.
        assert_eq!(plain_token("#\\").as_deref(), Some("#\\"));
        assert_eq!(plain_token("\"' x\\"), None);
    }
}
