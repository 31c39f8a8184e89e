//! The loopback redirect of RFC 8252 §7.3: the app listens once on
//! 127.0.0.1 at a port the system picks, sends the browser to the provider
//! with a PKCE challenge (S256) and a random `state`, and reads the code from
//! the one request that comes back to `/callback`.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// A listener waiting for the browser to come back.
pub struct PendingAuthorization {
    listener: TcpListener,
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
    /// Binds 127.0.0.1 on a free port and builds the provider's authorize URL.
    pub async fn start(provider: &Provider) -> Result<Self, AccountError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|error| {
            browser_error(format!(
                "cannot listen on 127.0.0.1 for the sign-in: {error}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|error| browser_error(error.to_string()))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(provider.authorize_url.clone())
                    .map_err(|error| AccountError::Protocol(format!("authorize URL: {error}")))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.clone()).expect("a loopback URL is valid"),
            );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(provider.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Self {
            listener,
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
    pub async fn wait(self, timeout: Duration) -> Result<Authorization, AccountError> {
        let work = async {
            loop {
                let (stream, _) = self.listener.accept().await.map_err(|error| {
                    browser_error(format!("the sign-in listener failed: {error}"))
                })?;
                if let Some(code) = self.answer(stream).await? {
                    return Ok(code);
                }
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

    /// Reads one request; `Some(code)` when it was the callback.
    async fn answer(&self, mut stream: TcpStream) -> Result<Option<String>, AccountError> {
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
        let param = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        if let Some(error) = param("error") {
            let detail = param("error_description").unwrap_or_default();
            respond(
                &mut stream,
                "200 OK",
                "Sign-in was cancelled. You can close this tab.",
            )
            .await;
            return Err(browser_error(
                format!("the provider did not sign you in: {error} {detail}")
                    .trim()
                    .to_owned(),
            ));
        }
        if param("state").as_deref() != Some(self.state.secret().as_str()) {
            respond(
                &mut stream,
                "400 Bad Request",
                "This sign-in link does not belong to this attempt.",
            )
            .await;
            return Err(browser_error(
                "the browser came back from a different sign-in attempt (state mismatch)",
            ));
        }
        let Some(code) = param("code").filter(|code| !code.is_empty()) else {
            respond(&mut stream, "400 Bad Request", "The provider sent no code.").await;
            return Err(browser_error("the provider sent no authorization code"));
        };
        respond(
            &mut stream,
            "200 OK",
            "You are signed in to Orrery. You can close this tab and return to the app.",
        )
        .await;
        Ok(Some(code))
    }
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
