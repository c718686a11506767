//! `docs/keywords.md` is generated from the keyword tables; this test fails when the
//! committed page differs from what they generate now, and with `SHOAL_BLESS=1` writes it.

#[test]
fn the_keyword_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keywords.md");
    let generated = shoal::config::reference::markdown();
    if std::env::var_os("SHOAL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/keywords.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/keywords.md is stale: regenerate it with `SHOAL_BLESS=1 cargo test --test keyword_reference` and commit it"
    );
}
