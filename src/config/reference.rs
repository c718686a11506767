//! The keyword reference (`docs/keywords.md`), generated from the keyword tables that the
//! parser, the writer and the web UI read, so the page cannot drift from what shoal
//! accepts: `tests/keyword_reference.rs` fails when the committed page is stale.

use super::keywords::{Arity, GLOBAL, Keyword, Origin, SERVER, VIRTUAL};

/// The whole page, in Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# lvs.cf keyword reference\n\n\
         Generated from `src/config/keywords.rs` by `tests/keyword_reference.rs` \
         (`SHOAL_BLESS=1 cargo test --test keyword_reference` writes it again); do not edit \
         by hand. The grammar and the deliberate differences from Piranha are in \
         [lvs-cf.md](lvs-cf.md).\n\n\
         Origin: **Piranha** = Piranha's keyword with the same meaning; **ignored** = \
         Piranha's, accepted so files load unchanged, without effect in shoal; **shoal** = \
         a shoal extension, which Piranha rejects (written only when set).\n",
    );
    section(&mut out, "Global settings", "outside any block", GLOBAL);
    section(
        &mut out,
        "Virtual servers",
        "inside `virtual NAME { ... }`",
        VIRTUAL,
    );
    section(
        &mut out,
        "Real servers",
        "inside `server NAME { ... }` of a virtual block",
        SERVER,
    );
    out
}

fn section<B>(out: &mut String, title: &str, place: &str, table: &'static [Keyword<B>]) {
    out.push_str(&format!(
        "\n## {title}\n\nKeywords {place}, in the order shoal declares them.\n\n\
         | keyword | values | default | origin | meaning |\n|---|---|---|---|---|\n"
    ));
    for keyword in table {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            keyword.name,
            values(keyword.arity),
            cell(keyword.default),
            origin(keyword.origin),
            cell(keyword.help)
        ));
    }
}

fn values(arity: Arity) -> String {
    match arity {
        Arity::Exactly(1) => "1".into(),
        Arity::Exactly(n) => n.to_string(),
        Arity::OneOrMore => "1 or more".into(),
        Arity::BracketList => "`[ ... ]` list".into(),
    }
}

fn origin(origin: Origin) -> &'static str {
    match origin {
        Origin::Piranha => "Piranha",
        Origin::Ignored => "ignored",
        Origin::Shoal => "shoal",
    }
}

/// A table cell: pipes escaped, an empty text shown as none.
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.is_empty() {
        "(none)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_has_a_row() {
        let page = markdown();
        for name in GLOBAL
            .iter()
            .map(|k| k.name)
            .chain(VIRTUAL.iter().map(|k| k.name))
            .chain(SERVER.iter().map(|k| k.name))
        {
            assert!(page.contains(&format!("| `{name}` |")), "{name}");
        }
    }
}
