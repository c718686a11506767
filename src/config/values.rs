//! Reading and writing the value tokens of one directive.
//!
//! Each reader takes the value tokens (already counted) and returns a typed value or an
//! error naming the token; each writer gives back the tokens as they go in the file.
//! Keeping both here means a value is always written in a form its reader accepts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::lexer::{Token, escape_quoted, plain_token, unescape};
use super::model::{InterfaceAddress, KeywordValue, LoadMonitor, Netmask, StatusRange};
use super::resolve::Resolver;

/// Why a value was refused, and which of the value tokens it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Index into the value tokens.
    pub token: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl ValueError {
    fn at(token: usize, message: impl Into<String>) -> Self {
        ValueError {
            token,
            message: message.into(),
        }
    }
}

/// What a reader may need besides the tokens: names, and a place to leave warnings.
pub struct ParseContext<'r> {
    /// Host and service names.
    pub resolver: &'r dyn Resolver,
    /// Warnings about accepted values (token index, message).
    pub warnings: Vec<(usize, String)>,
}

/// A reader of value tokens.
pub type Reader<T> = fn(&[Token], &mut ParseContext) -> Result<T, ValueError>;

type Outcome<T> = Result<T, ValueError>;

fn word<'a>(tokens: &[Token<'a>]) -> &'a str {
    tokens.first().map(|t| t.value).unwrap_or("")
}

/// C's `strtol(text, &end, 0)` with a complete-token check: decimal, `0x` hex and
/// leading-zero octal, which Piranha accepted everywhere it read an integer.
pub fn strtol(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) || digits.len() > 30 {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn integer_in<T: TryFrom<i128>>(tokens: &[Token], what: &str) -> Outcome<T> {
    let text = word(tokens);
    let value = strtol(text)
        .ok_or_else(|| ValueError::at(0, format!("integer expected, found '{text}'")))?;
    T::try_from(value).map_err(|_| ValueError::at(0, format!("{what} expected, found {value}")))
}

/// A non-negative integer that fits `u32`.
pub fn unsigned(tokens: &[Token], _: &mut ParseContext) -> Outcome<u32> {
    integer_in(tokens, "an integer from 0 to 4294967295")
}

/// A non-negative integer that fits `u64` (serial numbers).
pub fn unsigned64(tokens: &[Token], _: &mut ParseContext) -> Outcome<u64> {
    integer_in(tokens, "a non-negative integer")
}

/// Any integer (weights: the validator says what the kernel takes).
pub fn signed(tokens: &[Token], _: &mut ParseContext) -> Outcome<i64> {
    integer_in(tokens, "an integer that fits 64 bits")
}

/// `0` or `1`. Like Piranha, a non-integer is "integer expected" first.
pub fn boolean(tokens: &[Token], cx: &mut ParseContext) -> Outcome<bool> {
    let value: i64 = signed(tokens, cx)?;
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(ValueError::at(
            0,
            format!("boolean expected (0 or 1), found {other}"),
        )),
    }
}

/// An integer used as a switch (`monitor_links`): Piranha read any integer, so any is
/// accepted and a value other than 0 or 1 is a warning.
pub fn switch(tokens: &[Token], cx: &mut ParseContext) -> Outcome<bool> {
    let value: i64 = signed(tokens, cx)?;
    if value != 0 && value != 1 {
        cx.warnings
            .push((0, format!("{value} is read as 1 (on); write 0 or 1")));
    }
    Ok(value != 0)
}

/// A port number or an `/etc/services` name, looked up as TCP as Piranha did.
pub fn port(tokens: &[Token], cx: &mut ParseContext) -> Outcome<u16> {
    let text = word(tokens);
    match strtol(text) {
        Some(value) => u16::try_from(value).map_err(|_| {
            ValueError::at(0, format!("port from 0 to 65535 expected, found {value}"))
        }),
        None => cx.resolver.service(text).ok_or_else(|| {
            let is_name = text.starts_with(|c: char| c.is_ascii_alphabetic())
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
            ValueError::at(
                0,
                if is_name {
                    format!("unknown service name '{text}' (not a TCP service in /etc/services)")
                } else {
                    format!("port number or service name expected, found '{text}'")
                },
            )
        }),
    }
}

/// Whole seconds, as the kernel takes for persistence and protocol timeouts.
pub fn seconds(tokens: &[Token], cx: &mut ParseContext) -> Outcome<Duration> {
    let text = word(tokens);
    if strtol(text).is_none() && parse_decimal(text).is_some() {
        return Err(ValueError::at(
            0,
            format!("whole seconds expected, found '{text}' (this keyword takes no decimals)"),
        ));
    }
    unsigned(tokens, cx).map(|s| Duration::from_secs(u64::from(s)))
}

/// Seconds, whole (Piranha) or decimal (shoal: `keepalive = 0.1`).
pub fn decimal_seconds(tokens: &[Token], cx: &mut ParseContext) -> Outcome<Duration> {
    let text = word(tokens);
    if strtol(text).is_some() {
        return seconds(tokens, cx);
    }
    parse_decimal(text).ok_or_else(|| {
        ValueError::at(
            0,
            format!("seconds expected (an integer or a decimal such as 0.5), found '{text}'"),
        )
    })
}

fn parse_decimal(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.')?;
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || fraction.len() > 9
    {
        return None;
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nanos: u32 = format!("{fraction:0<9}").parse().ok()?;
    Some(Duration::new(secs, nanos))
}

/// A host name or an address literal; names are resolved now, once.
pub fn host(tokens: &[Token], cx: &mut ParseContext) -> Outcome<IpAddr> {
    let text = word(tokens);
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(address);
    }
    if text.is_empty() || text.contains(['/', '"', '\'']) {
        return Err(ValueError::at(
            0,
            format!("host name or IP address expected, found '{text}'"),
        ));
    }
    cx.resolver
        .host(text)
        .map_err(|cause| ValueError::at(0, format!("cannot resolve host name '{text}': {cause}")))
}

/// A host that must be a usable address: Piranha refuses `primary = 0.0.0.0`.
pub fn usable_host(tokens: &[Token], cx: &mut ParseContext) -> Outcome<IpAddr> {
    let address = host(tokens, cx)?;
    if address.is_unspecified() {
        return Err(ValueError::at(
            0,
            format!("invalid host name or IP address: {address} is not an address of a node"),
        ));
    }
    Ok(address)
}

/// An address literal only (`sorry_server`, as Piranha's `inet_aton`).
pub fn address_literal(tokens: &[Token], _: &mut ParseContext) -> Outcome<IpAddr> {
    let text = word(tokens);
    text.parse()
        .map_err(|_| ValueError::at(0, format!("IP address expected, found '{text}'")))
}

/// A dotted contiguous IPv4 mask, or (shoal) a prefix length from 0 to 128.
pub fn netmask(tokens: &[Token], _: &mut ParseContext) -> Outcome<Netmask> {
    let text = word(tokens);
    if let Some(length) = strtol(text).filter(|_| !text.contains('.')) {
        return u8::try_from(length)
            .ok()
            .filter(|l| *l <= 128)
            .map(Netmask::Prefix)
            .ok_or_else(|| {
                ValueError::at(
                    0,
                    format!("bad netmask: prefix length {length} is over 128"),
                )
            });
    }
    let mask: Ipv4Addr = text
        .parse()
        .map_err(|_| ValueError::at(0, format!("bad netmask '{text}': dotted mask such as 255.255.255.0 or a prefix length expected")))?;
    Netmask::from_dotted(mask).ok_or_else(|| {
        ValueError::at(
            0,
            format!("bad netmask '{text}': the mask's bits must be contiguous"),
        )
    })
}

/// Text as written, quotes removed, backslashes kept.
pub fn text(tokens: &[Token], _: &mut ParseContext) -> Outcome<String> {
    Ok(word(tokens).to_string())
}

/// Text of `send`/`expect`, with Piranha's escapes decoded.
pub fn probe_text(tokens: &[Token], _: &mut ParseContext) -> Outcome<String> {
    Ok(unescape(word(tokens)))
}

/// `ADDRESS DEVICE` (`address` of a virtual server, `nat_router`).
pub fn interface_address(tokens: &[Token], cx: &mut ParseContext) -> Outcome<InterfaceAddress> {
    let address = host(tokens, cx)?;
    let device = tokens.get(1).map(|t| t.value).unwrap_or_default();
    if device.is_empty() || device.contains('/') || device.len() > 15 {
        return Err(ValueError::at(
            1,
            format!("network device expected (such as eth0:1), found '{device}'"),
        ));
    }
    Ok(InterfaceAddress {
        address,
        device: device.to_string(),
    })
}

/// One word of a closed set (`scheduler = wlc`).
pub fn choice<E: KeywordValue>(tokens: &[Token], _: &mut ParseContext) -> Outcome<E> {
    let text = word(tokens);
    E::from_keyword(text)
        .ok_or_else(|| ValueError::at(0, format!("'{text}' is not one of {}", E::expected())))
}

/// One or more words of a closed set (`scheduler_flags = sh-fallback sh-port`).
pub fn choices<E: KeywordValue>(tokens: &[Token], _: &mut ParseContext) -> Outcome<Vec<E>> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            E::from_keyword(t.value).ok_or_else(|| {
                ValueError::at(i, format!("'{}' is not one of {}", t.value, E::expected()))
            })
        })
        .collect()
}

/// `none`, `uptime`, `rup`, `ruptime`, or a command kept as written.
pub fn load_monitor(tokens: &[Token], _: &mut ParseContext) -> Outcome<LoadMonitor> {
    Ok(match word(tokens) {
        "none" => LoadMonitor::None,
        "uptime" => LoadMonitor::Uptime,
        "rup" => LoadMonitor::Rup,
        "ruptime" => LoadMonitor::Ruptime,
        other => LoadMonitor::Command(other.to_string()),
    })
}

/// HTTP status codes and ranges (`200 301-302`).
pub fn status_ranges(tokens: &[Token], _: &mut ParseContext) -> Outcome<Vec<StatusRange>> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (low, high) = t.value.split_once('-').unwrap_or((t.value, t.value));
            let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
            match (code(low), code(high)) {
                (Some(low), Some(high)) if low <= high => Ok(StatusRange { low, high }),
                _ => Err(ValueError::at(
                    i,
                    format!(
                        "HTTP status code or range (such as 200 or 200-399) expected, found '{}'",
                        t.value
                    ),
                )),
            }
        })
        .collect()
}

/// `[ a b c ]`, with the brackets as tokens of their own (Piranha's `dirs`).
pub fn bracket_list(tokens: &[Token], _: &mut ParseContext) -> Outcome<Vec<String>> {
    let last = tokens.len().saturating_sub(1);
    if tokens.first().map(|t| t.text) != Some("[") {
        return Err(ValueError::at(
            0,
            "list expected: '[' first, separated by blanks",
        ));
    }
    if tokens.len() < 2 || tokens[last].text != "]" {
        // Point at a glued `b]`, else at the end of the line where ']' is missing.
        let at = if tokens.len() >= 2 && tokens[last].text.ends_with(']') {
            last
        } else {
            tokens.len()
        };
        return Err(ValueError::at(
            at,
            "list expected: ']' last, separated by blanks",
        ));
    }
    Ok(tokens[1..last]
        .iter()
        .map(|t| t.value.to_string())
        .collect())
}

/// Writes `0`/`1`.
pub fn write_bool(value: &bool) -> Vec<String> {
    vec![if *value { "1" } else { "0" }.to_string()]
}

/// Writes any number in decimal.
pub fn write_number<T: ToString>(value: &T) -> Vec<String> {
    vec![value.to_string()]
}

/// Writes seconds: whole when whole, else the shortest decimal.
pub fn write_seconds(value: &Duration) -> Vec<String> {
    let nanos = value.subsec_nanos();
    if nanos == 0 {
        return vec![value.as_secs().to_string()];
    }
    let fraction = format!("{nanos:09}");
    vec![format!(
        "{}.{}",
        value.as_secs(),
        fraction.trim_end_matches('0')
    )]
}

/// Writes an address, a netmask or anything else whose `Display` is its lvs.cf form.
pub fn write_display<T: std::fmt::Display>(value: &T) -> Vec<String> {
    vec![value.to_string()]
}

/// Writes plain text, quoted only when it needs to be.
pub fn write_text(value: &str) -> Vec<String> {
    vec![plain_token(value).unwrap_or_else(|| format!("\"{value}\""))]
}

/// Writes `send`/`expect` text, always quoted, with escapes.
pub fn write_probe_text(value: &str) -> Vec<String> {
    vec![escape_quoted(value)]
}

/// Writes `ADDRESS DEVICE`.
pub fn write_interface_address(value: &InterfaceAddress) -> Vec<String> {
    let mut tokens = write_display(&value.address);
    tokens.extend(write_text(&value.device));
    tokens
}

/// Writes one word of a closed set.
pub fn write_choice<E: KeywordValue>(value: &E) -> Vec<String> {
    vec![value.as_str().to_string()]
}

/// Writes several words of a closed set.
pub fn write_choices<E: KeywordValue>(values: &[E]) -> Vec<String> {
    values.iter().map(|v| v.as_str().to_string()).collect()
}

/// Writes a load monitor.
pub fn write_load_monitor(value: &LoadMonitor) -> Vec<String> {
    write_text(value.as_str())
}

/// Writes HTTP status ranges.
pub fn write_status_ranges(values: &[StatusRange]) -> Vec<String> {
    values.iter().map(|r| r.to_string()).collect()
}

/// Writes a bracketed list.
pub fn write_bracket_list(values: &[String]) -> Vec<String> {
    let mut tokens = vec!["[".to_string()];
    tokens.extend(values.iter().flat_map(|value| write_text(value)));
    tokens.push("]".to_string());
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::tokenize;
    use crate::config::resolve::StaticResolver;

    fn read<T>(reader: Reader<T>, line: &str) -> Outcome<T> {
        let resolver = StaticResolver::default();
        let mut cx = ParseContext {
            resolver: &resolver,
            warnings: Vec::new(),
        };
        reader(&tokenize(line).expect("tokenizes"), &mut cx)
    }

    #[test]
    fn integers_are_read_like_strtol() {
        assert_eq!(strtol("0x10"), Some(16));
        assert_eq!(strtol("010"), Some(8));
        assert_eq!(strtol("0"), Some(0));
        assert_eq!(strtol("-7"), Some(-7));
        assert_eq!(strtol("08"), None);
        assert_eq!(strtol("1.5"), None);
        assert_eq!(strtol(""), None);
    }

    #[test]
    fn booleans_want_an_integer_first() {
        assert_eq!(read(boolean, "1"), Ok(true));
        assert_eq!(
            read(boolean, "yes").unwrap_err().message,
            "integer expected, found 'yes'"
        );
        assert_eq!(
            read(boolean, "2").unwrap_err().message,
            "boolean expected (0 or 1), found 2"
        );
    }

    #[test]
    fn seconds_may_be_decimal_where_allowed() {
        assert_eq!(read(decimal_seconds, "0.4"), Ok(Duration::from_millis(400)));
        assert_eq!(read(decimal_seconds, "0x10"), Ok(Duration::from_secs(16)));
        assert!(read(seconds, "0.4").is_err());
        assert!(read(decimal_seconds, ".").is_err());
        assert_eq!(write_seconds(&Duration::from_millis(1500)), ["1.5"]);
        assert_eq!(write_seconds(&Duration::from_secs(18)), ["18"]);
    }

    #[test]
    fn netmasks_are_checked() {
        assert_eq!(
            read(netmask, "255.255.255.0").map(Netmask::prefix_len),
            Ok(24)
        );
        assert_eq!(read(netmask, "64"), Ok(Netmask::Prefix(64)));
        assert!(
            read(netmask, "255.255.255.256")
                .unwrap_err()
                .message
                .starts_with("bad netmask")
        );
        assert!(
            read(netmask, "255.0.255.0")
                .unwrap_err()
                .message
                .contains("contiguous")
        );
    }

    #[test]
    fn unresolvable_hosts_are_errors() {
        assert_eq!(
            read(host, "rs-a.invalid").unwrap_err().message,
            "cannot resolve host name 'rs-a.invalid': unknown host"
        );
        assert!(read(usable_host, "0.0.0.0").is_err());
        assert_eq!(
            read(host, "2001:db8::1"),
            Ok("2001:db8::1".parse().expect("literal"))
        );
    }
}
