//! The file as written: every line, comment and blank kept, so that writing an
//! unchanged model gives back the same bytes and a change touches only its own lines.

use std::ops::Range;

/// The kinds of block lvs.cf has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `virtual NAME {`
    Virtual,
    /// `failover NAME {`
    Failover,
    /// `server NAME {` inside one of the above.
    Server,
}

impl BlockKind {
    /// The keyword that opens the block.
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Virtual => "virtual",
            BlockKind::Failover => "failover",
            BlockKind::Server => "server",
        }
    }
}

/// How a line ends; kept per line so a file with mixed endings is written back as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// The last line of a file without a final newline.
    #[default]
    None,
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
    /// `\r`
    Cr,
}

impl LineEnding {
    /// The ending of a line as the lexer split it.
    pub fn of(bytes: &[u8]) -> Self {
        match bytes {
            b"\n" => LineEnding::Lf,
            b"\r\n" => LineEnding::CrLf,
            b"\r" => LineEnding::Cr,
            _ => LineEnding::None,
        }
    }

    /// Its bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::None => b"",
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
            LineEnding::Cr => b"\r",
        }
    }
}

/// One physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes without the ending.
    pub content: Vec<u8>,
    /// The line's own ending (LF, CR LF, CR or none).
    pub ending: LineEnding,
    /// Set when the line is a `keyword = value` directive.
    pub directive: Option<Directive>,
}

/// Where a directive's keyword and values sit in its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The keyword, as the keyword table spells it.
    pub keyword: &'static str,
    /// Byte range of the value tokens (a trailing comment is outside it).
    pub values: Range<usize>,
}

/// An item of a document or block body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A blank line, comment, directive or unreadable line.
    Line(Line),
    /// A nested block.
    Block(Block),
}

/// A `virtual`, `failover` or `server` block and everything inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Which kind.
    pub kind: BlockKind,
    /// Its name as parsed.
    pub name: String,
    /// Byte range of the name in the header line.
    pub name_range: Range<usize>,
    /// The `virtual NAME {` line.
    pub header: Line,
    /// The lines and blocks inside.
    pub items: Vec<Item>,
    /// The `}` line; `None` when the file ended first (Piranha accepts that).
    pub close: Option<Line>,
}

/// A whole lvs.cf as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Top-level lines and blocks, in file order.
    pub items: Vec<Item>,
}

impl Line {
    /// A line that is not a directive (blank, comment, brace).
    pub fn plain(content: impl Into<Vec<u8>>, ending: LineEnding) -> Self {
        Line {
            content: content.into(),
            ending,
            directive: None,
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.content);
        out.extend_from_slice(self.ending.bytes());
    }

    /// The blanks the line starts with, to indent new lines like their neighbours.
    pub fn indent(&self) -> Vec<u8> {
        self.content
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .copied()
            .collect()
    }
}

fn write_items(items: &[Item], out: &mut Vec<u8>) {
    for item in items {
        match item {
            Item::Line(line) => line.write_to(out),
            Item::Block(block) => {
                block.header.write_to(out);
                write_items(&block.items, out);
                if let Some(close) = &block.close {
                    close.write_to(out);
                }
            }
        }
    }
}

impl Document {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_items(&self.items, &mut out);
        out
    }

    /// The line ending the file uses first, for the lines shoal adds.
    pub fn ending(&self) -> LineEnding {
        fn first_ending(items: &[Item]) -> Option<LineEnding> {
            items.iter().find_map(|item| match item {
                Item::Line(line) => Some(line.ending).filter(|e| *e != LineEnding::None),
                Item::Block(block) => Some(block.header.ending).filter(|e| *e != LineEnding::None),
            })
        }
        first_ending(&self.items).unwrap_or(LineEnding::Lf)
    }
}
