//! Reading lvs.cf into the model, the document and the places of every keyword.
//!
//! The parser never stops at the first problem: it reports every error it can find,
//! each with its line and column, and keeps going in the block it believes it is in so
//! that one mistake does not drown the rest in follow-up errors.

use std::collections::HashMap;
use std::ops::Range;

use super::diagnostics::{self, Diagnostic};
use super::document::{Block, BlockKind, Directive, Document, Item, Line, LineEnding};
use super::keywords::{self, Arity, Keyword, Origin};
use super::lexer::{RawLine, Token, split_lines, tokenize};
use super::model::{Config, RealServer, VirtualServer};
use super::resolve::Resolver;
use super::values::ParseContext;

/// Where a block and each of its keywords were written, so later checks (and the web
/// UI) can point at the line that set a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockSpan {
    /// Line of the block's header (0 for the global section).
    pub line: usize,
    /// Keyword to (line, column of its first value) of the effective occurrence.
    pub keywords: HashMap<String, (usize, usize)>,
    /// The `server` blocks inside, in order.
    pub servers: Vec<BlockSpan>,
}

impl BlockSpan {
    /// Where `keyword` was set, or the block's header when it was not.
    pub fn at(&self, keyword: &str) -> (usize, usize) {
        self.keywords
            .get(keyword)
            .copied()
            .unwrap_or((self.line, 0))
    }
}

/// The places of everything in a parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    /// The global section.
    pub global: BlockSpan,
    /// One per `virtual` block, in model order.
    pub virtual_servers: Vec<BlockSpan>,
    /// One per `failover` block, in model order.
    pub failover_services: Vec<BlockSpan>,
}

/// Everything the parser learnt about a file.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The typed model (partial when there are errors).
    pub config: Config,
    /// The file as written, for the writer.
    pub document: Document,
    /// Where each value came from.
    pub spans: Spans,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Whether any diagnostic refuses the file.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

enum Body {
    Virtual(Box<VirtualServer>),
    Server(RealServer),
}

struct OpenBlock {
    block: Block,
    body: Body,
    span: BlockSpan,
    /// A `server` block at top level: reported, parsed for errors, then dropped.
    orphan: bool,
}

struct Parser<'r> {
    cx: ParseContext<'r>,
    config: Config,
    items: Vec<Item>,
    spans: Spans,
    stack: Vec<OpenBlock>,
    diagnostics: Vec<Diagnostic>,
    saw_setting: bool,
    awaiting_brace: bool,
    /// Depth inside a block of unknown syntax (keepalived's `global_defs {`), skipped
    /// after one error instead of one error per line.
    skipping: usize,
    /// Blocks closed early because another block was opened inside them: as many
    /// `}` found later without an open block are theirs, not new errors.
    closed_early: usize,
}

/// Parses lvs.cf bytes. Host names are resolved through `resolver`, once.
pub fn parse(bytes: &[u8], resolver: &dyn Resolver) -> Parsed {
    parse_lines(bytes, resolver, true, 1)
}

/// Parses a run of whole top-level blocks cut from a larger file (a reload re-reads only
/// the blocks an edit touched); it may hold no setting at all, which a file may not.
/// Lines are numbered from `first_line`, where the fragment sits in its file.
pub fn parse_fragment(bytes: &[u8], resolver: &dyn Resolver, first_line: usize) -> Parsed {
    parse_lines(bytes, resolver, false, first_line)
}

fn parse_lines(
    bytes: &[u8],
    resolver: &dyn Resolver,
    whole_file: bool,
    first_line: usize,
) -> Parsed {
    let mut parser = Parser {
        cx: ParseContext {
            resolver,
            warnings: Vec::new(),
        },
        config: Config::default(),
        items: Vec::new(),
        spans: Spans::default(),
        stack: Vec::new(),
        diagnostics: Vec::new(),
        saw_setting: false,
        awaiting_brace: false,
        skipping: 0,
        closed_early: 0,
    };
    for (index, raw) in split_lines(bytes).into_iter().enumerate() {
        parser.line(first_line + index, raw);
    }
    parser.finish(whole_file)
}

/// Byte ranges of the blank-separated words of a line, quotes not considered: enough
/// to follow the braces of a line that cannot be tokenized or of a skipped block.
fn blank_words(content: &[u8]) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, byte) in content.iter().enumerate() {
        let blank = matches!(byte, b' ' | b'\t' | b'\x0b' | b'\x0c');
        match (blank, start) {
            (true, Some(s)) => {
                words.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(s..content.len());
    }
    words
}

fn end_column(text: &str) -> usize {
    text.chars().count() + 1
}

impl Parser<'_> {
    fn error(&mut self, line: usize, column: usize, keyword: Option<&str>, message: String) {
        self.diagnostics
            .push(Diagnostic::error(line, column, keyword, message));
    }

    fn warning(&mut self, line: usize, column: usize, keyword: Option<&str>, message: String) {
        self.diagnostics
            .push(Diagnostic::warning(line, column, keyword, message));
    }

    fn push_item(&mut self, item: Item) {
        match self.stack.last_mut() {
            Some(open) => open.block.items.push(item),
            None => self.items.push(item),
        }
    }

    fn line(&mut self, number: usize, raw: RawLine) {
        let line = Line::plain(raw.content, LineEnding::of(raw.ending));
        let first = raw
            .content
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c'));
        if matches!(first, None | Some(b'#')) {
            return self.push_item(Item::Line(line));
        }
        self.saw_setting = true;
        let awaiting_brace = std::mem::take(&mut self.awaiting_brace);
        let words = blank_words(raw.content);
        if self.skipping > 0 {
            self.skip_unknown_block(raw.content, &words);
            return self.push_item(Item::Line(line));
        }
        let text = match std::str::from_utf8(raw.content) {
            Ok(text) => text,
            Err(e) => {
                let valid = &raw.content[..e.valid_up_to()];
                let column = String::from_utf8_lossy(valid).chars().count() + 1;
                let byte = raw.content[e.valid_up_to()];
                self.error(
                    number,
                    column,
                    None,
                    format!(
                        "line is not valid UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8"
                    ),
                );
                return self.unreadable(number, line, raw.content, &words);
            }
        };
        let tokens = match tokenize(text) {
            Ok(tokens) => tokens,
            Err(open) => {
                self.error(
                    number,
                    open.column,
                    None,
                    format!(
                        "quotation mismatch: the {} opened here is never closed",
                        open.quote
                    ),
                );
                return self.unreadable(number, line, raw.content, &words);
            }
        };
        match tokens[0].text {
            "}" => self.close_block(number, line, &tokens),
            "{" if awaiting_brace && tokens.len() == 1 => self.push_item(Item::Line(line)),
            "virtual" => self.open_block(BlockKind::Virtual, number, line, text, &tokens),
            "failover" => self.open_block(BlockKind::Failover, number, line, text, &tokens),
            "server" => self.open_block(BlockKind::Server, number, line, text, &tokens),
            _ => self.directive(number, line, text, &tokens),
        }
    }

    fn open_block(
        &mut self,
        kind: BlockKind,
        number: usize,
        header: Line,
        text: &str,
        tokens: &[Token],
    ) {
        let keyword = kind.keyword();
        let (mut name, name_range) = match tokens.get(1) {
            Some(token) => (token.value.to_string(), token.start..token.end),
            None => (String::new(), text.len()..text.len()),
        };
        match tokens {
            [_] => self.error(
                number,
                end_column(text),
                Some(keyword),
                format!("missing arguments: '{keyword}' needs a name and '{{' ({keyword} NAME {{)"),
            ),
            [_, glued] if glued.text.len() > 1 && glued.text.ends_with('{') => {
                name.pop();
                self.error(
                    number,
                    glued.column,
                    Some(keyword),
                    format!("missing arguments: put a blank between the name and '{{' ({keyword} {name} {{)"),
                );
            }
            [_, _] => {
                self.awaiting_brace = true;
                self.error(
                    number,
                    end_column(text),
                    Some(keyword),
                    format!("missing arguments: '{{' expected after '{keyword} {name}', on the same line"),
                );
            }
            [_, _, brace, ..] if brace.text != "{" => self.error(
                number,
                brace.column,
                Some(keyword),
                format!(
                    "'{{' expected after '{keyword} {name}', found '{}'",
                    brace.text
                ),
            ),
            [_, _, _, extra, ..] => self.error(
                number,
                extra.column,
                Some(keyword),
                "unexpected arguments after '{'".into(),
            ),
            _ => {}
        }
        let orphan = self.check_nesting(kind, number, tokens[0].column);
        let body = match kind {
            BlockKind::Server => Body::Server(RealServer::new(name.clone())),
            _ => Body::Virtual(Box::new(VirtualServer::new(name.clone()))),
        };
        self.stack.push(OpenBlock {
            block: Block {
                kind,
                name,
                name_range,
                header,
                items: Vec::new(),
                close: None,
            },
            body,
            span: BlockSpan {
                line: number,
                ..BlockSpan::default()
            },
            orphan,
        });
    }

    /// Reports a block opened where it cannot be and closes what must be closed so the
    /// rest of the file is read in the right place. Returns whether the block is an orphan.
    fn check_nesting(&mut self, kind: BlockKind, number: usize, column: usize) -> bool {
        let keyword = kind.keyword();
        let parent = self
            .stack
            .last()
            .map(|o| (o.block.kind, o.block.name.clone()));
        match (kind, parent) {
            (BlockKind::Server, Some((BlockKind::Server, name))) => {
                self.error(
                    number,
                    column,
                    Some(keyword),
                    format!("'server' block inside server '{name}': is a '}}' missing above?"),
                );
                self.close_open(1);
                self.closed_early += 1;
                self.stack.last().is_none_or(|o| o.orphan)
            }
            (BlockKind::Server, Some(_)) => self.stack.last().is_some_and(|o| o.orphan),
            (BlockKind::Server, None) => {
                self.error(
                    number,
                    column,
                    Some(keyword),
                    "unknown command: a 'server' block must be inside a 'virtual' block".into(),
                );
                true
            }
            (_, Some((parent_kind, name))) => {
                self.error(
                    number,
                    column,
                    Some(keyword),
                    format!(
                        "'{keyword}' block inside {} '{name}': is a '}}' missing above?",
                        parent_kind.keyword()
                    ),
                );
                self.closed_early += self.stack.len();
                self.close_open(self.stack.len());
                false
            }
            (_, None) => false,
        }
    }

    fn close_open(&mut self, count: usize) {
        for _ in 0..count {
            if let Some(open) = self.stack.pop() {
                self.attach(open);
            }
        }
    }

    fn close_block(&mut self, number: usize, line: Line, tokens: &[Token]) {
        let Some(mut open) = self.stack.pop() else {
            if self.closed_early > 0 {
                self.closed_early -= 1;
                return self.push_item(Item::Line(line));
            }
            self.error(
                number,
                tokens[0].column,
                None,
                "unknown command: '}' without an open block".into(),
            );
            return self.push_item(Item::Line(line));
        };
        if let Some(extra) = tokens.get(1) {
            self.warning(
                number,
                extra.column,
                None,
                "text after '}' is ignored (as Piranha did); remove it".into(),
            );
        }
        open.block.close = Some(line);
        self.attach(open);
    }

    fn attach(&mut self, open: OpenBlock) {
        let OpenBlock {
            block,
            body,
            span,
            orphan,
        } = open;
        let kind = block.kind;
        if orphan {
            return self.push_item(Item::Block(block));
        }
        match (body, self.stack.last_mut()) {
            (Body::Server(server), Some(parent)) => {
                if let Body::Virtual(virtual_server) = &mut parent.body {
                    virtual_server.servers.push(server);
                    parent.span.servers.push(span);
                }
                parent.block.items.push(Item::Block(block));
            }
            (Body::Virtual(virtual_server), _) => {
                if kind == BlockKind::Failover {
                    self.config.failover_services.push(*virtual_server);
                    self.spans.failover_services.push(span);
                } else {
                    self.config.virtual_servers.push(*virtual_server);
                    self.spans.virtual_servers.push(span);
                }
                self.items.push(Item::Block(block));
            }
            (Body::Server(_), None) => self.items.push(Item::Block(block)),
        }
    }

    fn skip_unknown_block(&mut self, content: &[u8], words: &[Range<usize>]) {
        let word = |range: Option<&Range<usize>>| range.map(|r| &content[r.clone()]);
        if word(words.first()) == Some(b"}") {
            self.skipping -= 1;
        } else if word(words.last()) == Some(b"{") {
            self.skipping += 1;
        }
    }

    /// A line that could not be cut into tokens (already reported). When it still
    /// reads as a block header (`virtual "web {`), the block is opened anyway, so its
    /// body and its `}` are read in the right place instead of giving follow-up errors.
    fn unreadable(&mut self, number: usize, line: Line, content: &[u8], words: &[Range<usize>]) {
        let word = |i: usize| &content[words[i].clone()];
        let kind = match words.first().map(|r| &content[r.clone()]) {
            Some(b"virtual") => BlockKind::Virtual,
            Some(b"failover") => BlockKind::Failover,
            Some(b"server") => BlockKind::Server,
            _ => return self.push_item(Item::Line(line)),
        };
        let last = words.len() - 1;
        if last < 2 || word(last) != b"{" {
            return self.push_item(Item::Line(line));
        }
        let ranges = [
            words[0].clone(),
            words[1].start..words[last - 1].end,
            words[last].clone(),
        ];
        let texts: Vec<String> = ranges
            .iter()
            .map(|r| String::from_utf8_lossy(&content[r.clone()]).into_owned())
            .collect();
        let tokens: Vec<Token> = ranges
            .iter()
            .zip(&texts)
            .map(|(range, text)| Token {
                text,
                value: text,
                quote: None,
                column: String::from_utf8_lossy(&content[..range.start])
                    .chars()
                    .count()
                    + 1,
                start: range.start,
                end: range.end,
            })
            .collect();
        let text = String::from_utf8_lossy(content).into_owned();
        self.open_block(kind, number, line, &text, &tokens);
    }

    /// An unknown word opening a `{` block: one error for the whole block.
    fn unknown_block(&mut self, number: usize, tokens: &[Token]) -> bool {
        let name = tokens[0].text;
        let opens_block = tokens.len() >= 2 && tokens.last().is_some_and(|t| t.text == "{");
        if !opens_block || keywords::home_of(name).is_some() {
            return false;
        }
        self.skipping = 1;
        // Quote the header as written, shortened: `virtual_server 192.0.2.10 80 {`.
        let header = match tokens.len() {
            2 => format!("{name} {{"),
            _ => format!("{name} ... {{"),
        };
        self.error(
            number,
            tokens[0].column,
            Some(name),
            format!("unknown command: '{header}' is not an lvs.cf block (only virtual, failover and server are); is this keepalived.conf syntax? The block is skipped"),
        );
        true
    }

    fn directive(&mut self, number: usize, mut line: Line, text: &str, tokens: &[Token]) {
        if self.unknown_block(number, tokens) {
            return self.push_item(Item::Line(line));
        }
        let mut found = Vec::new();
        let c = Context {
            number,
            text,
            tokens,
            cx: &mut self.cx,
            out: &mut found,
        };
        let range = match self.stack.last_mut() {
            None => apply(
                keywords::GLOBAL,
                &mut self.config.global,
                &mut self.spans.global,
                Scope::Global,
                c,
            ),
            Some(open) => match &mut open.body {
                Body::Virtual(target) => apply(
                    keywords::VIRTUAL,
                    target,
                    &mut open.span,
                    Scope::Virtual(open.block.kind),
                    c,
                ),
                Body::Server(target) => {
                    apply(keywords::SERVER, target, &mut open.span, Scope::Server, c)
                }
            },
        };
        self.diagnostics.extend(found);
        if let Some((keyword, values)) = range {
            line.directive = Some(Directive { keyword, values });
        }
        self.push_item(Item::Line(line));
    }

    fn finish(mut self, whole_file: bool) -> Parsed {
        while let Some(open) = self.stack.pop() {
            let keyword = open.block.kind.keyword();
            let message = format!(
                "{keyword} '{}' is not closed before the end of the file; a '}}' is missing (Piranha accepted this)",
                open.block.name
            );
            self.warning(open.span.line, 0, Some(keyword), message);
            self.attach(open);
        }
        if whole_file && !self.saw_setting {
            self.error(
                0,
                0,
                None,
                "empty configuration: the file has no settings".into(),
            );
        }
        diagnostics::sort(&mut self.diagnostics);
        Parsed {
            config: self.config,
            document: Document { items: self.items },
            spans: self.spans,
            diagnostics: self.diagnostics,
        }
    }
}

#[derive(Clone, Copy)]
enum Scope {
    Global,
    Virtual(BlockKind),
    Server,
}

impl Scope {
    fn describe(self) -> &'static str {
        match self {
            Scope::Global => "the global section",
            Scope::Virtual(BlockKind::Failover) => "a failover block",
            Scope::Virtual(_) => "a virtual block",
            Scope::Server => "a server block",
        }
    }

    fn block_keywords(self) -> &'static [&'static str] {
        match self {
            Scope::Global => &["virtual", "failover"],
            Scope::Virtual(_) => &["server"],
            Scope::Server => &[],
        }
    }
}

struct Context<'a, 'r> {
    number: usize,
    text: &'a str,
    tokens: &'a [Token<'a>],
    cx: &'a mut ParseContext<'r>,
    out: &'a mut Vec<Diagnostic>,
}

/// Reads one `keyword = values` line into `target`; returns the keyword and the byte
/// range of the values when it was accepted.
fn apply<B>(
    table: &'static [Keyword<B>],
    target: &mut B,
    span: &mut BlockSpan,
    scope: Scope,
    c: Context,
) -> Option<(&'static str, Range<usize>)> {
    let name = c.tokens[0].text;
    let at =
        |column: usize, message: String| Diagnostic::error(c.number, column, Some(name), message);
    let Some(keyword) = keywords::lookup(table, name) else {
        // `port=80`: the keyword is known, only the blanks around '=' are missing.
        if let Some((word, _)) = name.split_once('=')
            && keywords::lookup(table, word).is_some()
        {
            let column = c.tokens[0].column + word.chars().count();
            c.out.push(at(
                column,
                format!("equal (=) expected after '{word}', separated by blanks"),
            ));
        } else {
            c.out
                .push(at(c.tokens[0].column, unknown_keyword(name, table, scope)));
        }
        return None;
    };
    match c.tokens.get(1) {
        Some(equals) if equals.text == "=" => {}
        other => {
            let column = other.map_or(end_column(c.text), |t| t.column);
            c.out.push(at(
                column,
                format!("equal (=) expected after '{name}', separated by blanks"),
            ));
            return None;
        }
    }
    let mut values = &c.tokens[2..];
    let kept = count_before_comment(keyword.arity, values);
    if kept < values.len() {
        c.out.push(Diagnostic::warning(
            c.number,
            values[kept].column,
            Some(name),
            "trailing comment ignored; Piranha rejects comments after a value (unexpected arguments)",
        ));
        values = &values[..kept];
    }
    if let Some(message) = arity_mismatch(name, keyword.arity, values.len()) {
        let column = match values.get(expected_count(keyword.arity)) {
            Some(extra) if values.len() > expected_count(keyword.arity) => extra.column,
            _ => end_column(c.text),
        };
        c.out.push(at(column, message));
        return None;
    }
    c.cx.warnings.clear();
    if let Err(problem) = (keyword.set)(target, values, c.cx) {
        let column = values
            .get(problem.token)
            .map_or(end_column(c.text), |t| t.column);
        c.out
            .push(at(column, format!("'{name}': {}", problem.message)));
        return None;
    }
    for (token, message) in c.cx.warnings.drain(..) {
        let column = values.get(token).map_or(0, |t| t.column);
        c.out.push(Diagnostic::warning(
            c.number,
            column,
            Some(name),
            format!("'{name}': {message}"),
        ));
    }
    let first_column = values.first().map_or(0, |t| t.column);
    if let Some((line, _)) = span
        .keywords
        .insert(name.to_string(), (c.number, first_column))
    {
        c.out.push(Diagnostic::warning(
            c.number,
            c.tokens[0].column,
            Some(name),
            format!("'{name}' is set again (first on line {line}); the last value counts"),
        ));
    }
    if keyword.origin == Origin::Ignored {
        c.out.push(Diagnostic::warning(
            c.number,
            c.tokens[0].column,
            Some(name),
            format!("'{name}' has no effect in shoal: {}", keyword.help),
        ));
    }
    let start = values.first().map_or(c.text.len(), |t| t.start);
    let end = values.last().map_or(c.text.len(), |t| t.end);
    Some((keyword.name, start..end))
}

/// How many value tokens come before a trailing `# comment` that shoal tolerates.
fn count_before_comment(arity: Arity, values: &[Token]) -> usize {
    let is_comment = |t: &Token| t.quote.is_none() && t.text.starts_with('#');
    let from = match arity {
        Arity::Exactly(n) => n,
        Arity::OneOrMore => 1,
        Arity::BracketList => values
            .iter()
            .position(|t| t.text == "]")
            .map_or(values.len(), |i| i + 1),
    };
    values
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, t)| is_comment(t))
        .map_or(values.len(), |(i, _)| i)
}

fn expected_count(arity: Arity) -> usize {
    match arity {
        Arity::Exactly(n) => n,
        Arity::OneOrMore => 1,
        Arity::BracketList => 2,
    }
}

/// Why `found` value tokens are not what `name` takes, in the words `shoal check` uses;
/// `None` when the count is right (the web UI checks a field's value the same way).
pub fn arity_mismatch(name: &str, arity: Arity, found: usize) -> Option<String> {
    arity_problem(arity, found)
        .map(|message| format!("{message}: '{name}' {}", describe_arity(arity)))
}

fn arity_problem(arity: Arity, found: usize) -> Option<&'static str> {
    match arity {
        Arity::Exactly(n) if found < n => Some("missing arguments"),
        Arity::Exactly(n) if found > n => Some("unexpected arguments"),
        // A list's reader says what is wrong with it ("list expected"), as Piranha did.
        Arity::OneOrMore if found < expected_count(arity) => Some("missing arguments"),
        _ => None,
    }
}

fn describe_arity(arity: Arity) -> &'static str {
    match arity {
        Arity::Exactly(1) => "takes one value (quote a value that contains blanks)",
        Arity::Exactly(2) => {
            "takes two values: an address and a device (such as 192.0.2.10 eth0:1)"
        }
        Arity::Exactly(_) => "takes a fixed number of values",
        Arity::OneOrMore => "takes one or more values",
        Arity::BracketList => "takes a list: [ a b c ]",
    }
}

fn unknown_keyword<B>(name: &str, table: &'static [Keyword<B>], scope: Scope) -> String {
    if let Some(place) = keywords::home_of(name) {
        return format!(
            "unknown command: '{name}' belongs in {place}, not in {} (is a '}}' missing or extra?)",
            scope.describe()
        );
    }
    let candidates = keywords::names(table).chain(scope.block_keywords().iter().copied());
    match keywords::suggest(name, candidates) {
        Some(close) => format!("unknown command '{name}' (did you mean '{close}'?)"),
        None => format!("unknown command '{name}' in {}", scope.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::StaticResolver;

    fn parsed(text: &str) -> Parsed {
        parse(text.as_bytes(), &StaticResolver::default())
    }

    #[test]
    fn the_document_gives_back_every_byte() {
        let text = "# c\r\nprimary = 192.0.2.1\r\n\r\nvirtual web {\n\tactive = 1\n  server a {\n address = 198.51.100.1\n }\n} trailing\n";
        assert_eq!(parsed(text).document.to_bytes(), text.as_bytes());
    }

    #[test]
    fn unknown_blocks_are_one_error() {
        let p = parsed("global_defs {\n router_id x\n nested {\n }\n}\nprimary = 192.0.2.1\n");
        let errors: Vec<_> = p.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            p.config.global.primary,
            Some("192.0.2.1".parse().expect("ip"))
        );
    }

    #[test]
    fn blocks_fill_the_model() {
        let p = parsed(
            "virtual web {\n active = 1\n server a {\n  weight = 3\n }\n}\nfailover f {\n}\n",
        );
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(p.config.virtual_servers[0].servers[0].weight, 3);
        assert_eq!(p.config.failover_services[0].name, "f");
        assert_eq!(p.spans.virtual_servers[0].servers[0].at("weight"), (4, 12));
    }
}
