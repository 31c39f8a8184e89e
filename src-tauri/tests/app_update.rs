//! The app updating itself for real. Debian packages of the `orrery` binary
//! at 0.1.0 and 0.1.1 are built from this workspace (each with its version
//! and this test's update keys compiled in, as a release build has its own)
//! and bundled by Tauri's CLI; 0.1.0 is installed with dpkg. Driven by
//! tauri-driver under a private Xvfb, the installed app checks for updates:
//!
//! - against the real sync server, which publishes the signed 0.1.1: the app
//!   installs it through dpkg and comes back as 0.1.1;
//! - against a feed signed with the right feed key that offers packages
//!   signed by another key, changed after signing, or cut short: each is
//!   refused with its reason, nothing is installed, 0.1.0 keeps running.
//!
//! It installs packages, so it runs as root (as CI does); as another user it
//! says so and checks nothing. Building the packages builds the desktop
//! crate and its binary twice more, with `TAURI_CONFIG`; the next build
//! without it builds them as they were.

mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use orrery_e2e::TestServer;
use orrery_e2e::display::VirtualDisplay;
use orrery_updates::{CheckRequest, FeedRelease, SIGNATURE_HEADER, STATEMENT_HEADER, UpdateSigner};
use serde_json::{Value, json};
use webdriver::{APP_TIMEOUT, Driver, Page};

/// Where the package installs the app.
const INSTALLED: &str = "/usr/bin/orrery";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The two packages and the keys they trust.
struct Packages {
    old: PathBuf,
    new: PathBuf,
    release: UpdateSigner,
    feed: Arc<UpdateSigner>,
    _directory: tempfile::TempDir,
}

/// Builds `orrery` with `config` merged into its Tauri configuration and
/// bundles it as a .deb; returns the package.
fn build_package(config: &Value, version: &str, into: &Path) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    // The workspace's binaries with the workspace's one feature set: only
    // the desktop crate and its binary are built again.
    run(Command::new(env!("CARGO"))
        .args(["build", "--workspace", "--bins"])
        .current_dir(workspace())
        .env("TAURI_CONFIG", config.to_string()));
    // The CLI bundles what it finds in its target directory: a copy, so the
    // workspace's binary is left as cargo made it.
    let own_target = into.join(version).join("target");
    std::fs::create_dir_all(own_target.join("debug")).unwrap();
    std::fs::copy(target.join("debug/orrery"), own_target.join("debug/orrery")).unwrap();
    run(Command::new(workspace().join("ui/node_modules/.bin/tauri"))
        .args(["bundle", "--debug", "--bundles", "deb", "--config"])
        .arg(config.to_string())
        .current_dir(workspace().join("src-tauri"))
        .env("CARGO_TARGET_DIR", &own_target));
    let bundle = own_target.join("debug/bundle/deb");
    std::fs::read_dir(&bundle)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.extension().is_some_and(|extension| extension == "deb")
                && path.to_string_lossy().contains(version)
        })
        .unwrap_or_else(|| panic!("no .deb of {version} in {}", bundle.display()))
}

fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let directory = tempfile::tempdir().unwrap();
        let release = UpdateSigner::generate();
        let feed = UpdateSigner::generate();
        let config = |version: &str| {
            json!({
                "version": version,
                "bundle": { "createUpdaterArtifacts": false },
                "plugins": {
                    "updater": { "pubkey": release.public_key().as_tauri() },
                    "orrery-updates": { "feedPubkey": feed.public_key().as_tauri() },
                },
            })
        };
        let old = build_package(&config("0.1.0"), "0.1.0", directory.path());
        // The next build without TAURI_CONFIG builds the desktop crate as
        // it was (its build script watches the variable).
        let new = build_package(&config("0.1.1"), "0.1.1", directory.path());
        Packages {
            old,
            new,
            release,
            feed: Arc::new(feed),
            _directory: directory,
        }
    })
}

fn installed_version() -> Option<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "orrery"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|version| !version.is_empty())
}

/// Installs a package; removes the app when dropped.
struct Installed;

impl Installed {
    fn package(deb: &Path) -> Self {
        run(Command::new("dpkg").arg("-i").arg(deb));
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-r", "orrery"]).status();
    }
}

/// Only root may install packages; the tests say so to anyone else.
fn as_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&id.stdout).trim() == "0";
    if !root {
        eprintln!("the update tests install packages and run as root only (as CI does); skipped");
    }
    root
}

/// The tests install and remove the same package: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The installed app under tauri-driver, talking to `server_url`.
struct App {
    driver: Driver,
    session: String,
    log: PathBuf,
    _display: VirtualDisplay,
    _data: tempfile::TempDir,
}

impl App {
    async fn start(server_url: &str) -> Self {
        let display = VirtualDisplay::start();
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join("orrery.log");
        let environment = [
            ("ORRERY_SERVER_URL", server_url.to_owned()),
            ("ORRERY_DATA_DIR", data.path().display().to_string()),
            (
                "ORRERY_KEYRING_SERVICE",
                format!("orrery-update-test-{}", uuid::Uuid::now_v7()),
            ),
            ("ORRERY_LOG_FILE", log.display().to_string()),
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
                    "tauri:options": { "application": INSTALLED }
                }}})),
            )
            .await;
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Self {
            driver,
            session,
            log,
            _display: display,
            _data: data,
        }
    }

    fn page(&self) -> Page<'_> {
        Page {
            driver: &self.driver,
            session: self.session.clone(),
        }
    }

    /// "desktop shell started" lines of the log: (version, pid) of each start.
    fn starts(&self) -> Vec<(String, u32)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|line| line.contains("desktop shell started"))
            .filter_map(|line| {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|word| word.strip_prefix(&format!("{name}=")))
                        .map(str::to_owned)
                };
                Some((field("version")?, field("pid")?.parse().ok()?))
            })
            .collect()
    }
}

/// Closes the first-run welcome, opens About and presses "Check for
/// updates", then waits for the update bar to offer `version`.
async fn check_from_about(page: &Page<'_>, version: &str) {
    page.wait_for_text("dialog.welcome-dialog h2", |text| !text.is_empty())
        .await;
    page.click("dialog.welcome-dialog button[value=close]")
        .await;
    page.click("button.brand").await;
    page.wait_for_text("dialog.about-dialog h3#updates-title", |text| {
        text == "Updates"
    })
    .await;
    page.click("[data-testid=check-updates]").await;
    page.wait_for_text("[data-testid=update-bar] h2", |text| {
        text == format!("Orrery {version} is ready")
    })
    .await;
    page.click("dialog.about-dialog button[value=close]").await;
}

/// Publishes `bytes` as the signed linux-deb package of `version` on `server`.
async fn publish(server: &TestServer, token: &str, version: &str, bytes: &[u8], signature: &str) {
    let http = reqwest::Client::new();
    let release: Value = http
        .post(format!("{}/v1/admin/releases", server.url()))
        .bearer_auth(token)
        .json(&json!({ "version": version, "channel": "stable", "notes": "Faster canvas, calmer chat." }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = release["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{release}"));
    let base = format!(
        "{}/v1/admin/releases/{id}/packages/linux-deb/x86_64",
        server.url()
    );
    for (part, chunk) in bytes.chunks(4 * 1024 * 1024).enumerate() {
        let response = http
            .put(format!(
                "{base}/parts/{part}?file_name=Orrery_{version}_amd64.deb"
            ))
            .bearer_auth(token)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "part {part}");
    }
    let sealed = http
        .post(format!("{base}/seal"))
        .bearer_auth(token)
        .json(&json!({ "signature": signature }))
        .send()
        .await
        .unwrap();
    assert_eq!(sealed.status(), 200, "{}", sealed.text().await.unwrap());
    let published = http
        .post(format!("{}/v1/admin/releases/{id}/publish", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_installs_and_restarts_as_new_version() {
    if !as_root() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let packages = tokio::task::spawn_blocking(packages).await.unwrap();
    let _installed = Installed::package(&packages.old);
    assert_eq!(installed_version().as_deref(), Some("0.1.0"));
    // The package's desktop entry registers orrery:// links.
    let entry = std::fs::read_to_string("/usr/share/applications/Orrery.desktop").unwrap();
    assert!(entry.contains("x-scheme-handler/orrery"), "{entry}");

    let feed = Arc::clone(&packages.feed);
    let release_key = packages.release.public_key();
    let server = TestServer::start_with(move |config| {
        config.updates = orrery_server::config::UpdatesConfig {
            feed_signer: Some(feed),
            release_key: Some(release_key),
        };
    })
    .await
    .unwrap();
    let admin = server
        .accounts()
        .register(
            "operator@orrery.test",
            orrery_e2e::TEST_PASSWORD,
            "Operator",
            "console",
        )
        .await
        .unwrap();
    let bytes = std::fs::read(&packages.new).unwrap();
    let signature = packages
        .release
        .sign_package(&bytes, "Orrery_0.1.1_amd64.deb", "0.1.1");
    publish(&server, &admin.access_token, "0.1.1", &bytes, &signature).await;

    let app = App::start(&server.url()).await;
    let page = app.page();
    check_from_about(&page, "0.1.1").await;
    page.click("[data-testid=install-update]").await;

    // The app installs 0.1.1 and starts again as it.
    let deadline = Instant::now() + APP_TIMEOUT * 2;
    let restarted = loop {
        if let Some(start) = app
            .starts()
            .into_iter()
            .find(|(version, _)| version == "0.1.1")
        {
            break start;
        }
        let log = std::fs::read_to_string(&app.log).unwrap_or_default();
        assert!(
            !log.contains("installing an update failed"),
            "the update was not installed; the app's log:\n{log}"
        );
        assert!(
            Instant::now() < deadline,
            "the app did not come back as 0.1.1; its log:\n{}",
            std::fs::read_to_string(&app.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(installed_version().as_deref(), Some("0.1.1"));
    let first = app.starts()[0].clone();
    assert_eq!(first.0, "0.1.0");
    assert_ne!(first.1, restarted.1, "a new process");
    let _ = Command::new("kill").arg(restarted.1.to_string()).status();
    drop(page);
}

/// A feed signed with the app's feed key, offering whatever package it was
/// given: the packages a compromised mirror or a broken download would hand out.
async fn stand_in_feed(feed: Arc<UpdateSigner>, package: Vec<u8>, signature: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let package = Arc::new(package);
    let app = axum::Router::new()
        .route(
            "/v1/updates/{target}/{arch}/{version}",
            axum::routing::get(
                move |axum::extract::Path((target, arch, version)): axum::extract::Path<(
                    String,
                    String,
                    String,
                )>,
                      axum::extract::Query(query): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| {
                    let feed = Arc::clone(&feed);
                    let signature = signature.clone();
                    async move {
                        let request = CheckRequest {
                            target,
                            arch,
                            current_version: version.parse().unwrap(),
                            channel: query
                                .get("channel")
                                .map_or(Ok(Default::default()), |c| c.parse())
                                .unwrap(),
                            installation: query["installation"].clone(),
                        };
                        let release = FeedRelease {
                            version: "0.1.1".into(),
                            notes: "Faster canvas, calmer chat.".into(),
                            pub_date: "2026-12-07T10:00:00Z".into(),
                            url: "/package.deb".into(),
                            signature,
                        };
                        let signed = feed.sign_statement(
                            &request.answer(Some(release.clone()), chrono::Utc::now()),
                        );
                        (
                            [
                                (STATEMENT_HEADER, signed.statement),
                                (SIGNATURE_HEADER, signed.signature),
                            ],
                            axum::Json(release),
                        )
                    }
                },
            ),
        )
        .route(
            "/package.deb",
            axum::routing::get(move || {
                let package = Arc::clone(&package);
                async move { package.as_ref().clone() }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn update_with_bad_signature_is_refused() {
    if !as_root() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let packages = tokio::task::spawn_blocking(packages).await.unwrap();
    let _installed = Installed::package(&packages.old);
    let bytes = std::fs::read(&packages.new).unwrap();
    let name = "Orrery_0.1.1_amd64.deb";
    let good = packages.release.sign_package(&bytes, name, "0.1.1");
    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    let cases = [
        (
            "signed by another key",
            bytes.clone(),
            UpdateSigner::generate().sign_package(&bytes, name, "0.1.1"),
            "signature",
        ),
        ("changed after signing", tampered, good.clone(), "signature"),
        (
            "cut short",
            bytes[..bytes.len() / 3].to_vec(),
            good.clone(),
            "signature",
        ),
        (
            "an old build announced as new",
            bytes.clone(),
            packages.release.sign_package(&bytes, name, "0.1.0"),
            "0.1.0",
        ),
    ];
    for (case, package, signature, reason) in cases {
        let feed = stand_in_feed(Arc::clone(&packages.feed), package, signature).await;
        let app = App::start(&feed).await;
        let page = app.page();
        check_from_about(&page, "0.1.1").await;
        page.click("[data-testid=install-update]").await;
        let said = page
            .wait_for_text("[data-testid=update-failed]", |text| !text.is_empty())
            .await;
        assert!(
            said.contains("was not installed") && said.contains(reason),
            "{case}: {said}"
        );
        assert!(
            said.ends_with("Orrery 0.1.0 keeps running."),
            "{case}: {said}"
        );
        assert_eq!(installed_version().as_deref(), Some("0.1.0"), "{case}");
        // Still the same process, still answering.
        assert_eq!(app.starts().len(), 1, "{case}");
        page.wait_for_text("[data-testid=install-update]", |text| text == "Try again")
            .await;
        drop(page);
        app.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", app.session),
                None,
            )
            .await;
    }
}
