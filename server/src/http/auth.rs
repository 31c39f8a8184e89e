//! `/v1/auth/*`: register, sign in, refresh, sign out, password reset, and
//! sign-in through OAuth providers. Every answer that signs someone in is a
//! [`TokenPair`]: a 15-minute access token and a 7-day refresh token that is
//! replaced on every use.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Method, StatusCode};
use chrono::Duration;
use orrery_store::{Credential, NewUser, RefreshOutcome, TokenPairHashes, UserRecord};
use serde::{Deserialize, Serialize};

use super::me::UserView;
use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::hashing::Lane;
use crate::auth::oauth::ProviderKind;
use crate::auth::password::{MAX_PASSWORD_CHARS, check_new_password};
use crate::auth::rate_limit::{AddressKey, Throttled};
use crate::auth::secrets::{
    ACCESS_PREFIX, MAX_SECRET_CHARS, REFRESH_PREFIX, RESET_PREFIX, hash_secret, new_secret,
};

/// Lifetime of an access token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(15);
/// Lifetime of a refresh token.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::days(7);
/// Lifetime of a password-reset code.
pub const RESET_CODE_LIFETIME: Duration = Duration::minutes(30);

const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 100;
const DEFAULT_DEVICE_NAME: &str = "Orrery desktop";

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::POST, "/v1/auth/register", Access::Public, register)
        .add(Method::POST, "/v1/auth/sign-in", Access::Public, sign_in)
        .add(Method::POST, "/v1/auth/refresh", Access::Public, refresh)
        .add(
            Method::POST,
            "/v1/auth/sign-out",
            Access::SignedIn,
            sign_out,
        )
        .add(
            Method::POST,
            "/v1/auth/password-reset",
            Access::Public,
            request_password_reset,
        )
        .add(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            Access::Public,
            confirm_password_reset,
        )
        .add(Method::GET, "/v1/auth/providers", Access::Public, providers)
        .add(
            Method::POST,
            "/v1/auth/oauth/{provider}",
            Access::Public,
            oauth_sign_in,
        )
}

/// What signing in returns.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    refresh_token: String,
    /// Seconds until the refresh token expires (it is replaced on every use).
    refresh_expires_in: i64,
    user: UserView,
}

fn new_token_pair(context: &ApiContext) -> (String, String, TokenPairHashes) {
    let now = context.now();
    let access = new_secret(ACCESS_PREFIX);
    let refresh = new_secret(REFRESH_PREFIX);
    let hashes = TokenPairHashes {
        access_hash: hash_secret(&access),
        access_expires_at: now + ACCESS_TOKEN_LIFETIME,
        refresh_hash: hash_secret(&refresh),
        refresh_expires_at: now + REFRESH_TOKEN_LIFETIME,
    };
    (access, refresh, hashes)
}

async fn token_pair_for(
    context: &ApiContext,
    user: &UserRecord,
    access: String,
    refresh: String,
) -> Result<TokenPair, ApiError> {
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_LIFETIME.num_seconds(),
        refresh_token: refresh,
        refresh_expires_in: REFRESH_TOKEN_LIFETIME.num_seconds(),
        user: UserView::load(context, user).await?,
    })
}

async fn start_session(
    context: &ApiContext,
    user: &UserRecord,
    device_name: &str,
) -> Result<TokenPair, ApiError> {
    let (access, refresh, hashes) = new_token_pair(context);
    context
        .store
        .create_session(user, device_name, &hashes, context.now())
        .await?;
    token_pair_for(context, user, access, refresh).await
}

/// A checked email address in its one written form: Unicode NFC, lower
/// case, trimmed. The same address typed with composed or decomposed
/// accents, or in another case, is the same account.
pub(super) fn normalize_email(email: &str) -> Result<String, ApiError> {
    use unicode_normalization::UnicodeNormalization;
    let email: String = email
        .trim()
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .nfc()
        .collect();
    let invalid =
        || ApiError::Unprocessable("email must be an address like name@example.com".into());
    if email.is_empty() || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "email must be 1 to {MAX_EMAIL_CHARS} characters"
        )));
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let clean = |part: &str| {
        !part.is_empty()
            && !part.chars().any(|c| c.is_whitespace() || c == '@')
            && orrery_domain::text::hidden_character(part).is_none()
    };
    if !clean(local)
        || !clean(domain)
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(invalid());
    }
    Ok(email)
}

/// A trimmed display name in Unicode NFC, free of control, direction-changing
/// and invisible characters (`orrery_domain::text`).
pub(super) fn check_name(name: &str, what: &str) -> Result<String, ApiError> {
    use unicode_normalization::UnicodeNormalization;
    let name: String = name.trim().nfc().collect();
    let name = name.as_str();
    if name.is_empty() {
        return Err(ApiError::Unprocessable(format!("{what} must not be empty")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    if let Some(hidden) = orrery_domain::text::hidden_character(name) {
        return Err(ApiError::Unprocessable(format!(
            "{what} must not contain the {hidden}"
        )));
    }
    Ok(name.to_owned())
}

fn device_name(name: Option<&str>) -> Result<String, ApiError> {
    name.map_or(Ok(DEFAULT_DEVICE_NAME.to_owned()), |name| {
        check_name(name, "device_name")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    email: String,
    password: String,
    name: String,
    device_name: Option<String>,
}

async fn register(
    State(context): State<ApiContext>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let Json(request) = body?;
    let email = normalize_email(&request.email)?;
    let name = check_name(&request.name, "name")?;
    let device = device_name(request.device_name.as_deref())?;
    check_new_password(&request.password).map_err(ApiError::Unprocessable)?;
    let now = context.now();
    context
        .registrations
        .take(&AddressKey::from(peer.ip()), now)
        .map_err(|wait| ApiError::TooManyRequests {
            message: format!(
                "too many accounts were registered from this address; try again in {}",
                minutes(wait)
            ),
            retry_after_secs: seconds(wait),
        })?;
    let password_hash = context
        .hashing
        .hash(AddressKey::from(peer.ip()), request.password)
        .await?;
    let user = context
        .store
        .create_user(
            &NewUser {
                email: &email,
                email_verified: false,
                password_hash: Some(&password_hash),
                name: &name,
                trial_ends_at: Some(now + Duration::days(context.trial_days)),
            },
            now,
        )
        .await?
        .ok_or_else(|| {
            ApiError::Conflict("an account with this email already exists; sign in instead".into())
        })?;
    tracing::info!(user = %user.id, tenant = %user.tenant_id, role = ?user.role, "account registered");
    Ok((
        StatusCode::CREATED,
        Json(start_session(&context, &user, &device).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    email: String,
    password: String,
    device_name: Option<String>,
}

fn throttled(throttle: Throttled, limits: crate::auth::rate_limit::SignInLimits) -> ApiError {
    let (message, wait) = match throttle {
        Throttled::Account { retry_after } => (
            format!(
                "this account is locked here for {} after {} failed sign-ins from this address; try again later or reset the password",
                minutes(retry_after),
                limits.per_account
            ),
            retry_after,
        ),
        Throttled::Address { retry_after } => (
            format!(
                "too many failed sign-ins from this address; try again in {}",
                minutes(retry_after)
            ),
            retry_after,
        ),
        Throttled::AccountEverywhere { retry_after } => (
            format!(
                "this account is locked for {} after many failed sign-ins from elsewhere; sign in from a device you used before, or reset the password",
                minutes(retry_after)
            ),
            retry_after,
        ),
    };
    ApiError::TooManyRequests {
        message,
        retry_after_secs: seconds(wait),
    }
}

/// Whole seconds to wait, at least one (for `Retry-After`).
fn seconds(wait: Duration) -> u64 {
    u64::try_from(wait.num_seconds()).unwrap_or(0).max(1)
}

fn minutes(wait: Duration) -> String {
    let minutes = (wait.num_seconds() + 59) / 60;
    if minutes <= 1 {
        "1 minute".into()
    } else {
        format!("{minutes} minutes")
    }
}

async fn sign_in(
    State(context): State<ApiContext>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let Json(request) = body?;
    let email = normalize_email(&request.email)?;
    let device = device_name(request.device_name.as_deref())?;
    if request.password.is_empty() || request.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "password must be 1 to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    // The attempt is taken (and counted as failed) before the password is
    // checked, so parallel guesses cannot all pass the limit while their
    // hashes run; a success gives it back, and so does the server failing
    // to judge it (hashing queue full, database down). A client that hangs
    // up mid-check keeps it counted.
    let limiter = &context.sign_in_limiter;
    let attempt = limiter
        .attempt(&email, peer.ip(), context.now())
        .map_err(|throttle| throttled(throttle, limiter.limits()))?;
    let user = match context.store.user_by_email(&email).await {
        Ok(user) => user,
        Err(error) => {
            attempt.give_back();
            return Err(error.into());
        }
    };
    let stored = user.as_ref().and_then(|user| user.password_hash.clone());
    // The owner's usual places go before a flood of strangers' hashing.
    let lane = if attempt.from_known_address() {
        Lane::Known
    } else {
        Lane::Others
    };
    let matches = match context
        .hashing
        .verify(AddressKey::from(peer.ip()), lane, request.password, stored)
        .await
    {
        Ok(matches) => matches,
        Err(refused) => {
            attempt.give_back();
            return Err(refused.into());
        }
    };
    let Some(user) = user.filter(|_| matches) else {
        attempt.failed();
        return Err(ApiError::Unauthorized("wrong email or password".into()));
    };
    attempt.succeeded();
    refuse_suspended(&user)?;
    Ok(Json(start_session(&context, &user, &device).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(context): State<ApiContext>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let Json(request) = body?;
    let token = request.refresh_token.trim();
    if !token.starts_with(REFRESH_PREFIX) || token.len() > MAX_SECRET_CHARS {
        return Err(ApiError::Unauthorized(
            "that is not a refresh token this server issued".into(),
        ));
    }
    let (access, refresh, hashes) = new_token_pair(&context);
    match context
        .store
        .rotate_refresh_token(&hash_secret(token), &hashes, context.now())
        .await?
    {
        RefreshOutcome::Rotated {
            session_id,
            user_id,
            tenant_id,
        } => {
            let user = context
                .store
                .user(tenant_id, user_id)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
            if user.suspended_at.is_some() {
                // Suspension revokes every session; this is a rotation that
                // raced it. The new pair dies with its session.
                context
                    .store
                    .revoke_session(session_id, "account suspended", context.now())
                    .await?;
                refuse_suspended(&user)?;
            }
            tracing::debug!(%session_id, "refresh token rotated");
            Ok(Json(
                token_pair_for(&context, &user, access, refresh).await?,
            ))
        }
        RefreshOutcome::Reused { session_id } => {
            tracing::warn!(%session_id, "refresh token presented twice; session revoked");
            Err(ApiError::Unauthorized(
                "this refresh token was already used, so the session was signed out for safety; sign in again".into(),
            ))
        }
        RefreshOutcome::Expired => Err(ApiError::Unauthorized(
            "the session has expired or was signed out; sign in again".into(),
        )),
        RefreshOutcome::Unknown => Err(ApiError::Unauthorized(
            "that is not a refresh token this server issued".into(),
        )),
    }
}

async fn sign_out(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<StatusCode, ApiError> {
    match principal.credential {
        Credential::Session(session) => {
            context
                .store
                .revoke_session(session, "signed out", context.now())
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Credential::ApiKey { .. } => Err(ApiError::BadRequest(
            "an API key has no session to sign out of; revoke it under /v1/api-keys".into(),
        )),
        Credential::Channel(_) => Err(ApiError::BadRequest(
            "a channel has no session to sign out of".into(),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

async fn request_password_reset(
    State(context): State<ApiContext>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<ResetRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    let email = normalize_email(&request.email)?;
    // The answer is the same whether or not the account exists, and whether or
    // not this address has had its share of mails this hour.
    let now = context.now();
    if context
        .reset_mails_by_address
        .take(&AddressKey::from(peer.ip()), now)
        .and_then(|()| context.reset_mails_by_account.take(&email, now))
        .is_err()
    {
        tracing::warn!("password-reset mail withheld: too many requests");
        return Ok(StatusCode::ACCEPTED);
    }
    if let Some(user) = context.store.user_by_email(&email).await? {
        let code = new_secret(RESET_PREFIX);
        let expires_at = context.now() + RESET_CODE_LIFETIME;
        context
            .store
            .create_password_reset(&user, &hash_secret(&code), expires_at)
            .await?;
        // Sent by the outbox, from its template; the code is cleared from
        // the outbox once the mail is sent.
        context
            .store
            .queue_mail(
                &orrery_store::MailDraft {
                    dedupe_key: format!("password_reset:{}", hash_secret(&code)),
                    tenant_id: Some(user.tenant_id),
                    to: user.email.clone(),
                    template: "password_reset".into(),
                    data: serde_json::json!({
                        "name": user.name,
                        "code": code,
                        "minutes": RESET_CODE_LIFETIME.num_minutes(),
                    }),
                },
                context.now(),
            )
            .await?;
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirmation {
    code: String,
    password: String,
}

async fn confirm_password_reset(
    State(context): State<ApiContext>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<ResetConfirmation>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    let code = request.code.trim();
    let invalid = || {
        ApiError::BadRequest(
            "this reset code is invalid, expired or already used; ask for a new one".into(),
        )
    };
    if !code.starts_with(RESET_PREFIX) || code.len() > MAX_SECRET_CHARS {
        return Err(invalid());
    }
    check_new_password(&request.password).map_err(ApiError::Unprocessable)?;
    // The code is checked before the new password is hashed: a made-up code
    // costs one lookup, not 19 MiB and tens of milliseconds of argon2.
    let code_hash = hash_secret(code);
    let (_, email) = context
        .store
        .password_reset_owner(&code_hash, context.now())
        .await?
        .ok_or_else(invalid)?;
    let password_hash = context
        .hashing
        .hash(AddressKey::from(peer.ip()), request.password)
        .await?;
    let now = context.now();
    let user = context
        .store
        .complete_password_reset(&code_hash, &password_hash, now)
        .await?
        .ok_or_else(invalid)?;
    context
        .store
        .revoke_user_sessions(user, "password reset", now)
        .await?;
    // The emailed code proves the owner: every sign-in lock on the account
    // goes with the old password.
    context.sign_in_limiter.clear_account(&email);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct ProviderView {
    id: String,
    name: String,
    kind: ProviderKind,
    client_id: String,
    authorize_url: String,
    scopes: Vec<String>,
    redirect: orrery_domain::sign_in::OAuthRedirect,
}

async fn providers(State(context): State<ApiContext>) -> Json<Vec<ProviderView>> {
    Json(
        context
            .providers
            .iter()
            .map(|provider| ProviderView {
                id: provider.id.clone(),
                name: provider.display_name.clone(),
                kind: provider.kind,
                client_id: provider.client_id.clone(),
                authorize_url: provider.authorize_url.clone(),
                scopes: provider.scopes.clone(),
                redirect: provider.redirect,
            })
            .collect(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthSignIn {
    code: String,
    code_verifier: String,
    redirect_uri: String,
    device_name: Option<String>,
}

async fn oauth_sign_in(
    State(context): State<ApiContext>,
    Path(provider): Path<String>,
    body: Result<Json<OAuthSignIn>, JsonRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let provider = context
        .providers
        .iter()
        .find(|known| known.id == provider)
        .ok_or_else(|| {
            ApiError::NotFound("this server does not offer sign-in with that provider".into())
        })?
        .clone();
    let Json(request) = body?;
    let device = device_name(request.device_name.as_deref())?;
    let identity = provider
        .exchange(
            &context.provider_http,
            &request.code,
            &request.code_verifier,
            &request.redirect_uri,
        )
        .await?;
    let now = context.now();
    let user = match context
        .store
        .identity_user(&identity.provider, &identity.subject)
        .await?
    {
        Some(user) => user,
        None => {
            if !identity.email_verified {
                return Err(ApiError::Forbidden(format!(
                    "{} has not verified {}; verify it there, then sign in again",
                    provider.display_name, identity.email
                )));
            }
            let email = normalize_email(&identity.email)?;
            let user = match context.store.user_by_email(&email).await? {
                Some(existing) => existing,
                None => {
                    let name = identity
                        .name
                        .as_deref()
                        .and_then(|name| check_name(name, "name").ok())
                        .unwrap_or_else(|| {
                            email.split('@').next().unwrap_or("Orrery user").to_owned()
                        });
                    context
                        .store
                        .create_user(
                            &NewUser {
                                email: &email,
                                email_verified: true,
                                password_hash: None,
                                name: &name,
                                trial_ends_at: Some(now + Duration::days(context.trial_days)),
                            },
                            now,
                        )
                        .await?
                        .ok_or_else(|| {
                            ApiError::Conflict(
                                "the account was created by another sign-in; try again".into(),
                            )
                        })?
                }
            };
            context
                .store
                .link_identity(
                    &user,
                    &identity.provider,
                    &identity.subject,
                    &identity.email,
                    now,
                )
                .await?;
            tracing::info!(user = %user.id, provider = %identity.provider, "identity linked");
            user
        }
    };
    refuse_suspended(&user)?;
    Ok(Json(start_session(&context, &user, &device).await?))
}

/// A suspended account starts no session (told only to whoever proved they
/// own it).
fn refuse_suspended(user: &orrery_store::UserRecord) -> Result<(), ApiError> {
    if user.suspended_at.is_some() {
        Err(ApiError::Forbidden(
            "this account is suspended; contact the server's operator".into(),
        ))
    } else {
        Ok(())
    }
}
