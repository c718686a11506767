//! `monitor = smtp`: a mail server is up when it greets with `220`; the probe then says
//! `QUIT` so the server logs a clean session rather than a dropped connection.
//!
//! A multi-line greeting (`220-...` lines, then `220 ...`) is read to its last line;
//! the whole greeting is bounded, so a server sending endless lines cannot hold memory.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Target;
use super::check::{Outcome, ProbeError, Progress};
use super::expect::show;

/// The longest greeting read; RFC 5321 lines are at most 512 bytes.
pub const GREETING_LIMIT: usize = 4096;

/// Connects to `target`, reads the greeting, and passes on `220`.
pub async fn probe(target: Target, progress: &Progress) -> Outcome {
    progress.note_at("connecting to", target.socket());
    let mut stream = TcpStream::connect(target.socket())
        .await
        .map_err(|e| ProbeError::io("connect", e))?;
    progress.note("connected, waiting for the greeting");
    let greeting = read_greeting(&mut stream).await?;
    let line = greeting.last_line();
    if line.get(..3) != Some(b"220") {
        return Err(ProbeError::Mismatch(format!(
            "greeting {}, expected 220",
            show(line)
        )));
    }
    // Best effort: the server greeted, a failing QUIT changes nothing.
    let _ = stream.write_all(b"QUIT\r\n").await;
    let _ = stream.shutdown().await;
    Ok(format!("greeting {}", show(line)))
}

/// The greeting's bytes up to the end of its last line.
struct Greeting(Vec<u8>);

impl Greeting {
    /// The final line, without its line ending.
    fn last_line(&self) -> &[u8] {
        let text = trim_line_end(&self.0);
        let start = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        &text[start..]
    }
}

fn trim_line_end(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

/// Reads until a line that is not a continuation (`NNN-`) ends, or fails at the bound
/// or at the end of the stream.
async fn read_greeting(stream: &mut TcpStream) -> Result<Greeting, ProbeError> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = greeting_end(&received) {
            received.truncate(end);
            return Ok(Greeting(received));
        }
        if received.len() >= GREETING_LIMIT {
            return Err(ProbeError::Mismatch(format!(
                "no complete greeting in {GREETING_LIMIT} bytes: {}",
                show(&received)
            )));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| ProbeError::io("read", e))?;
        if n == 0 {
            return Err(ProbeError::Mismatch(if received.is_empty() {
                "closed without a greeting".to_string()
            } else {
                format!("closed after {}", show(&received))
            }));
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// Where the greeting ends: after the first complete line whose fourth byte is not `-`.
fn greeting_end(received: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(offset) = received[start..].iter().position(|&b| b == b'\n') {
        let end = start + offset + 1;
        if received.get(start + 3) != Some(&b'-') {
            return Some(end);
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_greetings_end_at_their_last_line() {
        assert_eq!(greeting_end(b"220 mail ESMTP\r\n"), Some(16));
        assert_eq!(greeting_end(b"220-mail\r\n220-more\r\n"), None);
        let text = b"220-mail\r\n220 ready\r\nextra";
        let end = greeting_end(text).expect("complete");
        let greeting = Greeting(text[..end].to_vec());
        assert_eq!(greeting.last_line(), b"220 ready");
        assert_eq!(greeting_end(b"220 no line end yet"), None);
        assert_eq!(greeting_end(b"554\n"), Some(4));
    }
}
