//! The steps the browser tests of the editing panels repeat on every page: enter some
//! fields, press a button, and check what became of lvs.cf (exactly the expected
//! lines, and the page saying it was written and reloaded), or that a refused form
//! shows each error beside its field and leaves the file byte for byte as it was.

use std::path::Path;

use super::browser::{Browser, Input};
use super::edits;

/// The `serial_no` a file has.
pub fn serial_of(text: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix("serial_no = "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no serial_no in:\n{text}"))
}

fn read(lvs_cf: &Path) -> String {
    std::fs::read_to_string(lvs_cf).expect("lvs.cf")
}

/// Enters `inputs` on the page shown and clicks `button`; asserts that lvs.cf changed by
/// exactly `expected` (diff lines in file order, besides `serial_no` going up by one),
/// kept its comments and passes `shoal check`, and that the next page says so and that
/// the daemon reloaded it. Returns that message.
pub async fn change(
    browser: &Browser,
    lvs_cf: &Path,
    inputs: &[Input<'_>],
    button: &str,
    expected: &[&str],
) -> String {
    let before = read(lvs_cf);
    let serial = serial_of(&before);
    for input in inputs {
        browser.enter(input).await;
    }
    browser.click_and_wait(button).await;
    let written = format!("lvs.cf written, serial_no {}", serial + 1);
    let flash = browser
        .until("flash", &written, |text| text.contains(&written))
        .await;
    let reloaded = format!("The daemon reloaded it: serial_no {} in use", serial + 1);
    assert!(flash.contains(&reloaded), "{flash}");
    edits::assert_changed(lvs_cf, &before, (serial, serial + 1), expected);
    flash
}

/// Enters `inputs` and clicks `button`; asserts that each `(id, text)` is an error shown
/// beside the field `id` (in the same box as the input), containing `text`, and that
/// lvs.cf is byte-identical.
pub async fn refused(
    browser: &Browser,
    lvs_cf: &Path,
    inputs: &[Input<'_>],
    button: &str,
    errors: &[(&str, &str)],
) {
    let before = std::fs::read(lvs_cf).expect("lvs.cf");
    for input in inputs {
        browser.enter(input).await;
    }
    browser.click_and_wait(button).await;
    for (id, text) in errors {
        let error = format!("{id}-error");
        let shown = browser
            .until(&error, text, |shown| shown.contains(text))
            .await;
        let beside = browser
            .client
            .execute(
                "const e = document.getElementById(arguments[0]); \
                 return e.parentElement.contains(document.getElementById(arguments[1]));",
                vec![serde_json::json!(error), serde_json::json!(id)],
            )
            .await
            .expect("script");
        assert_eq!(
            beside,
            serde_json::Value::Bool(true),
            "the error {shown:?} is beside #{id}"
        );
    }
    assert!(
        std::fs::read(lvs_cf).expect("lvs.cf") == before,
        "a refused form leaves lvs.cf byte-identical"
    );
}

/// Where a DELETE on a list goes.
pub struct Deletion<'a> {
    /// The radio of the row to delete.
    pub radio: &'a str,
    /// The list's path.
    pub list: &'a str,
    /// The confirmation page's path.
    pub confirm: &'a str,
    /// How the block shown on the confirmation page starts.
    pub block: &'a str,
    /// The diff lines the DELETE makes.
    pub expected: &'a [&'a str],
}

/// On the list page shown: selects the row, clicks DELETE and checks the confirmation
/// page (its path and the block it shows), calls `on_confirmation` there (for a
/// screenshot), clicks CANCEL and checks that the list is back and lvs.cf unchanged;
/// then DELETE again and DELETE on the confirmation page: lvs.cf loses exactly
/// `expected`, and the list is shown.
pub async fn delete_confirmed(
    browser: &Browser,
    lvs_cf: &Path,
    deletion: &Deletion<'_>,
    on_confirmation: impl AsyncFnOnce(&Browser),
) {
    let before = std::fs::read(lvs_cf).expect("lvs.cf");
    let ask = async || {
        browser.enter(&Input::Tick(deletion.radio, true)).await;
        browser.click_and_wait("delete").await;
        assert_eq!(browser.path().await, deletion.confirm);
    };
    ask().await;
    let block = browser.text("block").await;
    assert!(block.starts_with(deletion.block), "{block}");
    on_confirmation(browser).await;
    browser.click_and_wait("cancel").await;
    assert_eq!(browser.path().await, deletion.list);
    assert!(
        std::fs::read(lvs_cf).expect("lvs.cf") == before,
        "CANCEL deletes nothing"
    );
    ask().await;
    change(browser, lvs_cf, &[], "confirm", deletion.expected).await;
    assert_eq!(browser.path().await, deletion.list);
}
