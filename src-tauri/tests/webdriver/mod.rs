//! W3C WebDriver over tauri-driver for the tests that drive the real
//! desktop app (`app_sign_in`, `app_update`): the driver process, and a page
//! of a session with the few commands the tests use.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the app may take to start and answer (a cold WebKit under Xvfb).
pub const APP_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Driver {
    process: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    pub async fn start(display: &str, environment: &[(&str, String)]) -> Self {
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

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }
}

pub struct Page<'a> {
    pub driver: &'a Driver,
    pub session: String,
}

impl Page<'_> {
    pub async fn find(&self, css: &str) -> Option<String> {
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
    pub async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
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

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await.unwrap_or_else(|| panic!("no `{css}`"));
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element/{element}/value", self.session),
                Some(json!({ "text": text })),
            )
            .await;
    }

    pub async fn click(&self, css: &str) {
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
    pub async fn switch_to_new_window(&self) {
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
    pub async fn sign_in(&self, email: &str, name: &str) {
        self.wait_for_text("dialog.welcome-dialog h2", |text| !text.is_empty())
            .await;
        self.click("dialog.welcome-dialog button[value=close]")
            .await;
        self.wait_for_text("section.auth h1", |text| text == "Sign in")
            .await;
        let form = "form[aria-label='Sign in with email']";
        self.type_into(&format!("{form} input[name=email]"), email)
            .await;
        self.type_into(
            &format!("{form} input[name=password]"),
            orrery_e2e::TEST_PASSWORD,
        )
        .await;
        self.click(&format!("{form} button[type=submit]")).await;
        self.wait_for_text("[data-screen=account]", |text| text == name)
            .await;
    }

    pub async fn source(&self) -> String {
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
