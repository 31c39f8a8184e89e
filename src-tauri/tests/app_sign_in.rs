//! One sign-in through the real desktop app: the `orrery` binary under a
//! private Xvfb, driven over W3C WebDriver by tauri-driver (which runs
//! WebKitWebDriver for the app's webview), against a real sync server on
//! loopback. The session must land in the OS keyring and never in the page.
//!
//! Needs `tauri-driver` (cargo install, found through `TAURI_DRIVER` or PATH)
//! and `WebKitWebDriver` (Debian's webkit2gtk-driver); `make test` installs
//! both and provides the keyring (see scripts/test.sh).

mod webdriver;

use orrery_desktop::vault::KeyringVault;
use orrery_e2e::display::VirtualDisplay;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use webdriver::{Driver, Page};

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
        Self::start_with(server, &[]).await
    }

    /// Starts the app with `extra` environment variables too.
    async fn start_with(server: &TestServer, extra: &[(&str, String)]) -> Self {
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
        let environment: Vec<(&str, String)> = environment
            .into_iter()
            .chain(extra.iter().cloned())
            .collect();
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

/// Sign-in with a provider whose client is registered with the app's
/// `orrery://oauth/callback`: the app opens the user's browser (`$BROWSER`,
/// here a script), the "browser" follows the provider's page to the
/// `orrery://` redirect and opens it as the system would, by launching the
/// app with the link; the running copy receives it (single instance) and
/// finishes the sign-in.
#[tokio::test]
async fn provider_sign_in_finishes_through_a_deep_link() {
    use orrery_e2e::oauth_provider::{OAuthProviderDouble, ProviderUser};
    let github = OAuthProviderDouble::start(
        "github",
        orrery_server::auth::oauth::ProviderKind::GitHub,
        ProviderUser {
            subject: "5005".into(),
            email: "grace@orrery.test".into(),
            email_verified: true,
            name: "Grace Hopper".into(),
        },
    )
    .await
    .unwrap();
    github.register_app_redirect();
    let github_config = github.provider_config();
    let server = TestServer::start_with(|config| config.oauth_providers = vec![github_config])
        .await
        .unwrap();
    let tools = tempfile::tempdir().unwrap();
    let browser = tools.path().join("browser");
    std::fs::write(
        &browser,
        "#!/bin/sh\n\
         # The provider approves at once; where it sends the browser is opened\n\
         # the way the system opens an orrery:// link: with the app.\n\
         location=$(curl -s -o /dev/null -w '%{redirect_url}' \"$1\")\n\
         echo \"$location\" > \"$0.visited\"\n\
         exec \"$ORRERY_APP\" \"$location\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let app = Launched::start_with(
        &server,
        &[
            ("BROWSER", browser.display().to_string()),
            ("ORRERY_APP", env!("CARGO_BIN_EXE_orrery").to_owned()),
        ],
    )
    .await;
    let page = app.page();
    page.wait_for_text("dialog.welcome-dialog h2", |text| !text.is_empty())
        .await;
    page.click("dialog.welcome-dialog button[value=close]")
        .await;
    page.wait_for_text("section.auth h1", |text| text == "Sign in")
        .await;
    page.click("button[data-provider=github]").await;
    page.wait_for_text("[data-screen=account]", |text| text == "Grace Hopper")
        .await;
    let visited = std::fs::read_to_string(tools.path().join("browser.visited")).unwrap();
    assert!(
        visited.starts_with("orrery://oauth/callback?code="),
        "the provider sent the browser to the app's link: {visited}"
    );
    let saved = KeyringVault::new(&app.keyring_service)
        .load(&server.url())
        .await
        .unwrap()
        .expect("a saved session");
    assert_eq!(saved.account.email, "grace@orrery.test");
    assert_eq!(saved.account.providers, ["github"]);
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
