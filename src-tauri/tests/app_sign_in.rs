//! One sign-in through the real desktop app: the `orrery` binary under a
//! private Xvfb, driven over W3C WebDriver by tauri-driver (which runs
//! WebKitWebDriver for the app's webview), against a real sync server on
//! loopback. The session must land in the OS keyring and never in the page.
//!
//! Needs `tauri-driver` (cargo install, found through `TAURI_DRIVER` or PATH)
//! and `WebKitWebDriver` (Debian's webkit2gtk-driver); `make test` installs
//! both and provides the keyring (see scripts/test.sh).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orrery_desktop::vault::KeyringVault;
use orrery_e2e::display::VirtualDisplay;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

/// How long the app may take to start and answer (a cold WebKit under Xvfb).
const APP_TIMEOUT: Duration = Duration::from_secs(120);

struct Driver {
    process: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    async fn start(display: &str, environment: &[(&str, String)]) -> Self {
        let program = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into());
        let (port, native_port) = (free_port(), free_port());
        let process = Command::new(&program)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", display)
            .envs(
                environment
                    .iter()
                    .map(|(key, value)| (*key, value.as_str())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{program} could not start ({error}); `make test` installs it")
            });
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        // Ready when it answers the WebDriver status endpoint.
        let deadline = Instant::now() + APP_TIMEOUT;
        loop {
            let status = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await;
            if status.is_ok_and(|response| response.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "tauri-driver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }
}

struct Page<'a> {
    driver: &'a Driver,
    session: String,
}

impl Page<'_> {
    async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element", self.session),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()?
            .values()
            .next()?
            .as_str()
            .map(str::to_owned)
    }

    /// Waits until `css` matches and its text satisfies `accept`; the webview
    /// renders asynchronously, so this polls the DOM until the deadline.
    async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + APP_TIMEOUT;
        loop {
            if let Some(element) = self.find(css).await {
                let text = self
                    .driver
                    .call(
                        reqwest::Method::GET,
                        &format!("/session/{}/element/{element}/text", self.session),
                        None,
                    )
                    .await;
                if let Some(text) = text.as_str().filter(|text| accept(text)) {
                    return text.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never showed the expected text"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await.unwrap_or_else(|| panic!("no `{css}`"));
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element/{element}/value", self.session),
                Some(json!({ "text": text })),
            )
            .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await.unwrap_or_else(|| panic!("no `{css}`"));
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element/{element}/click", self.session),
                Some(json!({})),
            )
            .await;
    }

    /// Switches to the window this session is not on, once there are two
    /// (the management window opens asynchronously).
    async fn switch_to_new_window(&self) {
        let current = self
            .driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}/window", self.session),
                None,
            )
            .await;
        let deadline = Instant::now() + APP_TIMEOUT;
        loop {
            let handles = self
                .driver
                .call(
                    reqwest::Method::GET,
                    &format!("/session/{}/window/handles", self.session),
                    None,
                )
                .await;
            if let Some(other) = handles
                .as_array()
                .into_iter()
                .flatten()
                .find(|handle| **handle != current)
            {
                self.driver
                    .call(
                        reqwest::Method::POST,
                        &format!("/session/{}/window", self.session),
                        Some(json!({ "handle": other })),
                    )
                    .await;
                return;
            }
            assert!(Instant::now() < deadline, "no second window opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the sign-in screen (after closing the first-run
    /// welcome) and waits until the account shows `name`.
    async fn sign_in(&self, email: &str, name: &str) {
        self.wait_for_text("dialog.welcome-dialog h2", |text| !text.is_empty())
            .await;
        self.click("dialog.welcome-dialog button[value=close]")
            .await;
        self.wait_for_text("section.auth h1", |text| text == "Sign in")
            .await;
        let form = "form[aria-label='Sign in with email']";
        self.type_into(&format!("{form} input[name=email]"), email)
            .await;
        self.type_into(&format!("{form} input[name=password]"), TEST_PASSWORD)
            .await;
        self.click(&format!("{form} button[type=submit]")).await;
        self.wait_for_text("[data-screen=account]", |text| text == name)
            .await;
    }

    async fn source(&self) -> String {
        let source = self
            .driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}/source", self.session),
                None,
            )
            .await;
        source.as_str().unwrap_or_default().to_owned()
    }
}

/// The desktop app started by tauri-driver under its own Xvfb, with its own
/// data directory and keyring entry, talking to `server`.
struct Launched {
    driver: Driver,
    session: String,
    keyring_service: String,
    _display: VirtualDisplay,
    _data: tempfile::TempDir,
}

impl Launched {
    async fn start(server: &TestServer) -> Self {
        let display = VirtualDisplay::start();
        let data = tempfile::tempdir().unwrap();
        let keyring_service = format!("orrery-app-test-{}", uuid::Uuid::now_v7());
        let environment = [
            ("ORRERY_SERVER_URL", server.url()),
            ("ORRERY_DATA_DIR", data.path().display().to_string()),
            ("ORRERY_KEYRING_SERVICE", keyring_service.clone()),
            ("WGPU_BACKEND", "vulkan".to_owned()),
            // Quiet: no accessibility bus or desktop portals on a bare X server.
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
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Self {
            driver,
            session,
            keyring_service,
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

    /// Ends the WebDriver session and forgets the saved session.
    async fn close(self, server: &TestServer) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.session),
                None,
            )
            .await;
        KeyringVault::new(&self.keyring_service)
            .clear(&server.url())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn app_signs_in_through_its_screens() {
    let server = TestServer::start().await.unwrap();
    server
        .accounts()
        .register("ada@orrery.test", TEST_PASSWORD, "Ada Lovelace", "phone")
        .await
        .unwrap();
    let app = Launched::start(&server).await;
    let driver = &app.driver;
    let keyring_service = app.keyring_service.clone();
    let page = app.page();
    // The first start greets the user once, over the sign-in screen; they
    // close the welcome.
    page.wait_for_text("dialog.welcome-dialog h2", |text| !text.is_empty())
        .await;
    page.click("dialog.welcome-dialog button[value=close]")
        .await;
    // A fresh install shows sign-in; the user signs in with email and password.
    page.wait_for_text("section.auth h1", |text| text == "Sign in")
        .await;
    let form = "form[aria-label='Sign in with email']";
    page.type_into(&format!("{form} input[name=email]"), "ada@orrery.test")
        .await;
    page.type_into(&format!("{form} input[name=password]"), "wrong password")
        .await;
    page.click(&format!("{form} button[type=submit]")).await;
    page.wait_for_text("[data-testid=account-notice]", |text| {
        text == "Wrong email or password."
    })
    .await;

    let password = page
        .find(&format!("{form} input[name=password]"))
        .await
        .unwrap();
    driver
        .call(
            reqwest::Method::POST,
            &format!("/session/{}/element/{password}/clear", page.session),
            Some(json!({})),
        )
        .await;
    page.type_into(&format!("{form} input[name=password]"), TEST_PASSWORD)
        .await;
    page.click(&format!("{form} button[type=submit]")).await;
    page.wait_for_text("[data-screen=account]", |text| text == "Ada Lovelace")
        .await;
    page.wait_for_text("[data-testid=sync-status]", |text| text == "Synced")
        .await;

    // The tokens are in the keyring, not in the page.
    let saved = KeyringVault::new(&keyring_service)
        .load(&server.url())
        .await
        .unwrap()
        .expect("a saved session");
    assert_eq!(saved.account.email, "ada@orrery.test");
    let source = page.source().await;
    assert!(!source.contains(&saved.access_token) && !source.contains(&saved.refresh_token));
    assert!(!source.contains("oat_") && !source.contains("ort_"));

    drop(page);
    app.close(&server).await;
}

/// An admin signs in, opens the management window from "Manage", moves a
/// user to another plan there, and that user's next policy decision — with
/// the token they already hold — follows the new plan.
#[tokio::test]
async fn admin_changes_a_plan_in_the_management_window_and_the_next_decision_follows() {
    let server = TestServer::start().await.unwrap();
    let accounts = server.accounts();
    accounts
        .register("operator@orrery.test", TEST_PASSWORD, "Operator", "phone")
        .await
        .unwrap();
    let member = accounts
        .register("member@orrery.test", TEST_PASSWORD, "Member", "phone")
        .await
        .unwrap();
    let decide = || async {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/v1/policy/decide", server.url()))
            .bearer_auth(&member.access_token)
            .json(&json!({ "kind": "manage_api_keys" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["allowed"].as_bool().unwrap()
    };
    assert!(!decide().await, "the free plan has no API keys");

    let app = Launched::start(&server).await;
    let page = app.page();
    page.sign_in("operator@orrery.test", "Operator").await;
    page.click("[data-testid=manage]").await;
    page.switch_to_new_window().await;
    page.wait_for_text("strong.admin-title", |text| text.contains("Manage"))
        .await;
    page.click("button[data-screen=users]").await;
    page.wait_for_text("tr[data-user='member@orrery.test']", |text| {
        text.contains("member@orrery.test")
    })
    .await;
    page.click("select[aria-label='Plan of member@orrery.test'] option[value=pro]")
        .await;
    // The window says it is done once the server answered.
    page.wait_for_text(".toast", |text| {
        text.contains("member@orrery.test is on the pro plan")
    })
    .await;
    assert!(
        decide().await,
        "the next decision sees the plan the admin chose"
    );

    drop(page);
    app.close(&server).await;
}
