//! The pages under `docs/errors/` are current: their per-profile tables are what
//! `Profile::error_for` and `Profile::defaults` give today, their commands are what
//! `cdn-sim explain` suggests, and their sequence diagrams are what a trace of the built-in
//! scenario draws today. When the model changes, `cargo run -p cdn-sim -- docs` regenerates
//! them (one command), and this test says which files are stale until then.

use std::path::PathBuf;

#[test]
fn error_pages_match_the_model() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "docs", "errors"]
        .iter()
        .collect();
    let stale = cdn_sim::error_pages::stale(&dir).unwrap();
    assert!(
        stale.is_empty(),
        "out of date (run `cargo run -p cdn-sim -- docs` from the repository root): {stale:?}"
    );
}

#[test]
fn every_explained_code_has_a_page_linked_from_the_index() {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect();
    let index = std::fs::read_to_string(root.join("docs/errors/README.md")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("docs/errors/"),
        "the README links the pages"
    );
    // Real HTTP status codes; explain also covers nginx's HTTP/0.9 relay, reported as 9.
    for code in cdn_sim::explain::codes().filter(|c| (100..=599).contains(c)) {
        assert!(
            cdn_sim::error_pages::CODES.contains(&code),
            "{code} is explained but has no page"
        );
        assert!(
            index.contains(&format!("({code}.md)")),
            "{code} is not in the index"
        );
        let page = cdn_sim::explain::page(code).expect("a page");
        assert!(
            root.join(&page).exists(),
            "explain points to a missing {page}"
        );
    }
}
