//! `ui/src/bindings.ts` is generated from the desktop's commands and events;
//! this test fails while the checked-in file differs from what the Rust
//! definitions give. `make bindings` (this test with
//! `ORRERY_UPDATE_BINDINGS=1`) writes it again.

use std::path::Path;

#[test]
fn typescript_bindings_match_the_rust_definitions() {
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
    let directory = tempfile::tempdir().unwrap();
    let generated = directory.path().join("bindings.ts");
    orrery_desktop::commands::bindings()
        .export(orrery_desktop::commands::typescript(), &generated)
        .expect("the commands' and events' types export to TypeScript");
    let generated = std::fs::read_to_string(&generated).unwrap();
    // Every command and event the webview uses is in it.
    for name in [
        "listGraphs",
        "savePrompt",
        "testProvider",
        "libraryChanged",
        "syncStatus",
    ] {
        assert!(
            generated.contains(name),
            "{name} is missing from the bindings"
        );
    }
    if std::env::var_os("ORRERY_UPDATE_BINDINGS").is_some() {
        std::fs::write(&checked_in, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        current == generated,
        "ui/src/bindings.ts is out of date with the Rust commands and events: run `make bindings`"
    );
}
