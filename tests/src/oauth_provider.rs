//! A local OAuth 2 / OpenID Connect provider that speaks the real protocol,
//! for tests: an authorization endpoint that approves a configured user and
//! redirects with a code, a token endpoint that checks the PKCE verifier
//! (S256), the redirect URI and the client, userinfo, a JWKS, and id_tokens
//! signed RS256 with a key generated at start. It can also play GitHub
//! (`/user`, `/user/emails`, no id_token).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use orrery_domain::sign_in::{APP_REDIRECT_URI, OAuthRedirect};
use orrery_server::auth::oauth::{OAuthProvider, ProviderKind};
use rand::RngCore;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The account "signed in" at the provider, which approves every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUser {
    /// The provider's stable id for the account.
    pub subject: String,
    /// Its address.
    pub email: String,
    /// Whether the provider verified it.
    pub email_verified: bool,
    /// Display name.
    pub name: String,
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    user: ProviderUser,
}

struct ProviderState {
    kind: ProviderKind,
    issuer: String,
    client_id: String,
    client_secret: String,
    kid: String,
    signing_key: EncodingKey,
    /// A key that is not in the JWKS: id_tokens signed with it must be refused.
    rogue_key: EncodingKey,
    modulus: String,
    exponent: String,
    user: ProviderUser,
    sign_with_rogue_key: bool,
    codes: HashMap<String, PendingCode>,
    tokens: HashMap<String, ProviderUser>,
    token_requests: usize,
    challenge_methods: Vec<String>,
    /// The redirect registered with the provider for this client: any
    /// loopback port, or exactly the app's `orrery://` link.
    registered_redirect: OAuthRedirect,
}

/// A running provider on 127.0.0.1.
#[derive(Clone)]
pub struct OAuthProviderDouble {
    address: SocketAddr,
    id: String,
    state: Arc<Mutex<ProviderState>>,
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn new_rsa_key() -> (EncodingKey, rsa::RsaPrivateKey) {
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation");
    let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
    (EncodingKey::from_rsa_der(der.as_bytes()), key)
}

impl OAuthProviderDouble {
    /// Starts a provider of `kind` whose id in Orrery is `id` (`google`, `github`).
    pub async fn start(id: &str, kind: ProviderKind, user: ProviderUser) -> anyhow::Result<Self> {
        let (signing_key, private) = new_rsa_key();
        let (rogue_key, _) = new_rsa_key();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(ProviderState {
            kind,
            issuer: format!("http://{address}"),
            client_id: format!("orrery-{id}-client"),
            client_secret: random_token("secret-"),
            kid: random_token("kid-"),
            signing_key,
            rogue_key,
            modulus: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            exponent: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
            user,
            sign_with_rogue_key: false,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            token_requests: 0,
            challenge_methods: Vec::new(),
            registered_redirect: OAuthRedirect::Loopback,
        }));
        let router = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/jwks", get(jwks))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self {
            address,
            id: id.to_owned(),
            state,
        })
    }

    /// The server configuration that points Orrery at this provider.
    pub fn provider_config(&self) -> OAuthProvider {
        let state = self.state.lock().unwrap();
        let base = format!("http://{}", self.address);
        let real = match state.kind {
            ProviderKind::OpenIdConnect => {
                OAuthProvider::google(state.client_id.clone(), Some(state.client_secret.clone()))
            }
            ProviderKind::GitHub => {
                OAuthProvider::github(state.client_id.clone(), Some(state.client_secret.clone()))
            }
        };
        OAuthProvider {
            id: self.id.clone(),
            authorize_url: format!("{base}/authorize"),
            token_url: format!("{base}/token"),
            userinfo_url: match state.kind {
                ProviderKind::OpenIdConnect => format!("{base}/userinfo"),
                ProviderKind::GitHub => format!("{base}/user"),
            },
            emails_url: real
                .emails_url
                .as_ref()
                .map(|_| format!("{base}/user/emails")),
            jwks_url: real.jwks_url.as_ref().map(|_| format!("{base}/jwks")),
            issuers: match state.kind {
                ProviderKind::OpenIdConnect => vec![state.issuer.clone()],
                ProviderKind::GitHub => Vec::new(),
            },
            redirect: state.registered_redirect,
            ..real
        }
    }

    /// Registers the app's `orrery://oauth/callback` as the client's only
    /// redirect (as a GitHub OAuth app registered with it would have):
    /// loopback redirects are refused from now on, and the server is told
    /// to use the app link by [`Self::provider_config`].
    pub fn register_app_redirect(&self) {
        self.state.lock().unwrap().registered_redirect = OAuthRedirect::App;
    }

    /// Changes who is signed in at the provider.
    pub fn set_user(&self, user: ProviderUser) {
        self.state.lock().unwrap().user = user;
    }

    /// From now on, sign id_tokens with a key the JWKS does not list.
    pub fn sign_with_rogue_key(&self, rogue: bool) {
        self.state.lock().unwrap().sign_with_rogue_key = rogue;
    }

    /// How many times the token endpoint was called.
    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }

    /// The `code_challenge_method` of every authorization request seen.
    pub fn challenge_methods(&self) -> Vec<String> {
        self.state.lock().unwrap().challenge_methods.clone()
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

async fn authorize(
    State(state): State<Arc<Mutex<ProviderState>>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let mut provider = state.lock().unwrap();
    // Errors about the client or redirect are shown, never redirected (RFC 6749 §4.1.2.1).
    if query.client_id.as_deref() != Some(provider.client_id.as_str()) {
        return bad_request("unknown client_id");
    }
    let registered = provider.registered_redirect;
    let Some(redirect_uri) = query.redirect_uri.filter(|uri| match registered {
        OAuthRedirect::Loopback => uri.starts_with("http://127.0.0.1:"),
        OAuthRedirect::App => uri == APP_REDIRECT_URI,
    }) else {
        return bad_request("redirect_uri is not registered for this client");
    };
    provider
        .challenge_methods
        .push(query.code_challenge_method.clone().unwrap_or_default());
    let mut target = url::Url::parse(&redirect_uri).expect("a registered redirect is a URL");
    if query.response_type.as_deref() != Some("code") {
        target
            .query_pairs_mut()
            .append_pair("error", "unsupported_response_type");
    } else if query.code_challenge_method.as_deref() != Some("S256")
        || query.code_challenge.is_none()
    {
        target
            .query_pairs_mut()
            .append_pair("error", "invalid_request")
            .append_pair("error_description", "PKCE with S256 is required");
    } else {
        let code = random_token("code-");
        let pending = PendingCode {
            client_id: provider.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: query.code_challenge.unwrap_or_default(),
            user: provider.user.clone(),
        };
        provider.codes.insert(code.clone(), pending);
        target.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(state) = query.state {
        target.query_pairs_mut().append_pair("state", &state);
    }
    Redirect::to(target.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code_verifier: Option<String>,
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Client authentication: HTTP Basic (what the `oauth2` crate sends) or form fields.
fn client_credentials(headers: &HeaderMap, form: &TokenForm) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|pair| pair.split_once(':')) {
        let decode = |text: &str| {
            url::form_urlencoded::parse(format!("x={text}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return (decode(id), decode(secret));
    }
    (form.client_id.clone(), form.client_secret.clone())
}

async fn token(
    State(state): State<Arc<Mutex<ProviderState>>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let mut provider = state.lock().unwrap();
    provider.token_requests += 1;
    let (client_id, client_secret) = client_credentials(&headers, &form);
    if client_id.as_deref() != Some(provider.client_id.as_str())
        || client_secret.as_deref() != Some(provider.client_secret.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    // A code is used once, whatever happens next.
    let Some(pending) = form
        .code
        .as_deref()
        .and_then(|code| provider.codes.remove(code))
    else {
        return token_error("invalid_grant", "the code is unknown or was already used");
    };
    if pending.client_id != provider.client_id
        || form.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str())
    {
        return token_error(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let verifier = form.code_verifier.unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != pending.code_challenge {
        return token_error("invalid_grant", "PKCE verification failed");
    }
    let access_token = random_token("at-");
    provider
        .tokens
        .insert(access_token.clone(), pending.user.clone());
    let mut body =
        json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": 3600 });
    if provider.kind == ProviderKind::OpenIdConnect {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": provider.issuer, "sub": pending.user.subject, "aud": provider.client_id,
            "iat": now, "exp": now + 3600,
            "email": pending.user.email, "email_verified": pending.user.email_verified, "name": pending.user.name,
        });
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(provider.kid.clone());
        let key = if provider.sign_with_rogue_key {
            &provider.rogue_key
        } else {
            &provider.signing_key
        };
        body["id_token"] =
            json!(jsonwebtoken::encode(&header, &claims, key).expect("signing an id_token"));
    }
    Json(body).into_response()
}

fn bearer_user(state: &Arc<Mutex<ProviderState>>, headers: &HeaderMap) -> Option<ProviderUser> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    state.lock().unwrap().tokens.get(token).cloned()
}

async fn userinfo(State(state): State<Arc<Mutex<ProviderState>>>, headers: HeaderMap) -> Response {
    match bearer_user(&state, &headers) {
        Some(user) => Json(json!({
            "sub": user.subject, "email": user.email, "email_verified": user.email_verified, "name": user.name,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn jwks(State(state): State<Arc<Mutex<ProviderState>>>) -> Json<serde_json::Value> {
    let provider = state.lock().unwrap();
    Json(json!({ "keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": provider.kid, "n": provider.modulus, "e": provider.exponent,
    }]}))
}

async fn github_user(
    State(state): State<Arc<Mutex<ProviderState>>>,
    headers: HeaderMap,
) -> Response {
    match bearer_user(&state, &headers) {
        Some(user) => Json(json!({
            "id": user.subject.parse::<u64>().unwrap_or(4242), "login": user.name.replace(' ', "-").to_lowercase(), "name": user.name,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(
    State(state): State<Arc<Mutex<ProviderState>>>,
    headers: HeaderMap,
) -> Response {
    match bearer_user(&state, &headers) {
        Some(user) => Json(json!([
            { "email": format!("noreply-{}@users.noreply.github.com", user.subject), "primary": false, "verified": true, "visibility": null },
            { "email": user.email, "primary": true, "verified": user.email_verified, "visibility": "private" },
        ]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
