//! `docs/profiles.md` is generated from the profiles' code: the committed file must be exactly
//! what `render_markdown()` produces, so the reference cannot drift from the model.
//!
//! After changing a default, regenerate it with
//! `CDN_UPDATE_DOCS=1 cargo test -p cdn-core --test profiles_doc`.

use std::path::PathBuf;

#[test]
fn the_committed_profiles_md_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/profiles.md");
    let generated = cdn_core::profile::render_markdown();
    if std::env::var_os("CDN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/profiles.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/profiles.md differs from the code's defaults; regenerate it with \
         CDN_UPDATE_DOCS=1 cargo test -p cdn-core --test profiles_doc"
    );
}
