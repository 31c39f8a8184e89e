//! Importing and exporting a graph through the real file dialog: the
//! desktop app under tauri-driver on a private Xvfb, its Import and Export
//! buttons pressed over WebDriver, and the system's file chooser (Tauri's
//! dialog plugin) answered with the keyboard through xdotool, as a person
//! would: type the file's path, press Enter.

mod webdriver;

use std::process::Command;
use std::time::{Duration, Instant};

use orrery_e2e::display::VirtualDisplay;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use serde_json::json;
use webdriver::{APP_TIMEOUT, Driver, Page};

fn xdotool(display: &str, arguments: &[&str]) -> String {
    let output = Command::new("xdotool")
        .args(arguments)
        .env("DISPLAY", display)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Waits for the dialog titled `title`, focuses it, selects what its file
/// field holds (opening the location field first when `open_location`),
/// types `path` and presses Enter; while the dialog stays open it presses
/// the dialog's button by its mnemonic too (`accept`, e.g. `alt+o` for
/// _Open: in an Open dialog, Enter in the location field may only complete
/// the name), once a second.
fn answer_dialog(display: &str, title: &str, path: &str, open_location: bool, accept: &str) {
    let deadline = Instant::now() + APP_TIMEOUT;
    let window = loop {
        let found = xdotool(display, &["search", "--onlyvisible", "--name", title]);
        if let Some(window) = found.lines().next() {
            break window.to_owned();
        }
        assert!(Instant::now() < deadline, "no dialog `{title}` opened");
        std::thread::sleep(Duration::from_millis(100));
    };
    xdotool(display, &["windowfocus", "--sync", &window]);
    // GTK builds the chooser's widgets as it shows it.
    std::thread::sleep(Duration::from_millis(500));
    if open_location {
        xdotool(display, &["key", "--clearmodifiers", "ctrl+l"]);
    }
    xdotool(display, &["key", "--clearmodifiers", "ctrl+a"]);
    xdotool(display, &["type", "--delay", "5", path]);
    xdotool(display, &["key", "Return"]);
    let deadline = Instant::now() + APP_TIMEOUT;
    let mut next_press = Instant::now() + Duration::from_secs(1);
    while !xdotool(display, &["search", "--onlyvisible", "--name", title]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the dialog `{title}` did not close"
        );
        if Instant::now() >= next_press {
            xdotool(display, &["key", "--clearmodifiers", accept]);
            next_press = Instant::now() + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_and_export_through_the_real_dialog() {
    let server = TestServer::start().await.unwrap();
    server
        .accounts()
        .register("ada@orrery.test", TEST_PASSWORD, "Ada Lovelace", "phone")
        .await
        .unwrap();
    let display = VirtualDisplay::start();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let graph = orrery_domain::sample_graph("Field notes", 12, 7);
    let source = files.path().join("field-notes.json");
    std::fs::write(&source, orrery_domain::export_graph(&graph)).unwrap();

    let environment = [
        ("ORRERY_SERVER_URL", server.url()),
        ("ORRERY_DATA_DIR", data.path().display().to_string()),
        (
            "ORRERY_KEYRING_SERVICE",
            format!("orrery-files-test-{}", uuid::Uuid::now_v7()),
        ),
        ("WGPU_BACKEND", "vulkan".to_owned()),
        ("NO_AT_BRIDGE", "1".to_owned()),
        ("GTK_USE_PORTAL", "0".to_owned()),
    ];
    let driver = Driver::start(&display.display, &environment).await;
    let created = driver
        .call(
            reqwest::Method::POST,
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": {
                "tauri:options": { "application": env!("CARGO_BIN_EXE_orrery") }
            }}})),
        )
        .await;
    let session = created["sessionId"].as_str().unwrap().to_owned();
    let page = Page {
        driver: &driver,
        session: session.clone(),
    };
    page.sign_in("ada@orrery.test", "Ada Lovelace").await;
    page.click("[data-screen=graphs]").await;

    // Import: the file chooser, its location typed.
    page.click("[data-testid=import-graph]").await;
    answer_dialog(
        &display.display,
        "Import a graph",
        &source.display().to_string(),
        true,
        "alt+o",
    );
    page.wait_for_text("[data-testid=notice]", |text| {
        text == "Imported “Field notes”: 12 nodes, 11 edges."
            || text.starts_with("Imported “Field notes”: 12 nodes")
    })
    .await;

    // Export: the save dialog, a path typed over the suggested name.
    let target = files.path().join("exported.json");
    page.click("button[aria-label='Export Field notes']").await;
    answer_dialog(
        &display.display,
        "Export the graph",
        &target.display().to_string(),
        false,
        "alt+s",
    );
    page.wait_for_text("[data-testid=notice]", |text| {
        text == format!("Saved “Field notes” to {}.", target.display())
    })
    .await;
    let exported = orrery_domain::import_graph(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(exported.name, "Field notes");
    assert_eq!(exported.nodes.len(), graph.nodes.len());
    assert_eq!(exported.edges.len(), graph.edges.len());

    driver
        .call(
            reqwest::Method::DELETE,
            &format!("/session/{session}"),
            None,
        )
        .await;
}
