//! `/v1/teams` and `/v1/invitations`: team workspaces, their members and
//! invitations by email. A team is a tenant several people share; a request
//! works in one when it names it in the `Orrery-Workspace` header (see
//! `principal.rs`). These routes act on the signed-in person, so they are
//! called from their personal workspace, and every permission in them is
//! the policy engine's (`decide_in_team`) from the caller's role.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use orrery_domain::policy::{Action, Metric};
use orrery_domain::team::{
    INVITATION_LIFETIME_DAYS, INVITATIONS_PER_TEAM_PER_HOUR, MAX_TEAM_MEMBERS,
    MAX_TEAMS_CREATED_PER_USER, TeamAction, TeamRole,
};
use orrery_store::{
    InvitationAccepted, InvitationDraft, InvitationSent, MailDraft, MemberChanged,
    PendingInvitation, Principal, TeamCreated, TeamMemberRecord, TeamMembership, UserRecord,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{check_name, normalize_email};
use super::principal::{require_app_session, require_team_action};
use super::{Access, ApiContext, ApiError, Routes, SignedIn};
use crate::auth::secrets::{MAX_SECRET_CHARS, hash_secret, new_secret};

/// Prefix of invitation secrets.
pub const INVITATION_PREFIX: &str = "oin_";

/// The app's link that opens an invitation (the code follows).
pub const INVITATION_LINK: &str = "orrery://invite/";

pub(super) fn router() -> Routes {
    Routes::new()
        .add(Method::GET, "/v1/teams", Access::SignedIn, list_teams)
        .add(Method::POST, "/v1/teams", Access::SignedIn, create_team)
        .add(
            Method::PATCH,
            "/v1/teams/{team_id}",
            Access::SignedIn,
            rename_team,
        )
        .add(
            Method::GET,
            "/v1/teams/{team_id}/members",
            Access::SignedIn,
            list_members,
        )
        .add(
            Method::PATCH,
            "/v1/teams/{team_id}/members/{user_id}",
            Access::SignedIn,
            change_role,
        )
        .add(
            Method::DELETE,
            "/v1/teams/{team_id}/members/{user_id}",
            Access::SignedIn,
            remove_member,
        )
        .add(
            Method::POST,
            "/v1/teams/{team_id}/invitations",
            Access::SignedIn,
            invite,
        )
        .add(
            Method::DELETE,
            "/v1/teams/{team_id}/invitations/{invitation_id}",
            Access::SignedIn,
            revoke_invitation,
        )
        .add(
            Method::POST,
            "/v1/invitations/accept",
            Access::SignedIn,
            accept_invitation,
        )
}

fn parse_uuid(text: &str, what: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} must be a UUID")))
}

fn parse_role(text: &str) -> Result<TeamRole, ApiError> {
    TeamRole::parse(text).ok_or_else(|| {
        ApiError::Unprocessable("`role` is one of owner, admin, editor, viewer".into())
    })
}

/// Refuses anything but the signed-in app (an API key, a channel's run).
fn from_the_app(principal: &Principal) -> Result<(), ApiError> {
    require_app_session(
        principal,
        "teams are managed from the signed-in app; API keys cannot do it",
    )
}

/// The signed-in person's account (from the app), for what needs their
/// name or address.
async fn person(context: &ApiContext, principal: &Principal) -> Result<UserRecord, ApiError> {
    from_the_app(principal)?;
    context
        .store
        .user(principal.tenant_id, principal.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("this account no longer exists".into()))
}

/// `user`'s role in `team`, or 404 with `missing`.
async fn role_of(
    context: &ApiContext,
    team: Uuid,
    user: Uuid,
    missing: &str,
) -> Result<TeamRole, ApiError> {
    Ok(context
        .store
        .team_seat(team, user)
        .await?
        .ok_or_else(|| ApiError::NotFound(missing.into()))?
        .role)
}

/// The caller's role in `team` (from the app); a team they are not in is
/// not found, so its existence is not told to outsiders.
async fn role_in(
    context: &ApiContext,
    principal: &Principal,
    team: Uuid,
) -> Result<TeamRole, ApiError> {
    from_the_app(principal)?;
    role_of(context, team, principal.user_id, "no such team among yours").await
}

/// The caller as a member of `team`: in its workspace, on its plan, with
/// their role there (as a request with the workspace header would be).
async fn in_team(
    context: &ApiContext,
    principal: &Principal,
    team: Uuid,
) -> Result<Principal, ApiError> {
    let seat = context
        .store
        .team_seat(team, principal.user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such team among yours".into()))?;
    Ok(Principal {
        tenant_id: team,
        plan: seat.plan,
        team_role: Some(seat.role),
        ..principal.clone()
    })
}

async fn list_teams(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
) -> Result<Json<Vec<TeamMembership>>, ApiError> {
    from_the_app(&principal)?;
    Ok(Json(context.store.teams_of(principal.user_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamName {
    name: String,
}

async fn create_team(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<TeamName>, JsonRejection>,
) -> Result<(StatusCode, Json<TeamMembership>), ApiError> {
    let Json(request) = body?;
    let name = check_name(&request.name, "the team's name")?;
    from_the_app(&principal)?;
    let user = principal.user_id;
    match context
        .store
        .create_team(user, &name, MAX_TEAMS_CREATED_PER_USER, context.now())
        .await?
    {
        TeamCreated::Created(id) => {
            let team = context
                .store
                .teams_of(user)
                .await?
                .into_iter()
                .find(|team| team.id == id)
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a new team vanished")))?;
            Ok((StatusCode::CREATED, Json(team)))
        }
        TeamCreated::TooMany { limit } => Err(ApiError::Conflict(format!(
            "you already own {limit} teams, the most one person may; leave or hand one over first"
        ))),
    }
}

async fn rename_team(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(team): Path<String>,
    body: Result<Json<TeamName>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let Json(request) = body?;
    let name = check_name(&request.name, "the team's name")?;
    require_team_action(
        role_in(&context, &principal, team).await?,
        TeamAction::Rename,
    )?;
    context.store.rename_team(team, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Members {
    /// The caller's own role, so the screen knows what to offer.
    role: TeamRole,
    members: Vec<TeamMemberRecord>,
    /// Pending invitations: shown to those who may take them back.
    invitations: Vec<PendingInvitation>,
}

async fn list_members(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(team): Path<String>,
) -> Result<Json<Members>, ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let role = role_in(&context, &principal, team).await?;
    let invitations =
        if orrery_domain::policy::decide_in_team(role, TeamAction::RevokeInvitation).allowed {
            context
                .store
                .pending_invitations(team, context.now())
                .await?
        } else {
            Vec::new()
        };
    Ok(Json(Members {
        role,
        members: context.store.team_members(team).await?,
        invitations,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

/// The member's role now, or 404.
async fn member_role(context: &ApiContext, team: Uuid, user: Uuid) -> Result<TeamRole, ApiError> {
    role_of(
        context,
        team,
        user,
        "that person is not a member of this team",
    )
    .await
}

fn member_change(outcome: MemberChanged) -> Result<StatusCode, ApiError> {
    match outcome {
        MemberChanged::Done => Ok(StatusCode::NO_CONTENT),
        MemberChanged::Gone => Err(ApiError::Conflict(
            "that member's role changed or they left meanwhile; reload the members and try again"
                .into(),
        )),
        MemberChanged::LastOwner => Err(ApiError::Conflict(
            "a team keeps at least one owner: make someone else an owner first".into(),
        )),
    }
}

async fn change_role(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path((team, user)): Path<(String, String)>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let user = parse_uuid(&user, "user id")?;
    let Json(request) = body?;
    let to = parse_role(&request.role)?;
    let role = role_in(&context, &principal, team).await?;
    let from = member_role(&context, team, user).await?;
    if from == to {
        return Ok(StatusCode::NO_CONTENT);
    }
    require_team_action(role, TeamAction::ChangeRole { from, to })?;
    member_change(
        context
            .store
            .change_member_role(team, user, from, to)
            .await?,
    )
}

async fn remove_member(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path((team, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let user = parse_uuid(&user, "user id")?;
    let role = role_in(&context, &principal, team).await?;
    let removed = member_role(&context, team, user).await?;
    let action = if user == principal.user_id {
        TeamAction::Leave
    } else {
        TeamAction::Remove(removed)
    };
    require_team_action(role, action)?;
    let answer = member_change(context.store.remove_member(team, user, removed).await?)?;
    // Their feeds on this team close now; their next request is refused.
    context.live.leave_team(team, user).await;
    Ok(answer)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invite {
    email: String,
    role: String,
}

#[derive(Serialize)]
struct InvitationView {
    id: Uuid,
    email: String,
    role: TeamRole,
    expires_at: String,
}

async fn invite(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path(team): Path<String>,
    body: Result<Json<Invite>, JsonRejection>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let Json(request) = body?;
    let email = normalize_email(&request.email)?;
    let role = parse_role(&request.role)?;
    let inviter = person(&context, &principal).await?;
    require_team_action(
        role_in(&context, &principal, team).await?,
        TeamAction::Invite(role),
    )?;
    // Seats are the team's plan's: the engine decides on its count, and the
    // store counts again in the inserting transaction, so parallel
    // invitations cannot pass the plan together.
    let member = in_team(&context, &principal, team).await?;
    let seats = super::policy::allowed(&context, &member, &Action::AddSeat).await?;
    let seat_limit = seats
        .limits
        .iter()
        .find(|limit| limit.metric == Metric::Seats)
        .map_or(MAX_TEAM_MEMBERS, |limit| limit.limit.min(MAX_TEAM_MEMBERS));
    let team_name = context
        .store
        .team_name(team)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such team among yours".into()))?;
    let now = context.now();
    let code = new_secret(INVITATION_PREFIX);
    let token_hash = hash_secret(&code);
    let expires_at = now + chrono::Duration::days(INVITATION_LIFETIME_DAYS);
    let draft = InvitationDraft {
        team,
        email: email.clone(),
        role,
        token_hash: token_hash.clone(),
        invited_by: inviter.id,
        expires_at,
        // Sent by the outbox; the code is cleared from it once sent.
        mail: MailDraft {
            dedupe_key: format!("team_invitation:{token_hash}"),
            tenant_id: Some(team),
            to: email.clone(),
            template: "team_invitation".into(),
            data: serde_json::json!({
                "inviter": inviter.name,
                "team": team_name,
                "role": role.as_str(),
                "link": format!("{INVITATION_LINK}{code}"),
                "code": code,
                "days": INVITATION_LIFETIME_DAYS,
            }),
        },
    };
    match context
        .store
        .create_invitation(&draft, INVITATIONS_PER_TEAM_PER_HOUR, seat_limit, now)
        .await?
    {
        InvitationSent::Sent(id) => Ok((
            StatusCode::CREATED,
            Json(InvitationView {
                id,
                email,
                role,
                expires_at: orrery_store::timestamp(expires_at),
            }),
        )),
        InvitationSent::TooMany { limit } => Err(ApiError::TooManyRequests {
            message: format!(
                "this team sent {limit} invitations in the last hour, the most it may; try again later"
            ),
            retry_after_secs: 3_600,
        }),
        InvitationSent::AlreadyMember => Err(ApiError::Conflict(format!(
            "{email} is already a member of this team"
        ))),
        // Filled by a parallel invitation: the engine says so on the new count.
        InvitationSent::TeamFull { limit } if limit < MAX_TEAM_MEMBERS => Err(
            match super::policy::allowed(&context, &member, &Action::AddSeat).await {
                Err(denied) => denied,
                Ok(_) => ApiError::Conflict(format!(
                    "this team's {limit} seats are taken; remove someone or take back an invitation first"
                )),
            },
        ),
        InvitationSent::TeamFull { limit } => Err(ApiError::Conflict(format!(
            "this team has {limit} members and pending invitations, the most a team may; remove someone or take back an invitation first"
        ))),
    }
}

async fn revoke_invitation(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    Path((team, invitation)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let team = parse_uuid(&team, "team id")?;
    let invitation = parse_uuid(&invitation, "invitation id")?;
    require_team_action(
        role_in(&context, &principal, team).await?,
        TeamAction::RevokeInvitation,
    )?;
    if context
        .store
        .revoke_invitation(team, invitation, context.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(
            "no pending invitation of this team has that id".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Acceptance {
    /// The code from the mail, or the whole `orrery://invite/…` link.
    code: String,
}

#[derive(Serialize)]
struct Joined {
    id: Uuid,
    name: String,
    role: TeamRole,
}

async fn accept_invitation(
    State(context): State<ApiContext>,
    SignedIn(principal): SignedIn,
    body: Result<Json<Acceptance>, JsonRejection>,
) -> Result<Json<Joined>, ApiError> {
    let Json(request) = body?;
    let code = request.code.trim();
    let code = code.strip_prefix(INVITATION_LINK).unwrap_or(code);
    if !code.starts_with(INVITATION_PREFIX) || code.len() > MAX_SECRET_CHARS {
        return Err(ApiError::Unprocessable(
            "that is not an invitation code: paste the link or the code from the invitation mail"
                .into(),
        ));
    }
    let user = person(&context, &principal).await?;
    match context
        .store
        .accept_invitation(&hash_secret(code), user.id, &user.email, context.now())
        .await?
    {
        InvitationAccepted::Joined { team, name, role } => Ok(Json(Joined {
            id: team,
            name,
            role,
        })),
        InvitationAccepted::Unknown => Err(ApiError::NotFound(
            "no invitation has that code; check it was pasted whole".into(),
        )),
        InvitationAccepted::Used => Err(ApiError::Conflict(
            "this invitation was already used; ask the team for a new one".into(),
        )),
        InvitationAccepted::Revoked => Err(ApiError::Conflict(
            "this invitation was taken back by the team".into(),
        )),
        InvitationAccepted::Expired => Err(ApiError::Conflict(format!(
            "this invitation has expired (they last {INVITATION_LIFETIME_DAYS} days); ask the team for a new one"
        ))),
        InvitationAccepted::OtherAddress => Err(ApiError::Forbidden(
            "this invitation was sent to another address; sign in with the account of that address to accept it"
                .into(),
        )),
        InvitationAccepted::AlreadyMember => Err(ApiError::Conflict(
            "you are already a member of this team".into(),
        )),
    }
}
