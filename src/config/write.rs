//! Writing a changed model back into lvs.cf without damaging it.
//!
//! Only what changed is touched: a changed value is rewritten in its own line (the
//! line's indentation and any trailing comment stay), a new value is added in its block
//! after the block's other settings, a removed one loses its line, and comments, blank
//! lines and order are kept. Nothing is ever truncated. The result is read back before
//! it is returned, so a model that cannot be written faithfully is an error, not a file.

use std::path::{Path, PathBuf};

use super::atomic::{AtomicWriteError, replace_file};
use super::diagnostics::Diagnostic;
use super::document::{Block, BlockKind, Directive, Document, Item, Line, LineEnding};
use super::keywords::{self, Keyword};
use super::model::{Config, RealServer, VirtualServer};
use super::parse::parse;
use super::resolve::Resolver;
use super::validate::KernelFeatures;
use super::{Loaded, check};

/// A model that lvs.cf cannot express.
#[derive(Debug, thiserror::Error)]
#[error("cannot write this configuration to lvs.cf: {0}")]
pub struct WriteError(String);

/// Why saving did not happen; in every case the file on disk is as it was.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The file could not be read to check for concurrent changes.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Someone changed the file since it was loaded; their change must not be lost.
    #[error(
        "{path} was changed by someone else since it was loaded (serial_no {loaded} then, {on_disk} now); nothing was written: reload it and make the change again"
    )]
    Conflict {
        /// The file.
        path: PathBuf,
        /// The serial the writer loaded.
        loaded: u64,
        /// The serial on disk now.
        on_disk: u64,
        /// The file's current bytes, to show both versions.
        current: Vec<u8>,
    },
    /// The model cannot be written.
    #[error(transparent)]
    Unwritable(#[from] WriteError),
    /// The new configuration has errors; a bad config never replaces a good one.
    #[error("the new configuration is invalid, nothing was written:\n{}", render_errors(.0))]
    Invalid(Vec<Diagnostic>),
    /// The atomic replace failed.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

fn render_errors(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render("lvs.cf"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `new` into the document that `old` was parsed from.
pub fn update(
    document: &Document,
    old: &Config,
    new: &Config,
    resolver: &dyn Resolver,
) -> Result<Vec<u8>, WriteError> {
    if old == new {
        return Ok(document.to_bytes());
    }
    let mut items = document.items.clone();
    let writer = Writer {
        ending: document.ending(),
    };
    end_last_line(&mut items, writer.ending);
    writer.directives(keywords::GLOBAL, &old.global, &new.global, &mut items, b"");
    writer.blocks(
        &mut items,
        BlockKind::Virtual,
        &old.virtual_servers,
        &new.virtual_servers,
        b"",
    );
    writer.blocks(
        &mut items,
        BlockKind::Failover,
        &old.failover_services,
        &new.failover_services,
        b"",
    );
    let bytes = Document { items }.to_bytes();
    read_back(&bytes, new, resolver)?;
    Ok(bytes)
}

/// Writes a model as a new file.
pub fn render(config: &Config, resolver: &dyn Resolver) -> Result<Vec<u8>, WriteError> {
    update(&Document::default(), &Config::default(), config, resolver)
}

/// Proves the bytes mean `new`: the guard that makes a lossy write impossible.
fn read_back(bytes: &[u8], new: &Config, resolver: &dyn Resolver) -> Result<(), WriteError> {
    let parsed = parse(bytes, resolver);
    if let Some(error) = parsed.diagnostics.iter().find(|d| d.is_error()) {
        return Err(WriteError(format!(
            "the result would not parse: {}",
            error.render("lvs.cf")
        )));
    }
    if parsed.config != *new {
        return Err(WriteError(describe_difference(&parsed.config, new)));
    }
    Ok(())
}

fn describe_difference(read: &Config, wanted: &Config) -> String {
    let names =
        |c: &Config| -> Vec<String> { c.virtual_servers.iter().map(|v| v.name.clone()).collect() };
    if names(read) != names(wanted) {
        return format!(
            "virtual server names {:?} do not read back as themselves (names are single words without quotes)",
            names(wanted)
        );
    }
    let differing = read
        .virtual_servers
        .iter()
        .zip(&wanted.virtual_servers)
        .find(|(r, w)| r != w)
        .map(|(_, w)| format!("virtual server '{}'", w.name))
        .unwrap_or_else(|| "the global settings or failover blocks".into());
    format!("{differing} would not read back as written (a value lvs.cf cannot express)")
}

/// Makes sure a line can follow the last line of the file.
fn end_last_line(items: &mut [Item], ending: LineEnding) {
    let last = match items.last_mut() {
        Some(Item::Line(line)) => line,
        Some(Item::Block(block)) => match block.close.as_mut() {
            Some(close) => close,
            None if block.items.is_empty() => &mut block.header,
            None => return end_last_line(&mut block.items, ending),
        },
        None => return,
    };
    if last.ending == LineEnding::None {
        last.ending = ending;
    }
}

/// Closes a block the file ended in (Piranha accepts that), and the block it ended in
/// in turn, so that what is written after it is not read as part of it.
fn close_open_block(block: &mut Block, ending: LineEnding) {
    if block.close.is_some() {
        return;
    }
    if let Some(Item::Block(inner)) = block.items.last_mut() {
        close_open_block(inner, ending);
    }
    if block.items.is_empty() {
        if block.header.ending == LineEnding::None {
            block.header.ending = ending;
        }
    } else {
        end_last_line(&mut block.items, ending);
    }
    let mut close = block.header.indent();
    close.push(b'}');
    block.close = Some(Line::plain(close, ending));
}

/// A model type that is written as a block.
trait BlockModel: PartialEq + 'static {
    fn name(&self) -> &str;
    fn empty(name: &str) -> Self;
    fn table() -> &'static [Keyword<Self>]
    where
        Self: Sized;
    fn servers(&self) -> &[RealServer] {
        &[]
    }
}

impl BlockModel for VirtualServer {
    fn name(&self) -> &str {
        &self.name
    }
    fn empty(name: &str) -> Self {
        VirtualServer::new(name)
    }
    fn table() -> &'static [Keyword<Self>] {
        keywords::VIRTUAL
    }
    fn servers(&self) -> &[RealServer] {
        &self.servers
    }
}

impl BlockModel for RealServer {
    fn name(&self) -> &str {
        &self.name
    }
    fn empty(name: &str) -> Self {
        RealServer::new(name)
    }
    fn table() -> &'static [Keyword<Self>] {
        keywords::SERVER
    }
}

struct Writer {
    ending: LineEnding,
}

fn is_blank(item: &Item) -> bool {
    matches!(item, Item::Line(line) if line.content.iter().all(u8::is_ascii_whitespace))
}

/// A block is removed: the blank line that separated it from what came before goes
/// too when a blank line (or the end of the body) follows it, so that no two blank
/// lines, and no blank line before a closing brace, are left where it was (the writer
/// adds such a line before a new block; this takes it away again). Comments stay.
/// Returns whether the blank line after it must go instead (it was the body's first).
fn drop_separator(out: &mut Vec<Item>, blank_after: bool) -> bool {
    match out.last() {
        Some(last) if is_blank(last) && blank_after => {
            out.pop();
            false
        }
        None => blank_after,
        Some(_) => false,
    }
}

fn is_directive(item: &Item, keyword: &str) -> bool {
    matches!(item, Item::Line(Line { directive: Some(d), .. }) if d.keyword == keyword)
}

fn indent_of(items: &[Item]) -> Option<Vec<u8>> {
    items.iter().find_map(|item| match item {
        Item::Line(line) if line.directive.is_some() => Some(line.indent()),
        Item::Block(block) => Some(block.header.indent()),
        Item::Line(_) => None,
    })
}

fn deeper(indent: &[u8]) -> Vec<u8> {
    let mut inner = indent.to_vec();
    if indent.first() == Some(&b'\t') {
        inner.push(b'\t');
    } else {
        inner.extend_from_slice(b"    ");
    }
    inner
}

impl Writer {
    fn line(&self, content: Vec<u8>) -> Line {
        Line::plain(content, self.ending)
    }

    fn directive_line(&self, indent: &[u8], keyword: &'static str, values: &[String]) -> Line {
        let mut content = indent.to_vec();
        content.extend_from_slice(keyword.as_bytes());
        content.extend_from_slice(b" = ");
        let start = content.len();
        content.extend_from_slice(values.join(" ").as_bytes());
        let end = content.len();
        let mut line = self.line(content);
        line.directive = Some(Directive {
            keyword,
            values: start..end,
        });
        line
    }

    /// Brings a block body's directives from `old` to `new`.
    fn directives<B>(
        &self,
        table: &'static [Keyword<B>],
        old: &B,
        new: &B,
        items: &mut Vec<Item>,
        indent: &[u8],
    ) {
        for keyword in table {
            let before = (keyword.get)(old);
            let after = (keyword.get)(new);
            if before == after {
                continue;
            }
            let last = items
                .iter()
                .rposition(|item| is_directive(item, keyword.name));
            match (after, last) {
                (None, _) => items.retain(|item| !is_directive(item, keyword.name)),
                (Some(values), Some(index)) => {
                    if let Item::Line(line) = &mut items[index] {
                        rewrite_values(line, &values);
                    }
                }
                (Some(values), None) => {
                    let at = items
                        .iter()
                        .rposition(|item| {
                            matches!(
                                item,
                                Item::Line(Line {
                                    directive: Some(_),
                                    ..
                                })
                            )
                        })
                        .map(|i| i + 1)
                        .or_else(|| items.iter().position(|item| matches!(item, Item::Block(_))))
                        .unwrap_or(items.len());
                    let indent = indent_of(items).unwrap_or_else(|| indent.to_vec());
                    items.insert(
                        at,
                        Item::Line(self.directive_line(&indent, keyword.name, &values)),
                    );
                }
            }
        }
    }

    /// Brings the blocks of one kind in `items` from `old` to `new`: matched blocks are
    /// updated in place, new ones added after their predecessor, removed ones dropped.
    fn blocks<B: BlockModel>(
        &self,
        items: &mut Vec<Item>,
        kind: BlockKind,
        old: &[B],
        new: &[B],
        indent: &[u8],
    ) {
        let slots: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| matches!(item, Item::Block(b) if b.kind == kind))
            .map(|(i, _)| i)
            .collect();
        let indent = indent_of(items).unwrap_or_else(|| indent.to_vec());
        let indent = indent.as_slice();
        let pairs = pair_by_name(old, new);
        let placement = place(&pairs, slots.len());
        let mut built: Vec<Option<Block>> = Vec::with_capacity(new.len());
        for (i, model) in new.iter().enumerate() {
            built.push(Some(match pairs[i] {
                Some(j) => match &items[slots[j]] {
                    Item::Block(block) => self.update_block(block.clone(), &old[j], model),
                    Item::Line(_) => self.fresh_block(kind, model, indent),
                },
                None => self.fresh_block(kind, model, indent),
            }));
        }
        let fresh: Vec<bool> = pairs.iter().map(Option::is_none).collect();
        let separate = indent.is_empty();
        let mut out = Vec::with_capacity(items.len() + new.len());
        let mut emit = |out: &mut Vec<Item>, i: usize| {
            let Some(block) = built[i].take() else { return };
            let after_blank = out.last().is_none_or(is_blank);
            if fresh[i] && separate && !after_blank {
                out.push(Item::Line(self.line(Vec::new())));
            }
            out.push(Item::Block(block));
        };
        let old_items = std::mem::take(items);
        // Whether the item after each one is a blank line or the end of the body.
        let blank_after: Vec<bool> = (0..old_items.len())
            .map(|i| old_items.get(i + 1).is_none_or(is_blank))
            .collect();
        let mut slot = 0;
        let mut skip_blank = false;
        for (index, item) in old_items.into_iter().enumerate() {
            if slots.get(slot) != Some(&index) {
                if !std::mem::take(&mut skip_blank) || !is_blank(&item) {
                    out.push(item);
                }
                continue;
            }
            if placement.at_slot[slot].is_empty() {
                skip_blank = drop_separator(&mut out, blank_after[index]);
            }
            for &i in &placement.at_slot[slot] {
                emit(&mut out, i);
            }
            slot += 1;
        }
        for &i in &placement.tail {
            emit(&mut out, i);
        }
        // A block the file ended in is followed by something now: close it.
        let followed = out.len().saturating_sub(1);
        for item in &mut out[..followed] {
            if let Item::Block(block) = item {
                close_open_block(block, self.ending);
            }
        }
        *items = out;
    }

    fn update_block<B: BlockModel>(&self, mut block: Block, old: &B, new: &B) -> Block {
        if old == new {
            return block;
        }
        if old.name() != new.name() {
            let mut content = block.header.content[..block.name_range.start].to_vec();
            content.extend_from_slice(new.name().as_bytes());
            content.extend_from_slice(&block.header.content[block.name_range.end..]);
            block.header.content = content;
            block.name = new.name().to_string();
        }
        let inner = deeper(&block.header.indent());
        self.directives(B::table(), old, new, &mut block.items, &inner);
        self.blocks(
            &mut block.items,
            BlockKind::Server,
            old.servers(),
            new.servers(),
            &inner,
        );
        close_open_block(&mut block, self.ending);
        block
    }

    fn fresh_block<B: BlockModel>(&self, kind: BlockKind, model: &B, indent: &[u8]) -> Block {
        let mut header = indent.to_vec();
        header.extend_from_slice(kind.keyword().as_bytes());
        header.push(b' ');
        let name_start = header.len();
        header.extend_from_slice(model.name().as_bytes());
        let name_end = header.len();
        header.extend_from_slice(b" {");
        let mut close = indent.to_vec();
        close.push(b'}');
        let block = Block {
            kind,
            name: model.name().to_string(),
            name_range: name_start..name_end,
            header: self.line(header),
            items: Vec::new(),
            close: Some(self.line(close)),
        };
        self.update_block(block, &B::empty(model.name()), model)
    }
}

fn rewrite_values(line: &mut Line, values: &[String]) {
    let Some(directive) = &mut line.directive else {
        return;
    };
    let joined = values.join(" ");
    let mut content = line.content[..directive.values.start].to_vec();
    content.extend_from_slice(joined.as_bytes());
    let end = content.len();
    content.extend_from_slice(&line.content[directive.values.end..]);
    directive.values = directive.values.start..end;
    line.content = content;
}

/// For each new block, the old block it continues: same name first, then the remaining
/// ones in order (a rename keeps the block's comments and place).
fn pair_by_name<B: BlockModel>(old: &[B], new: &[B]) -> Vec<Option<usize>> {
    let mut used = vec![false; old.len()];
    let mut pairs: Vec<Option<usize>> = new
        .iter()
        .map(|n| {
            let j = (0..old.len()).find(|&j| !used[j] && old[j].name() == n.name())?;
            used[j] = true;
            Some(j)
        })
        .collect();
    for pair in pairs.iter_mut().filter(|p| p.is_none()) {
        if let Some(j) = (0..old.len()).find(|&j| !used[j]) {
            used[j] = true;
            *pair = Some(j);
        }
    }
    pairs
}

struct Placement {
    /// New blocks to emit where each old block stood.
    at_slot: Vec<Vec<usize>>,
    /// New blocks to append after everything.
    tail: Vec<usize>,
}

/// Where each new block goes. When the kept blocks are still in their old order each
/// stays in its place and a new block follows its predecessor; when they were
/// reordered, the blocks fill the old places in the new order.
fn place(pairs: &[Option<usize>], slots: usize) -> Placement {
    let mut placement = Placement {
        at_slot: vec![Vec::new(); slots],
        tail: Vec::new(),
    };
    let kept: Vec<usize> = pairs.iter().flatten().copied().collect();
    let in_order = kept.windows(2).all(|w| w[0] < w[1]);
    if !in_order {
        for (i, _) in pairs.iter().enumerate() {
            match placement.at_slot.get_mut(i) {
                Some(slot) => slot.push(i),
                None => placement.tail.push(i),
            }
        }
        return placement;
    }
    let mut current: Option<usize> = None;
    let mut leading = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        match (pair, current) {
            (Some(j), _) => {
                placement.at_slot[*j].push(i);
                current = Some(*j);
            }
            (None, Some(j)) => placement.at_slot[j].push(i),
            (None, None) => leading.push(i),
        }
    }
    match placement.at_slot.first_mut() {
        Some(first) if current.is_some() => {
            leading.append(first);
            *first = leading;
        }
        _ => placement.tail = leading,
    }
    placement
}

/// The bytes [`save`] would write for `new` over `loaded`: `serial_no` one above the
/// loaded one (or above `new`'s, if higher), everything else as [`update`] writes it.
/// For showing a change before (or instead of) writing it.
pub fn prepare(
    loaded: &Loaded,
    new: &Config,
    resolver: &dyn Resolver,
) -> Result<Vec<u8>, WriteError> {
    let mut next = new.clone();
    next.global.serial_no = loaded.config.global.serial_no.max(new.global.serial_no) + 1;
    update(&loaded.document, &loaded.config, &next, resolver)
}

/// Saves `new` over the file `loaded` came from: refuses when the file changed since,
/// refuses an invalid configuration, increments `serial_no`, replaces the file
/// atomically and keeps the previous version as `lvs.cf.bak`.
pub fn save(
    path: &Path,
    loaded: &Loaded,
    new: &Config,
    resolver: &dyn Resolver,
    kernel: &KernelFeatures,
) -> Result<Loaded, SaveError> {
    let current = std::fs::read(path).map_err(|source| SaveError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let loaded_serial = loaded.config.global.serial_no;
    if current != loaded.source {
        let on_disk = parse(&current, resolver).config.global.serial_no;
        return Err(SaveError::Conflict {
            path: path.to_path_buf(),
            loaded: loaded_serial,
            on_disk,
            current,
        });
    }
    let bytes = prepare(loaded, new, resolver)?;
    let checked = check(&bytes, resolver, kernel);
    if checked.has_errors() {
        return Err(SaveError::Invalid(checked.diagnostics));
    }
    replace_file(path, &bytes, true)?;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::StaticResolver;

    fn load(text: &str) -> crate::config::parse::Parsed {
        parse(text.as_bytes(), &StaticResolver::default())
    }

    fn write(text: &str, change: impl FnOnce(&mut Config)) -> String {
        let parsed = load(text);
        assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
        let mut config = parsed.config.clone();
        change(&mut config);
        let bytes = update(
            &parsed.document,
            &parsed.config,
            &config,
            &StaticResolver::default(),
        )
        .expect("writes");
        String::from_utf8(bytes).expect("utf-8")
    }

    const FILE: &str = "# head\nserial_no = 4\nprimary = 192.0.2.1   \n\n# the web\nvirtual web {\n\taddress = 192.0.2.10 eth0:1\n\tactive = 1\n\n\tserver a {\n\t\taddress = 198.51.100.1\n\t\tactive = 1\n\t}\n}\n# tail\n";

    #[test]
    fn a_changed_value_is_rewritten_in_its_line() {
        let out = write(FILE, |c| c.virtual_servers[0].servers[0].weight = 7);
        assert_eq!(
            out,
            FILE.replace("\t\tactive = 1\n\t}", "\t\tactive = 1\n\t\tweight = 7\n\t}")
        );
        let out = write(FILE, |c| {
            c.global.primary = Some("192.0.2.2".parse().expect("ip"))
        });
        assert_eq!(out, FILE.replace("192.0.2.1   ", "192.0.2.2   "));
    }

    #[test]
    fn new_values_go_after_the_block_settings_and_removed_ones_go() {
        let out = write(FILE, |c| {
            c.virtual_servers[0].send = Some("GET /\r\n".into());
            c.global.primary = None;
        });
        assert_eq!(
            out,
            FILE.replace("primary = 192.0.2.1   \n", "").replace(
                "\tactive = 1\n\n",
                "\tactive = 1\n\tsend = \"GET /\\r\\n\"\n\n"
            )
        );
    }

    #[test]
    fn blocks_are_added_after_their_predecessor_and_removed() {
        let out = write(FILE, |c| {
            let mut b = RealServer::new("b");
            b.address = Some("198.51.100.2".parse().expect("ip"));
            c.virtual_servers[0].servers.push(b);
        });
        assert!(
            out.contains("\t}\n\tserver b {\n\t\taddress = 198.51.100.2\n\t}\n}\n# tail\n"),
            "{out}"
        );
        // The blank line before it goes with it: it was the last of its body.
        let out = write(FILE, |c| c.virtual_servers[0].servers.clear());
        assert_eq!(
            out,
            FILE.replace(
                "\n\tserver a {\n\t\taddress = 198.51.100.1\n\t\tactive = 1\n\t}\n",
                ""
            )
        );
        let out = write(FILE, |c| c.virtual_servers.push(VirtualServer::new("ftp")));
        assert!(
            out.ends_with("\t}\n}\n\nvirtual ftp {\n}\n# tail\n"),
            "{out}"
        );
    }

    #[test]
    fn a_removed_block_leaves_no_second_blank_line_and_keeps_the_comments() {
        let text =
            "virtual a {\n}\n\nvirtual b {\n}\n\n# about c\nvirtual c {\n}\n\nvirtual d {\n}\n";
        let without = |name: &str| write(text, |c| c.virtual_servers.retain(|v| v.name != name));
        assert_eq!(
            without("b"),
            "virtual a {\n}\n\n# about c\nvirtual c {\n}\n\nvirtual d {\n}\n"
        );
        assert_eq!(
            without("c"),
            "virtual a {\n}\n\nvirtual b {\n}\n\n# about c\n\nvirtual d {\n}\n",
            "the comment before it stays, and so does the blank line after it"
        );
        assert_eq!(
            without("d"),
            "virtual a {\n}\n\nvirtual b {\n}\n\n# about c\nvirtual c {\n}\n"
        );
        assert_eq!(
            without("a"),
            "virtual b {\n}\n\n# about c\nvirtual c {\n}\n\nvirtual d {\n}\n",
            "nor a blank first line"
        );
    }

    #[test]
    fn a_rename_keeps_the_block_in_place() {
        let out = write(FILE, |c| c.virtual_servers[0].name = "www".into());
        assert_eq!(out, FILE.replace("virtual web {", "virtual www {"));
    }

    #[test]
    fn unwritable_names_are_refused() {
        let parsed = load(FILE);
        let mut config = parsed.config.clone();
        config.virtual_servers[0].name = "two words".into();
        let result = update(
            &parsed.document,
            &parsed.config,
            &config,
            &StaticResolver::default(),
        );
        assert!(result.is_err());
    }

    #[test]
    fn an_unclosed_block_is_closed_when_it_changes() {
        let text = "virtual web {\n active = 1";
        let out = write(text, |c| c.virtual_servers[0].active = false);
        assert_eq!(out, "virtual web {\n active = 0\n}\n");
    }

    #[test]
    fn a_block_the_file_ends_in_is_closed_when_something_follows_it() {
        let text = "virtual web {\n active = 1\n";
        let out = write(text, |c| c.virtual_servers.push(VirtualServer::new("ftp")));
        assert_eq!(out, "virtual web {\n active = 1\n}\n\nvirtual ftp {\n}\n");
        let out = write(text, |c| c.failover_services.push(VirtualServer::new("f")));
        assert_eq!(out, "virtual web {\n active = 1\n}\n\nfailover f {\n}\n");
        let out = write("virtual web {", |c| {
            c.virtual_servers[0].servers.push(RealServer::new("a"))
        });
        assert_eq!(out, "virtual web {\n    server a {\n    }\n}\n");
        let out = write("virtual web {\n server a {\n", |c| {
            c.virtual_servers[0].servers.push(RealServer::new("b"))
        });
        assert_eq!(out, "virtual web {\n server a {\n }\n server b {\n }\n}\n");
    }

    #[test]
    fn a_new_file_reads_back() {
        let mut config = Config::default();
        config.global.primary = Some("192.0.2.1".parse().expect("ip"));
        config.virtual_servers.push(VirtualServer::new("web"));
        let out = String::from_utf8(render(&config, &StaticResolver::default()).expect("writes"))
            .expect("utf-8");
        assert_eq!(out, "primary = 192.0.2.1\n\nvirtual web {\n}\n");
    }
}
