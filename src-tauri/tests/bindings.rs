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

/// Tauri refuses any command its ACL does not allow once the app declares
/// its commands: every command the webview can call must be declared in
/// `build.rs` and allowed to the main window (`capabilities/main.json`).
#[test]
fn every_command_is_declared_and_allowed_to_the_main_window() {
    let directory = tempfile::tempdir().unwrap();
    let generated = directory.path().join("bindings.ts");
    orrery_desktop::commands::bindings()
        .export(orrery_desktop::commands::typescript(), &generated)
        .unwrap();
    let generated = std::fs::read_to_string(&generated).unwrap();
    let commands: Vec<&str> = generated
        .split("__TAURI_INVOKE<")
        .skip(1)
        .filter_map(|call| {
            let name = call.split_once(">(\"")?.1;
            Some(name.split_once('"')?.0)
        })
        .collect();
    assert!(commands.len() >= 40, "found only {commands:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("build.rs")).unwrap();
    let capability: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("capabilities/main.json")).unwrap(),
    )
    .unwrap();
    let allowed: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|permission| permission.as_str())
        .collect();
    for command in commands {
        assert!(
            manifest.contains(&format!("\"{command}\"")),
            "{command} is not declared in src-tauri/build.rs: Tauri would refuse it"
        );
        let permission = format!("allow-{}", command.replace('_', "-"));
        assert!(
            allowed.contains(&permission.as_str()),
            "{command} is not allowed to the main window ({permission} in capabilities/main.json)"
        );
    }
}
