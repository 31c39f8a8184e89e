//! The native-app redirects of RFC 8252. Loopback (§7.3): the app listens
//! once on 127.0.0.1 at a port the system picks and reads the code from the
//! one request that comes back to `/callback`. App link (§7.1): the browser
//! ends at `orrery://oauth/callback`, which the system hands to the running
//! app, and the app passes it to the waiting attempt through
//! [`AppRedirects`]. Either way the browser goes to the provider with a PKCE
//! challenge (S256) and a random `state` that the answer must carry back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use orrery_domain::sign_in::{APP_REDIRECT_URI, OAuthRedirect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::{AccountError, Provider};

/// Largest callback request read.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// What the browser brought back, ready for the server to exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The provider's authorization code.
    pub code: String,
    /// The PKCE verifier whose challenge the provider saw.
    pub code_verifier: String,
    /// The redirect URI the code was issued for.
    pub redirect_uri: String,
}

/// Where `orrery://oauth/callback` links go while a sign-in waits for one.
/// The desktop hands every such link it is opened with to
/// [`AppRedirects::deliver`]; a newer attempt replaces an older one.
#[derive(Clone, Default)]
pub struct AppRedirects {
    waiting: Arc<Mutex<Option<mpsc::UnboundedSender<url::Url>>>>,
}

impl std::fmt::Debug for AppRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRedirects").finish_non_exhaustive()
    }
}

impl AppRedirects {
    /// Starts waiting for links (the previous attempt, if any, hears no more).
    fn expect(&self) -> mpsc::UnboundedReceiver<url::Url> {
        let (sender, receiver) = mpsc::unbounded_channel();
        *self.waiting.lock().expect("app redirects lock") = Some(sender);
        receiver
    }

    /// Hands a link the app was opened with to the sign-in waiting for it;
    /// an error when none waits (an old tab's link, say).
    pub fn deliver(&self, link: url::Url) -> Result<(), AccountError> {
        let waiting = self.waiting.lock().expect("app redirects lock");
        match waiting.as_ref() {
            Some(sender) if sender.send(link).is_ok() => Ok(()),
            _ => Err(browser_error(
                "no sign-in is waiting for this link; start the sign-in again from the app",
            )),
        }
    }
}

/// How the answer comes back.
enum Callback {
    /// Requests to this listener.
    Loopback(TcpListener),
    /// `orrery://oauth/callback` links handed over by the app.
    App(mpsc::UnboundedReceiver<url::Url>),
}

/// An attempt waiting for the browser to come back.
pub struct PendingAuthorization {
    callback: Callback,
    authorize_url: url::Url,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
    redirect_uri: String,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

fn browser_error(message: impl Into<String>) -> AccountError {
    AccountError::Browser(message.into())
}

impl PendingAuthorization {
    /// Binds 127.0.0.1 on a free port and builds the provider's authorize
    /// URL (a provider that redirects to the app needs [`Self::start_with`]).
    pub async fn start(provider: &Provider) -> Result<Self, AccountError> {
        Self::start_with(provider, None).await
    }

    /// Prepares the redirect the provider asks for (a loopback listener, or
    /// waiting on `app_redirects`) and builds the provider's authorize URL.
    pub async fn start_with(
        provider: &Provider,
        app_redirects: Option<&AppRedirects>,
    ) -> Result<Self, AccountError> {
        let (callback, redirect_uri) = match provider.redirect {
            OAuthRedirect::Loopback => {
                let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|error| {
                    browser_error(format!(
                        "cannot listen on 127.0.0.1 for the sign-in: {error}"
                    ))
                })?;
                let port = listener
                    .local_addr()
                    .map_err(|error| browser_error(error.to_string()))?
                    .port();
                (
                    Callback::Loopback(listener),
                    format!("http://127.0.0.1:{port}/callback"),
                )
            }
            OAuthRedirect::App => {
                let app_redirects = app_redirects.ok_or_else(|| {
                    browser_error(format!(
                        "{} sends the browser back to the desktop app's orrery:// link; sign in from the app",
                        provider.name
                    ))
                })?;
                (
                    Callback::App(app_redirects.expect()),
                    APP_REDIRECT_URI.to_owned(),
                )
            }
        };
        let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(provider.authorize_url.clone())
                    .map_err(|error| AccountError::Protocol(format!("authorize URL: {error}")))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.clone()).expect("both redirect URIs are URLs"),
            );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(provider.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Self {
            callback,
            authorize_url,
            state,
            verifier,
            redirect_uri,
        })
    }

    /// Where to send the browser.
    pub fn authorize_url(&self) -> &url::Url {
        &self.authorize_url
    }

    /// The redirect URI this listener answers.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser's redirect. Other requests (a favicon) get 404;
    /// a wrong `state` or a provider error ends the attempt.
    pub async fn wait(mut self, timeout: Duration) -> Result<Authorization, AccountError> {
        let state = self.state.secret().clone();
        let work = async {
            match &mut self.callback {
                Callback::Loopback(listener) => loop {
                    let (stream, _) = listener.accept().await.map_err(|error| {
                        browser_error(format!("the sign-in listener failed: {error}"))
                    })?;
                    if let Some(code) = answer(&state, stream).await? {
                        return Ok(code);
                    }
                },
                Callback::App(links) => loop {
                    let link = links
                        .recv()
                        .await
                        .ok_or_else(|| browser_error("a newer sign-in replaced this one"))?;
                    // Only the callback link itself answers; others are not ours.
                    if link.as_str().split('?').next() == Some(APP_REDIRECT_URI) {
                        return read_callback(&state, &link);
                    }
                },
            }
        };
        let code = tokio::time::timeout(timeout, work).await.map_err(|_| {
            browser_error("the browser did not come back in time; try signing in again")
        })??;
        Ok(Authorization {
            code,
            code_verifier: self.verifier.secret().clone(),
            redirect_uri: self.redirect_uri.clone(),
        })
    }
}

/// What the callback's query says: the code, or why the attempt ends.
fn read_callback(state: &str, url: &url::Url) -> Result<String, AccountError> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(error) = param("error") {
        let detail = param("error_description").unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        let error: String = error.chars().take(100).collect();
        return Err(browser_error(
            format!("the provider did not sign you in: {error} {detail}")
                .trim()
                .to_owned(),
        ));
    }
    if param("state").as_deref() != Some(state) {
        return Err(browser_error(
            "the browser came back from a different sign-in attempt (state mismatch)",
        ));
    }
    param("code")
        .filter(|code| !code.is_empty())
        .ok_or_else(|| browser_error("the provider sent no authorization code"))
}

/// Reads one request to the loopback listener; `Some(code)` when it was the callback.
async fn answer(state: &str, mut stream: TcpStream) -> Result<Option<String>, AccountError> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 2048];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.unwrap_or(0);
        if read == 0 || request.len() + read > MAX_CALLBACK_BYTES {
            return Ok(None);
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&request);
    let target = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("GET "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("");
    let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
        respond(
            &mut stream,
            "400 Bad Request",
            "That was not a sign-in request.",
        )
        .await;
        return Ok(None);
    };
    if url.path() != "/callback" {
        respond(&mut stream, "404 Not Found", "Nothing here.").await;
        return Ok(None);
    }
    let outcome = read_callback(state, &url);
    let (status, page) = match &outcome {
        Ok(_) => (
            "200 OK",
            "You are signed in to Orrery. You can close this tab and return to the app.",
        ),
        Err(_) if url.query_pairs().any(|(key, _)| key == "error") => {
            ("200 OK", "Sign-in was cancelled. You can close this tab.")
        }
        Err(_) if url.query_pairs().any(|(key, _)| key == "code") => (
            "400 Bad Request",
            "This sign-in link does not belong to this attempt.",
        ),
        Err(_) => ("400 Bad Request", "The provider sent no code."),
    };
    respond(&mut stream, status, page).await;
    outcome.map(Some)
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Orrery</title><body style=\"font-family:sans-serif;margin:3em\"><p>{message}</p></body>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
