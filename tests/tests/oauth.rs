//! Sign-in with Google and GitHub as the desktop does it (RFC 8252): PKCE, a
//! one-shot loopback listener or the app's own `orrery://oauth/callback`
//! link, the "system browser" following the provider's redirect, and the
//! server exchanging the code — against local providers that speak OAuth 2 /
//! OpenID Connect.

use std::time::Duration;

use orrery_account::loopback::{AppRedirects, PendingAuthorization};
use orrery_account::{AccountError, Provider};
use orrery_domain::sign_in::{APP_REDIRECT_URI, OAuthRedirect};
use orrery_e2e::TestServer;
use orrery_e2e::oauth_provider::{OAuthProviderDouble, ProviderUser};
use orrery_server::auth::oauth::ProviderKind;

/// Plays the system browser: follows the authorize URL and every redirect,
/// ending at the app's loopback listener.
fn browser(url: &url::Url) -> Result<(), String> {
    let url = url.clone();
    tokio::spawn(async move {
        let _ = reqwest::Client::new().get(url).send().await;
    });
    Ok(())
}

fn user(subject: &str, email: &str, verified: bool) -> ProviderUser {
    ProviderUser {
        subject: subject.into(),
        email: email.into(),
        email_verified: verified,
        name: "Hedy Lamarr".into(),
    }
}

fn provider<'a>(providers: &'a [Provider], id: &str) -> &'a Provider {
    providers.iter().find(|provider| provider.id == id).unwrap()
}

#[tokio::test]
async fn oauth_pkce_loopback_signs_in() {
    let google = OAuthProviderDouble::start(
        "google",
        ProviderKind::OpenIdConnect,
        user("g-1001", "Hedy@Orrery.test", true),
    )
    .await
    .unwrap();
    let github = OAuthProviderDouble::start(
        "github",
        ProviderKind::GitHub,
        user("2002", "hedy@orrery.test", true),
    )
    .await
    .unwrap();
    let (google_config, github_config) = (google.provider_config(), github.provider_config());
    let server = TestServer::start_with(|config| {
        config.oauth_providers = vec![google_config, github_config]
    })
    .await
    .unwrap();
    let accounts = server.accounts();
    let providers = accounts.providers().await.unwrap();
    assert_eq!(
        providers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["google", "github"]
    );

    // Google: a new account, created from the verified id_token.
    let session = accounts
        .sign_in_with_provider(
            provider(&providers, "google"),
            "laptop",
            None,
            browser,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(session.account.email, "hedy@orrery.test");
    assert!(session.account.email_verified);
    assert!(!session.account.has_password);
    assert_eq!(session.account.providers, ["google"]);
    assert_eq!(
        google.challenge_methods(),
        ["S256"],
        "the app sent a PKCE S256 challenge"
    );
    assert_eq!(google.token_requests(), 1);
    accounts.me(&session.access_token).await.unwrap();

    // GitHub with the same verified address links to the same user.
    let linked = accounts
        .sign_in_with_provider(
            provider(&providers, "github"),
            "desktop",
            None,
            browser,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(linked.account.id, session.account.id);
    assert_eq!(linked.account.providers, ["github", "google"]);

    // Signing in again with Google finds the linked identity.
    let again = accounts
        .sign_in_with_provider(
            provider(&providers, "google"),
            "tablet",
            None,
            browser,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(again.account.id, session.account.id);

    // A stolen code is useless without its verifier, and a code works once.
    let pending = PendingAuthorization::start(provider(&providers, "google"))
        .await
        .unwrap();
    browser(pending.authorize_url()).unwrap();
    let authorization = pending.wait(Duration::from_secs(30)).await.unwrap();
    let mut tampered = authorization.clone();
    tampered.code_verifier = "x".repeat(64);
    let refused = accounts
        .complete_provider_sign_in("google", &tampered, "thief")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AccountError::Refused { status: 400, message, .. } if message.contains("PKCE")),
        "{refused:?}"
    );
    let replay = accounts
        .complete_provider_sign_in("google", &authorization, "thief")
        .await
        .unwrap_err();
    assert!(
        matches!(&replay, AccountError::Refused { status: 400, .. }),
        "{replay:?}"
    );

    // An id_token signed with a key outside the provider's JWKS is refused.
    google.sign_with_rogue_key(true);
    let forged = accounts
        .sign_in_with_provider(
            provider(&providers, "google"),
            "laptop",
            None,
            browser,
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&forged, AccountError::Refused { status: 401, message, .. } if message.contains("verification")),
        "{forged:?}"
    );
    google.sign_with_rogue_key(false);

    // An unverified address never links to, or creates, an account.
    google.set_user(user("g-3003", "someone-else@orrery.test", false));
    let unverified = accounts
        .sign_in_with_provider(
            provider(&providers, "google"),
            "laptop",
            None,
            browser,
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&unverified, AccountError::Refused { status: 403, .. }),
        "{unverified:?}"
    );
    assert!(
        server
            .store()
            .await
            .unwrap()
            .user_by_email("someone-else@orrery.test")
            .await
            .unwrap()
            .is_none()
    );

    // Redirects that are not loopback are refused by the server before any exchange.
    let requests = google.token_requests();
    let mut outside = authorization.clone();
    outside.redirect_uri = "https://evil.example/callback".into();
    let refused = accounts
        .complete_provider_sign_in("google", &outside, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AccountError::Refused { status: 400, .. }),
        "{refused:?}"
    );
    assert_eq!(google.token_requests(), requests);
}

#[tokio::test]
async fn loopback_listener_rejects_a_foreign_state_and_reports_provider_errors() {
    let provider = Provider {
        id: "google".into(),
        name: "Google".into(),
        client_id: "client".into(),
        authorize_url: "http://127.0.0.1:9/authorize".into(),
        scopes: vec!["openid".into()],
        redirect: OAuthRedirect::Loopback,
    };
    let pending = PendingAuthorization::start(&provider).await.unwrap();
    let callback = pending.redirect_uri().to_owned();
    let visit = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let favicon = client
            .get(callback.replace("/callback", "/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(favicon.status(), 404);
        client
            .get(format!("{callback}?code=abc&state=not-the-state"))
            .send()
            .await
            .unwrap()
            .status()
    });
    let error = pending.wait(Duration::from_secs(30)).await.unwrap_err();
    assert!(error.to_string().contains("state mismatch"), "{error}");
    assert_eq!(visit.await.unwrap(), 400);

    let pending = PendingAuthorization::start(&provider).await.unwrap();
    let callback = pending.redirect_uri().to_owned();
    tokio::spawn(async move { reqwest::get(format!("{callback}?error=access_denied")).await });
    let error = pending.wait(Duration::from_secs(30)).await.unwrap_err();
    assert!(error.to_string().contains("access_denied"), "{error}");
}

/// Plays the system browser for a provider that redirects to the app: it
/// follows the authorize URL up to the `orrery://` redirect, which it cannot
/// load, and hands that link to the app as the system would (`redirects`,
/// which the desktop feeds from its launch arguments).
fn app_link_browser(redirects: AppRedirects) -> impl FnOnce(&url::Url) -> Result<(), String> {
    move |url: &url::Url| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let answer = client.get(url).send().await.unwrap();
            let location = answer.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap();
            redirects
                .deliver(url::Url::parse(location).unwrap())
                .unwrap();
        });
        Ok(())
    }
}

#[tokio::test]
async fn oauth_app_link_signs_in() {
    let github = OAuthProviderDouble::start(
        "github",
        ProviderKind::GitHub,
        user("4004", "grace@orrery.test", true),
    )
    .await
    .unwrap();
    github.register_app_redirect();
    let github_config = github.provider_config();
    let server = TestServer::start_with(|config| config.oauth_providers = vec![github_config])
        .await
        .unwrap();
    let accounts = server.accounts();
    let providers = accounts.providers().await.unwrap();
    let github_provider = provider(&providers, "github");
    assert_eq!(
        github_provider.redirect,
        OAuthRedirect::App,
        "the server says how it comes back"
    );

    let redirects = AppRedirects::default();
    let session = accounts
        .sign_in_with_provider(
            github_provider,
            "laptop",
            Some(&redirects),
            app_link_browser(redirects.clone()),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(session.account.email, "grace@orrery.test");
    assert_eq!(session.account.providers, ["github"]);
    assert_eq!(github.challenge_methods(), ["S256"]);

    // Without a way to hear the app's link (not the desktop app), it says so.
    let refused = PendingAuthorization::start(github_provider)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("sign in from the app"),
        "{refused}"
    );

    // A link from an old tab, with nothing waiting, is refused and changes nothing.
    let stale = url::Url::parse(&format!("{APP_REDIRECT_URI}?code=old&state=old")).unwrap();
    let error = redirects.deliver(stale.clone()).unwrap_err();
    assert!(
        error.to_string().contains("no sign-in is waiting"),
        "{error}"
    );

    // A link that belongs to another attempt ends this one (state mismatch);
    // other orrery:// links are not the callback and are passed over.
    let pending = PendingAuthorization::start_with(github_provider, Some(&redirects))
        .await
        .unwrap();
    assert_eq!(pending.redirect_uri(), APP_REDIRECT_URI);
    redirects
        .deliver(url::Url::parse("orrery://graph/0190c8c0-0000-7000-8000-000000000000").unwrap())
        .unwrap();
    redirects.deliver(stale).unwrap();
    let error = pending.wait(Duration::from_secs(30)).await.unwrap_err();
    assert!(error.to_string().contains("state mismatch"), "{error}");

    // A provider error comes back through the link too.
    let pending = PendingAuthorization::start_with(github_provider, Some(&redirects))
        .await
        .unwrap();
    let denied = url::Url::parse(&format!("{APP_REDIRECT_URI}?error=access_denied")).unwrap();
    redirects.deliver(denied).unwrap();
    let error = pending.wait(Duration::from_secs(30)).await.unwrap_err();
    assert!(error.to_string().contains("access_denied"), "{error}");

    // The server takes only this provider's kind of redirect: a loopback
    // redirect_uri for it is refused before any exchange.
    let requests = github.token_requests();
    let loopback = orrery_account::loopback::Authorization {
        code: "code-stolen".into(),
        code_verifier: "v".repeat(64),
        redirect_uri: "http://127.0.0.1:53682/callback".into(),
    };
    let refused = accounts
        .complete_provider_sign_in("github", &loopback, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AccountError::Refused { status: 400, message, .. } if message.contains(APP_REDIRECT_URI)),
        "{refused:?}"
    );
    assert_eq!(github.token_requests(), requests);
}
