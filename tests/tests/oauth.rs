//! Sign-in with Google and GitHub as the desktop does it (RFC 8252): PKCE, a
//! one-shot loopback listener, the "system browser" following the provider's
//! redirect, and the server exchanging the code — against local providers that
//! speak OAuth 2 / OpenID Connect.

use std::time::Duration;

use orrery_account::loopback::PendingAuthorization;
use orrery_account::{AccountError, Provider};
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
