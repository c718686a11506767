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

/// One physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes without the ending.
    pub content: Vec<u8>,
    /// The line's own ending (LF, CR LF, CR or none).
    pub ending: Vec<u8>,
    /// Set when the line is a `keyword = value` directive.
    pub directive: Option<Directive>,
}

/// Where a directive's keyword and values sit in its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The keyword.
    pub keyword: String,
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
    pub fn plain(content: impl Into<Vec<u8>>, ending: &[u8]) -> Self {
        Line {
            content: content.into(),
            ending: ending.to_vec(),
            directive: None,
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.content);
        out.extend_from_slice(&self.ending);
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

    /// The line ending most of the file uses, for the lines shoal adds.
    pub fn ending(&self) -> Vec<u8> {
        fn first_ending(items: &[Item]) -> Option<Vec<u8>> {
            items.iter().find_map(|item| match item {
                Item::Line(line) if !line.ending.is_empty() => Some(line.ending.clone()),
                Item::Line(_) => None,
                Item::Block(block) => Some(block.header.ending.clone()).filter(|e| !e.is_empty()),
            })
        }
        first_ending(&self.items).unwrap_or_else(|| b"\n".to_vec())
    }
}
