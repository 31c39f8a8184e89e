//! The `SignedIn` extractor: turns `Authorization: Bearer <access token or
//! API key>` into the user and tenant behind it, and `Orrery-Workspace:
//! <team id>` into the team's tenant when the user is one of its members
//! and their role lets them call the route (the policy engine decides).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use orrery_domain::api_scope::ApiScope;
use orrery_domain::policy::Action;
use orrery_store::{Credential, Principal};

use orrery_domain::team::{TeamAction, TeamRole};
use uuid::Uuid;

use super::{ApiContext, ApiError, RouteAccess};
use crate::auth::secrets::{
    ACCESS_PREFIX, API_KEY_PREFIX, MAX_SECRET_CHARS, api_key_checksum_holds, hash_secret,
};

pub use orrery_domain::team::WORKSPACE_HEADER;

/// Refuses a request made with an API key that lacks `scope` (sessions may
/// do everything their user may), or by a team member whose role does not
/// allow what the scope does (a viewer sending changes).
pub(crate) fn require_scope(principal: &Principal, scope: ApiScope) -> Result<(), ApiError> {
    match principal.credential {
        Credential::ApiKey { scopes, .. } if !scopes.allows(scope) => {
            return Err(ApiError::Forbidden(format!(
                "this API key lacks the `{scope}` scope; create a key that has it"
            )));
        }
        _ => {}
    }
    if let Some(role) = principal.team_role {
        require_team_action(role, super::team_action_of(scope))?;
    }
    Ok(())
}

/// Refuses what `role` may not do in a team, with the engine's reason.
pub(crate) fn require_team_action(role: TeamRole, action: TeamAction) -> Result<(), ApiError> {
    let decision = orrery_domain::policy::decide_in_team(role, action);
    if decision.allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(decision.reason))
    }
}

/// Moves `principal` into the workspace the request names, if any: the
/// team's tenant, its plan and the member's role, once the route allows
/// that role (`route`). Membership is read on every request, so a member
/// removed loses access at their next request.
async fn enter_workspace(
    context: &ApiContext,
    parts: &Parts,
    mut principal: Principal,
    route: Option<RouteAccess>,
) -> Result<Principal, ApiError> {
    let Some(value) = parts.headers.get(WORKSPACE_HEADER) else {
        return Ok(principal);
    };
    let team: Uuid = value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the {WORKSPACE_HEADER} header must be a team's id (a UUID)"
            ))
        })?;
    if team == principal.tenant_id {
        return Ok(principal);
    }
    if !matches!(principal.credential, Credential::Session(_)) {
        return Err(ApiError::Forbidden(
            "API keys and channels work in the workspace they were made in; leave out the workspace header".into(),
        ));
    }
    let seat = context
        .store
        .team_seat(team, principal.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::Forbidden(
                "you are not a member of this team; ask one of its admins for an invitation".into(),
            )
        })?;
    let action = route
        .and_then(|route| route.team_action)
        .unwrap_or(TeamAction::PersonalOnly);
    require_team_action(seat.role, action)?;
    principal.tenant_id = team;
    principal.plan = seat.plan;
    principal.team_role = Some(seat.role);
    Ok(principal)
}

/// Refuses anything but the signed-in app (an API key, a channel's run)
/// with `refusal`: what manages keys, secrets and channels is the app's.
pub(crate) fn require_app_session(principal: &Principal, refusal: &str) -> Result<(), ApiError> {
    match principal.credential {
        Credential::Session(_) => Ok(()),
        Credential::ApiKey { .. } | Credential::Channel(_) => {
            Err(ApiError::Forbidden(refusal.to_owned()))
        }
    }
}

/// A request from a signed-in user. Handlers read the tenant from here and
/// from nowhere else.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Principal);

impl FromRequestParts<ApiContext> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, context: &ApiContext) -> Result<Self, ApiError> {
        let missing = || {
            ApiError::Unauthorized("sign in first: this endpoint needs `Authorization: Bearer <access token or API key>`".into())
        };
        let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(missing)?;
        if token.len() > MAX_SECRET_CHARS {
            return Err(ApiError::Unauthorized(
                "the bearer token is not one this server issued".into(),
            ));
        }
        let now = context.now();
        let principal = if token.starts_with(ACCESS_PREFIX) {
            context
                .store
                .principal_by_access_token(&hash_secret(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the access token has expired or was revoked; refresh it or sign in again"
                            .into(),
                    )
                })?
        } else if token.starts_with(API_KEY_PREFIX) {
            // A key whose checksum does not hold is no key: refused unread.
            if api_key_checksum_holds(token) == Some(false) {
                return Err(ApiError::Unauthorized(
                    "the API key is mistyped: its checksum does not match".into(),
                ));
            }
            let principal = context
                .store
                .principal_by_api_key(&hash_secret(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized("the API key is unknown or was revoked".into())
                })?;
            // A key calls only the routes its scopes open, and no route that
            // manages keys, the account, billing or the server. Refused calls
            // are not metered.
            match parts.extensions.get::<RouteAccess>() {
                Some(RouteAccess {
                    key_scope: Some(scope),
                    ..
                }) => require_scope(&principal, *scope)?,
                _ => {
                    return Err(ApiError::Forbidden(
                        "API keys cannot call this endpoint; sign in to the Orrery app for it"
                            .into(),
                    ));
                }
            }
            // Every request made with an API key is a metered API call.
            super::policy::meter(context, &principal, &Action::CallApi).await?;
            principal
        } else {
            return Err(ApiError::Unauthorized(
                "the bearer token is not one this server issued".into(),
            ));
        };
        let route = parts.extensions.get::<RouteAccess>().copied();
        Ok(SignedIn(
            enter_workspace(context, parts, principal, route).await?,
        ))
    }
}
