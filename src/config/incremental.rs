//! Re-checking lvs.cf after an edit by reading again only the top-level blocks the edit
//! touched.
//!
//! A director with 10,000 virtual servers has a 2 MB lvs.cf; reading and checking all
//! of it takes longer than a reload should, when the administrator changed one weight.
//! The bytes before and after the edit are the same as in the running version, so the
//! blocks they hold parse the same: only the top-level blocks that overlap the changed
//! bytes are parsed again, as a fragment, and spliced into the running model, document,
//! places and findings. The result is exactly what a full check of the new file gives
//! (a test compares the two over many edits); whenever that cannot be guaranteed cheaply
//! (a global setting or a failover block changed, line numbers moved under a finding,
//! or the new text has an error) the whole file is checked instead.

use std::ops::Range;

use super::diagnostics::{self, Diagnostic};
use super::document::{Block, Item, Line};
use super::model::VirtualServer;
use super::parse::{self, BlockSpan, Parsed};
use super::resolve::Resolver;
use super::validate::{self, KernelFeatures};
use super::{Loaded, check};

/// Where each top-level item of a checked file starts, so an edit can be mapped to the
/// blocks it touched without reading the rest of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    entries: Vec<Entry>,
    /// Bytes in the file.
    bytes: usize,
    /// Lines in the file.
    lines: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Byte offset of the item's first line.
    start: usize,
    /// 1-based number of its first line.
    line: usize,
    /// How many `virtual` blocks come before it.
    virtuals_before: usize,
    kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    /// A blank or comment line: nothing in the model depends on it.
    Quiet,
    /// A `virtual` block.
    Virtual,
    /// A global setting, a failover block or anything else: an edit there is re-read
    /// with the whole file.
    Other,
}

fn line_size(line: &Line) -> usize {
    line.content.len() + line.ending.bytes().len()
}

/// Bytes and lines of a block, header and `}` included.
fn block_size(block: &Block) -> (usize, usize) {
    let (mut bytes, mut lines) = (line_size(&block.header), 1);
    for item in &block.items {
        let (b, l) = item_size(item);
        bytes += b;
        lines += l;
    }
    if let Some(close) = &block.close {
        bytes += line_size(close);
        lines += 1;
    }
    (bytes, lines)
}

fn item_size(item: &Item) -> (usize, usize) {
    match item {
        Item::Line(line) => (line_size(line), 1),
        Item::Block(block) => block_size(block),
    }
}

fn is_quiet(line: &Line) -> bool {
    let first = line
        .content
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c'));
    matches!(first, None | Some(b'#'))
}

fn kind_of(item: &Item) -> EntryKind {
    match item {
        Item::Line(line) if is_quiet(line) => EntryKind::Quiet,
        Item::Block(block) if block.kind == super::document::BlockKind::Virtual => {
            EntryKind::Virtual
        }
        _ => EntryKind::Other,
    }
}

impl Outline {
    /// The outline of a parsed document. Counts only `virtual` blocks that reached the
    /// model, so it is meant for documents without errors (the only ones reused).
    pub fn of(items: &[Item]) -> Self {
        let mut outline = Outline::default();
        let mut virtuals = 0;
        for item in items {
            let kind = kind_of(item);
            outline.entries.push(Entry {
                start: outline.bytes,
                line: outline.lines + 1,
                virtuals_before: virtuals,
                kind,
            });
            let (bytes, lines) = item_size(item);
            outline.bytes += bytes;
            outline.lines += lines;
            virtuals += usize::from(kind == EntryKind::Virtual);
        }
        outline
    }

    fn start(&self, index: usize) -> usize {
        self.entries.get(index).map_or(self.bytes, |e| e.start)
    }

    fn line(&self, index: usize) -> usize {
        self.entries.get(index).map_or(self.lines + 1, |e| e.line)
    }

    fn virtuals_before(&self, index: usize) -> usize {
        match self.entries.get(index) {
            Some(entry) => entry.virtuals_before,
            None => self.entries.last().map_or(0, |e| {
                e.virtuals_before + usize::from(e.kind == EntryKind::Virtual)
            }),
        }
    }

    /// The entry holding byte `offset` (which is inside the file).
    fn containing(&self, offset: usize) -> usize {
        self.entries.partition_point(|e| e.start <= offset) - 1
    }

    /// The whole entries that cover the bytes `changed` of the old file: an empty range
    /// on a boundary between entries (a pure insertion there) covers none.
    fn covering(&self, changed: Range<usize>) -> Range<usize> {
        let first = match changed.start {
            p if p >= self.bytes => self.entries.len(),
            p => self.containing(p),
        };
        let on_boundary = self.start(first) == changed.start;
        let end = if changed.end > changed.start {
            self.containing(changed.end - 1) + 1
        } else if on_boundary {
            first
        } else {
            first + 1
        };
        first..end
    }
}

/// What a reload must do after [`Loaded::update`].
#[derive(Debug)]
pub enum Change {
    /// The file has the same bytes.
    Unchanged,
    /// Only virtual servers changed: `removed` were the ones at `at..` and the new
    /// configuration has `added` virtual servers there instead; everything else is the same.
    Virtual {
        /// Index of the first replaced virtual server.
        at: usize,
        /// The virtual servers that were there before.
        removed: Vec<VirtualServer>,
        /// How many virtual servers replace them.
        added: usize,
    },
    /// Anything else: the whole configuration is to be compared.
    Whole,
}

/// The part of a new file that differs from the running one, as whole top-level entries.
struct Region {
    entries: Range<usize>,
    /// Old bytes of those entries.
    old: Range<usize>,
    /// New bytes of what replaces them.
    new: Range<usize>,
    virtuals: Range<usize>,
    first_line: usize,
    old_lines: usize,
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[u8], b: &[u8], limit: usize) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take(limit)
        .take_while(|(x, y)| x == y)
        .count()
}

/// Whether `at` in `bytes` is where a line starts, exactly as the lexer would split it.
fn line_starts_at(bytes: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|i| bytes[i]) {
        None => true,
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(at) != Some(&b'\n'),
        Some(_) => false,
    }
}

fn region(outline: &Outline, old: &[u8], new: &[u8]) -> Option<Region> {
    let prefix = common_prefix(old, new);
    let suffix = common_suffix(old, new, old.len().min(new.len()) - prefix);
    let entries = outline.covering(prefix..old.len() - suffix);
    let reusable = outline.entries[entries.clone()]
        .iter()
        .all(|e| e.kind != EntryKind::Other);
    let (start, end) = (outline.start(entries.start), outline.start(entries.end));
    let new_end = (end + new.len()).checked_sub(old.len())?;
    let whole_lines = line_starts_at(new, start) && line_starts_at(new, new_end);
    (reusable && whole_lines && new_end >= start).then(|| Region {
        virtuals: outline.virtuals_before(entries.start)..outline.virtuals_before(entries.end),
        first_line: outline.line(entries.start),
        old_lines: outline.line(entries.end) - outline.line(entries.start),
        entries,
        old: start..end,
        new: start..new_end,
    })
}

/// Whether a parsed fragment can stand in for the old entries: only virtual blocks and
/// comments, no error, every block closed unless the file ends inside it, no finding
/// about the file as a whole.
fn fragment_fits(fragment: &Parsed, reaches_end_of_file: bool) -> bool {
    let items_fit = fragment.document.items.iter().all(|item| match item {
        Item::Line(line) => is_quiet(line),
        Item::Block(block) => {
            block.kind == super::document::BlockKind::Virtual
                && (block.close.is_some() || reaches_end_of_file)
        }
    });
    items_fit
        && fragment.config.failover_services.is_empty()
        && fragment
            .diagnostics
            .iter()
            .all(|d| !d.is_error() && d.line > 0)
}

fn shift_line(line: &mut usize, from: usize, by: isize) {
    if *line >= from {
        *line = line.saturating_add_signed(by);
    }
}

fn shift_span(span: &mut BlockSpan, from: usize, by: isize) {
    shift_line(&mut span.line, from, by);
    for (line, _) in span.keywords.values_mut() {
        shift_line(line, from, by);
    }
    for server in &mut span.servers {
        shift_span(server, from, by);
    }
}

/// What identifies a virtual server to the checks that compare blocks with each other and
/// to the global checks: when none of it changed, their findings cannot have changed.
fn identity(vs: &VirtualServer) -> impl PartialEq + '_ {
    (
        &vs.name,
        vs.active,
        vs.address.as_ref().map(|a| a.address),
        vs.protocol,
        vs.port,
        vs.fwmark,
        vs.persistent,
        vs.forwarding,
    )
}

impl Loaded {
    /// Takes the file's new bytes. When they are valid, this becomes the new version and
    /// the change is returned; when they are not, this stays as it was and the checked
    /// new version (with its errors) is returned instead.
    pub fn update(
        &mut self,
        bytes: Vec<u8>,
        resolver: &dyn Resolver,
        kernel: &KernelFeatures,
    ) -> Result<Change, Box<Loaded>> {
        if bytes == self.source && !self.has_errors() {
            return Ok(Change::Unchanged);
        }
        if let Some(change) = self.splice_edit(&bytes, resolver, kernel) {
            self.source = bytes;
            return Ok(change);
        }
        let loaded = check(&bytes, resolver, kernel);
        if loaded.has_errors() {
            return Err(Box::new(loaded));
        }
        *self = loaded;
        Ok(Change::Whole)
    }

    /// Re-reads only the entries the edit touched, when the result is sure to equal a
    /// full check and is valid; `None` leaves `self` untouched.
    fn splice_edit(
        &mut self,
        new: &[u8],
        resolver: &dyn Resolver,
        kernel: &KernelFeatures,
    ) -> Option<Change> {
        if self.has_errors() || self.outline.bytes != self.source.len() {
            return None;
        }
        let region = region(&self.outline, &self.source, new)?;
        let fragment = parse::parse_fragment(&new[region.new.clone()], resolver, region.first_line);
        if !fragment_fits(&fragment, region.new.end == new.len()) {
            return None;
        }
        let outside = self.outline.entries[..region.entries.start]
            .iter()
            .chain(&self.outline.entries[region.entries.end..]);
        let has_settings = fragment
            .document
            .items
            .iter()
            .any(|i| matches!(i, Item::Block(_)))
            || outside.clone().any(|e| e.kind != EntryKind::Quiet);
        if !has_settings {
            // The whole file's "empty configuration" error is for a full check to report.
            return None;
        }
        let fragment_outline = Outline::of(&fragment.document.items);
        let line_delta = fragment_outline.lines as isize - region.old_lines as isize;
        let old_end_line = region.first_line + region.old_lines;
        if line_delta != 0 && self.diagnostics.iter().any(|d| d.line >= old_end_line) {
            // A finding's text may quote a line number ("first on line 12").
            return None;
        }
        let per_virtual: Vec<Vec<Diagnostic>> = fragment
            .config
            .virtual_servers
            .iter()
            .zip(&fragment.spans.virtual_servers)
            .map(|(vs, span)| validate::validate_virtual(&self.config, vs, span, kernel))
            .collect();
        if per_virtual.iter().flatten().any(Diagnostic::is_error) {
            return None;
        }
        let same_identities = fragment.config.virtual_servers.len() == region.virtuals.len()
            && fragment
                .config
                .virtual_servers
                .iter()
                .zip(&self.config.virtual_servers[region.virtuals.clone()])
                .all(|(new, old)| identity(new) == identity(old));
        let undo = self.splice(region, fragment, fragment_outline, per_virtual, line_delta);
        if !same_identities {
            let whole_file = validate::validate_whole_file(&self.config, &self.spans);
            if whole_file.iter().any(Diagnostic::is_error) {
                self.unsplice(undo);
                return None;
            }
            self.findings.whole_file = whole_file;
        }
        self.diagnostics = self.assemble_diagnostics();
        Some(Change::Virtual {
            at: undo.virtuals.start,
            added: undo.virtuals.len(),
            removed: undo.config,
        })
    }

    fn splice(
        &mut self,
        region: Region,
        fragment: Parsed,
        fragment_outline: Outline,
        per_virtual: Vec<Vec<Diagnostic>>,
        line_delta: isize,
    ) -> Undo {
        let old_end_line = region.first_line + region.old_lines;
        let new_end_line = old_end_line.saturating_add_signed(line_delta);
        let outline = self.outline.clone();
        let parse_findings = self.parse_findings.clone();
        let whole_file = self.findings.whole_file.clone();
        let first_line = region.first_line;
        self.parse_findings
            .retain(|d| d.line < first_line || d.line >= old_end_line);
        if line_delta != 0 {
            self.shift_lines_from(old_end_line, line_delta);
        }
        self.parse_findings.extend(fragment.diagnostics);
        diagnostics::sort(&mut self.parse_findings);
        self.splice_outline(&region, fragment_outline);
        let items = region.entries.start..region.entries.start + fragment.document.items.len();
        let virtuals = region.virtuals.start..region.virtuals.start + per_virtual.len();
        Undo {
            document: self
                .document
                .items
                .splice(region.entries, fragment.document.items)
                .collect(),
            config: self
                .config
                .virtual_servers
                .splice(region.virtuals.clone(), fragment.config.virtual_servers)
                .collect(),
            spans: self
                .spans
                .virtual_servers
                .splice(region.virtuals.clone(), fragment.spans.virtual_servers)
                .collect(),
            per_virtual: self
                .findings
                .per_virtual
                .splice(region.virtuals, per_virtual)
                .collect(),
            items,
            virtuals,
            outline,
            parse_findings,
            whole_file,
            new_end_line,
            line_delta,
        }
    }

    /// Puts the fragment's entries in place of the region's, and moves the later ones.
    fn splice_outline(&mut self, region: &Region, fragment: Outline) {
        let byte_delta = region.new.len() as isize - region.old.len() as isize;
        let line_delta = fragment.lines as isize - region.old_lines as isize;
        let added_virtuals = fragment.virtuals_before(fragment.entries.len());
        let virtual_delta = added_virtuals as isize - region.virtuals.len() as isize;
        let (byte_base, line_base) = (region.old.start, region.first_line - 1);
        let placed = fragment.entries.iter().map(|e| Entry {
            start: e.start + byte_base,
            line: e.line + line_base,
            virtuals_before: e.virtuals_before + region.virtuals.start,
            kind: e.kind,
        });
        let after = region.entries.start + fragment.entries.len();
        self.outline.entries.splice(region.entries.clone(), placed);
        for entry in &mut self.outline.entries[after..] {
            entry.start = entry.start.saturating_add_signed(byte_delta);
            entry.line = entry.line.saturating_add_signed(line_delta);
            entry.virtuals_before = entry.virtuals_before.saturating_add_signed(virtual_delta);
        }
        self.outline.bytes = self.outline.bytes.saturating_add_signed(byte_delta);
        self.outline.lines = self.outline.lines.saturating_add_signed(line_delta);
    }

    /// Moves every place at or after `from` by `by` lines: the virtual servers after the
    /// edit, global settings written after the blocks, failover blocks, findings.
    fn shift_lines_from(&mut self, from: usize, by: isize) {
        for span in self
            .spans
            .virtual_servers
            .iter_mut()
            .chain(self.spans.failover_services.iter_mut())
        {
            shift_span(span, from, by);
        }
        for (line, _) in self.spans.global.keywords.values_mut() {
            shift_line(line, from, by);
        }
        for d in self
            .parse_findings
            .iter_mut()
            .chain(self.findings.whole_file.iter_mut())
            .chain(self.findings.per_virtual.iter_mut().flatten())
        {
            shift_line(&mut d.line, from, by);
        }
    }

    fn unsplice(&mut self, undo: Undo) {
        if undo.line_delta != 0 {
            // Before the old blocks are back, every place at or after the new end
            // belongs to what followed the edit.
            self.shift_lines_from(undo.new_end_line, -undo.line_delta);
        }
        self.document.items.splice(undo.items, undo.document);
        let virtuals = undo.virtuals;
        self.config
            .virtual_servers
            .splice(virtuals.clone(), undo.config);
        self.spans
            .virtual_servers
            .splice(virtuals.clone(), undo.spans);
        self.findings.per_virtual.splice(virtuals, undo.per_virtual);
        self.findings.whole_file = undo.whole_file;
        self.parse_findings = undo.parse_findings;
        self.outline = undo.outline;
    }
}

/// What [`Loaded::splice`] took out or changed, to put it back when the spliced whole
/// turns out invalid.
struct Undo {
    /// Where the fragment's items now are, in the document.
    items: Range<usize>,
    /// Where its virtual servers now are, in the model.
    virtuals: Range<usize>,
    document: Vec<Item>,
    config: Vec<VirtualServer>,
    spans: Vec<BlockSpan>,
    per_virtual: Vec<Vec<Diagnostic>>,
    outline: Outline,
    parse_findings: Vec<Diagnostic>,
    whole_file: Vec<Diagnostic>,
    new_end_line: usize,
    line_delta: isize,
}
