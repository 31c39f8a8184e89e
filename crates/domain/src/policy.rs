//! The access policy engine: the one place that decides what a user may do.
//!
//! [`decide`] is a pure function of who asks ([`Subject`]), what they want to
//! do ([`Action`]), their plan ([`Plan`]) and what they have used this period
//! ([`Usage`]). It answers allow or deny, a sentence saying why, and every
//! limit that applied with its numbers, so callers can show "limit reached:
//! 1,000 API calls per month, resets on …". Nothing else in Orrery checks
//! access rules: routes and commands ask this function, and metering stores
//! the usage it was given only when the answer was allow (see the server's
//! usage store for how the two are made atomic).
//!
//! Administration is decided here too: each operator capability is an
//! [`Action`] (listing users, changing a user's plan, role or trial, suspending,
//! signing them out, reading the audit log, editing plans), allowed only to a [`Subject`] whose
//! [`Role`] is admin and who is not suspended. A suspended subject may do
//! nothing at all.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::team::{TeamAction, TeamRole};

/// How often a plan is billed.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingInterval {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// A metered quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Agent runs this period.
    Runs,
    /// Model tokens this period.
    Tokens,
    /// Public API calls this period.
    ApiCalls,
    /// Graphs held (not per period).
    Graphs,
    /// Nodes in one graph (not per period).
    NodesPerGraph,
    /// Seats in a team workspace: members and pending invitations (not per
    /// period).
    Seats,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 6] = [
        Metric::Runs,
        Metric::Tokens,
        Metric::ApiCalls,
        Metric::Graphs,
        Metric::NodesPerGraph,
        Metric::Seats,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Runs => "runs",
            Metric::Tokens => "tokens",
            Metric::ApiCalls => "api_calls",
            Metric::Graphs => "graphs",
            Metric::NodesPerGraph => "nodes_per_graph",
            Metric::Seats => "seats",
        }
    }

    /// Whether the count starts again every billing period.
    pub fn resets_each_period(self) -> bool {
        matches!(self, Metric::Runs | Metric::Tokens | Metric::ApiCalls)
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::Runs => "agent runs",
            Metric::Tokens => "tokens",
            Metric::ApiCalls => "API calls",
            Metric::Graphs => "graphs",
            Metric::NodesPerGraph => "nodes in one graph",
            Metric::Seats => "seats (members and pending invitations) in a team",
        }
    }
}

/// What a plan allows; `None` is unlimited.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Agent runs per period.
    pub runs: Option<u64>,
    /// Model tokens per period.
    pub tokens: Option<u64>,
    /// Public API calls per period.
    pub api_calls: Option<u64>,
    /// Graphs held.
    pub graphs: Option<u64>,
    /// Nodes in one graph.
    pub nodes_per_graph: Option<u64>,
    /// Seats in each team workspace on the plan: its members and pending
    /// invitations (plans stored before seats existed have no limit).
    #[serde(default)]
    pub seats: Option<u64>,
}

impl PlanLimits {
    /// The limit on `metric`.
    pub fn of(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Runs => self.runs,
            Metric::Tokens => self.tokens,
            Metric::ApiCalls => self.api_calls,
            Metric::Graphs => self.graphs,
            Metric::NodesPerGraph => self.nodes_per_graph,
            Metric::Seats => self.seats,
        }
    }
}

/// Which agents a plan may run.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "agents")]
pub enum AgentAccess {
    /// Every agent.
    All,
    /// Only these agents (by key).
    Only(BTreeSet<String>),
}

/// A plan, as admins define it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Stable key: `free`, `pro`, `enterprise`, ...
    pub key: String,
    /// What users read.
    pub name: String,
    /// Price per interval in cents.
    pub price_cents: u64,
    /// Billing interval.
    pub interval: BillingInterval,
    /// Quantities.
    pub limits: PlanLimits,
    /// Agents the plan may run.
    pub agents: AgentAccess,
    /// Messenger channels the plan may use (`telegram`, `whatsapp`).
    pub channels: BTreeSet<String>,
    /// Whether users may hold API keys.
    pub api_keys: bool,
    /// Days of trial a new subscriber gets.
    pub trial_days: u32,
    /// The currency of `price_cents`, ISO 4217 in lower case (`usd`).
    #[serde(default = "default_currency")]
    pub currency: String,
}

/// The currency of plans stored before plans named one.
pub fn default_currency() -> String {
    "usd".to_owned()
}

/// Whether `code` is an ISO 4217 currency code as Stripe writes it: three
/// lower-case letters. (Stripe checks that it sells in it.)
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_lowercase())
}

/// What a user has used, and when the period's counts start again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Agent runs this period.
    pub runs: u64,
    /// Model tokens this period.
    pub tokens: u64,
    /// Public API calls this period.
    pub api_calls: u64,
    /// Graphs held now.
    pub graphs: u64,
    /// Seats taken in the workspace now (members and pending invitations;
    /// 0 in a personal one).
    #[serde(default)]
    pub seats: u64,
    /// When the period's counts reset (RFC 3339), if known.
    pub period_resets_at: Option<String>,
}

impl Usage {
    /// The count of `metric` (nodes are per graph and come with the action).
    pub fn of(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Runs => self.runs,
            Metric::Tokens => self.tokens,
            Metric::ApiCalls => self.api_calls,
            Metric::Graphs => self.graphs,
            Metric::NodesPerGraph => 0,
            Metric::Seats => self.seats,
        }
    }
}

/// What a subject is on this server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A regular account: their own tenant's data, within their plan.
    #[default]
    User,
    /// An operator of the server: administers every tenant.
    Admin,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Whether their subscription is paid up; `false` while a payment failed
    /// (past due): paid features stay, new metered work is refused.
    pub in_good_standing: bool,
    /// Their role on the server.
    pub role: Role,
    /// Whether an admin suspended the account: then nothing is allowed.
    pub suspended: bool,
}

impl Subject {
    /// A regular account in good standing, not suspended.
    pub fn user() -> Self {
        Self {
            in_good_standing: true,
            role: Role::User,
            suspended: false,
        }
    }
}

/// What the subject wants to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create (or first sync) a graph.
    CreateGraph,
    /// Add `adding` nodes to a graph that has `graph_nodes`.
    AddNodes {
        /// Nodes in the graph now.
        graph_nodes: u64,
        /// Nodes to add.
        adding: u64,
    },
    /// Run an agent, expecting to spend about `tokens`.
    RunAgent {
        /// The agent's key.
        agent: String,
        /// Estimated tokens.
        tokens: u64,
    },
    /// Run a graph of the user's own agents (their library's, or bought):
    /// one run and its tokens; the plan's agent list does not apply.
    RunOwnAgents {
        /// Estimated tokens.
        tokens: u64,
    },
    /// One public API call.
    CallApi,
    /// Send or receive through a messenger channel.
    UseChannel(String),
    /// Create or rotate an API key.
    ManageApiKeys,
    /// Give a team workspace one more seat: invite someone to it.
    AddSeat,
    /// Admin: list, search and read users of every tenant.
    ListUsers,
    /// Admin: move a user to another plan.
    ChangeUserPlan,
    /// Admin: make a user an admin, or an admin a user.
    ChangeUserRole,
    /// Admin: suspend a user (every credential stops at once) or reactivate one.
    SuspendUsers,
    /// Admin: extend or end a user's trial.
    ChangeUserTrial,
    /// Admin: sign a user out of every device.
    RevokeUserSessions,
    /// Admin: read and verify the audit log.
    ReadAuditLog,
    /// Admin: create or change plans and their limits.
    EditPlans,
    /// Admin: read the server's figures (users, revenue, runs) and rebuild
    /// their rollups.
    ReadMetrics,
    /// Admin: export everything a user has as one archive.
    ExportUserData,
    /// Admin: delete a user with all their data.
    DeleteUsers,
    /// Admin: read every tenant's published prompt versions and roll one back.
    ManagePrompts,
    /// Admin: edit the account emails' templates.
    EditMailTemplates,
    /// Admin: read reports about marketplace listings and delist them.
    ModerateMarketplace,
    /// Admin: publish releases of the desktop app, stage their rollout and
    /// pull them back.
    PublishReleases,
}

impl Action {
    /// Whether this is an operator capability (allowed to admins only,
    /// whatever their plan).
    pub fn is_administration(&self) -> bool {
        matches!(
            self,
            Action::ListUsers
                | Action::ChangeUserPlan
                | Action::ChangeUserRole
                | Action::SuspendUsers
                | Action::ChangeUserTrial
                | Action::RevokeUserSessions
                | Action::ReadAuditLog
                | Action::EditPlans
                | Action::ReadMetrics
                | Action::ExportUserData
                | Action::DeleteUsers
                | Action::ManagePrompts
                | Action::EditMailTemplates
                | Action::ModerateMarketplace
                | Action::PublishReleases
        )
    }
}

/// One limit that applied to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedLimit {
    /// What is limited.
    pub metric: Metric,
    /// The plan's limit.
    pub limit: u64,
    /// Used before this action.
    pub used: u64,
    /// What this action would add.
    pub requested: u64,
    /// When the count resets, for per-period metrics.
    pub resets_at: Option<String>,
}

impl AppliedLimit {
    /// Whether the action fits under this limit.
    pub fn holds(&self) -> bool {
        self.used.saturating_add(self.requested) <= self.limit
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Why, in a sentence for the user.
    pub reason: String,
    /// Every limit that applied, with its numbers.
    pub limits: Vec<AppliedLimit>,
}

impl Decision {
    fn allow(limits: Vec<AppliedLimit>) -> Self {
        Self {
            allowed: true,
            reason: "allowed".into(),
            limits,
        }
    }

    fn deny(reason: String, limits: Vec<AppliedLimit>) -> Self {
        Self {
            allowed: false,
            reason,
            limits,
        }
    }
}

/// The metered quantities an action would add.
fn requested(action: &Action) -> Vec<(Metric, u64, u64)> {
    match action {
        Action::CreateGraph => vec![(Metric::Graphs, 1, 0)],
        Action::AddNodes {
            graph_nodes,
            adding,
        } => vec![(Metric::NodesPerGraph, *adding, *graph_nodes)],
        Action::RunAgent { tokens, .. } | Action::RunOwnAgents { tokens } => {
            vec![(Metric::Runs, 1, 0), (Metric::Tokens, *tokens, 0)]
        }
        Action::CallApi => vec![(Metric::ApiCalls, 1, 0)],
        Action::AddSeat => vec![(Metric::Seats, 1, 0)],
        Action::UseChannel(_) | Action::ManageApiKeys => Vec::new(),
        Action::ListUsers
        | Action::ChangeUserPlan
        | Action::ChangeUserRole
        | Action::SuspendUsers
        | Action::ChangeUserTrial
        | Action::RevokeUserSessions
        | Action::ReadAuditLog
        | Action::EditPlans
        | Action::ReadMetrics
        | Action::ExportUserData
        | Action::DeleteUsers
        | Action::ManagePrompts
        | Action::EditMailTemplates
        | Action::ModerateMarketplace
        | Action::PublishReleases => Vec::new(),
    }
}

/// Decides whether `subject` may do `action` on `plan` given `usage`.
///
/// Allowed exactly when the subject is not suspended and, for an operator
/// capability, is an admin (plan and usage play no part); otherwise when the
/// plan includes the feature (agent, channel, API keys), the subject is in
/// good standing for metered work, and every limit of the action holds
/// (`used + requested ≤ limit`).
pub fn decide(subject: &Subject, action: &Action, plan: &Plan, usage: &Usage) -> Decision {
    if subject.suspended {
        return Decision::deny(
            "this account is suspended; contact the server's operator".into(),
            Vec::new(),
        );
    }
    if action.is_administration() {
        return if subject.role == Role::Admin {
            Decision::allow(Vec::new())
        } else {
            Decision::deny(
                "only an admin of this server can do this".into(),
                Vec::new(),
            )
        };
    }
    let limits: Vec<AppliedLimit> = requested(action)
        .into_iter()
        .filter_map(|(metric, amount, used_in_action)| {
            let limit = plan.limits.of(metric)?;
            let used = if metric == Metric::NodesPerGraph {
                used_in_action
            } else {
                usage.of(metric)
            };
            Some(AppliedLimit {
                metric,
                limit,
                used,
                requested: amount,
                resets_at: metric
                    .resets_each_period()
                    .then(|| usage.period_resets_at.clone())
                    .flatten(),
            })
        })
        .collect();

    match action {
        Action::RunAgent { agent, .. } => {
            if let AgentAccess::Only(allowed) = &plan.agents
                && !allowed.contains(agent)
            {
                return Decision::deny(
                    format!(
                        "the agent `{agent}` is not included in the {} plan; upgrade to run it",
                        plan.name
                    ),
                    limits,
                );
            }
        }
        Action::UseChannel(channel) => {
            if !plan.channels.contains(channel) {
                return Decision::deny(
                    format!(
                        "the {} plan does not include the {channel} channel",
                        plan.name
                    ),
                    limits,
                );
            }
        }
        Action::ManageApiKeys => {
            if !plan.api_keys {
                return Decision::deny(
                    format!(
                        "API keys are not part of the {} plan; upgrade to Pro to create them",
                        plan.name
                    ),
                    limits,
                );
            }
        }
        Action::CreateGraph
        | Action::AddNodes { .. }
        | Action::AddSeat
        | Action::CallApi
        | Action::RunOwnAgents { .. } => {}
        Action::ListUsers
        | Action::ChangeUserPlan
        | Action::ChangeUserRole
        | Action::SuspendUsers
        | Action::ChangeUserTrial
        | Action::RevokeUserSessions
        | Action::ReadAuditLog
        | Action::EditPlans
        | Action::ReadMetrics
        | Action::ExportUserData
        | Action::DeleteUsers
        | Action::ManagePrompts
        | Action::EditMailTemplates
        | Action::ModerateMarketplace
        | Action::PublishReleases => unreachable!("administration is decided above"),
    }
    let metered = !requested(action).is_empty();
    if metered && !subject.in_good_standing {
        return Decision::deny(
            "the last payment failed; update the payment method to continue".into(),
            limits,
        );
    }
    if let Some(exceeded) = limits.iter().find(|limit| !limit.holds()) {
        let per = if exceeded.metric.resets_each_period() {
            match plan.interval {
                BillingInterval::Month => " per month",
                BillingInterval::Year => " per year",
            }
        } else {
            ""
        };
        let resets = exceeded
            .resets_at
            .as_deref()
            .map(|at| format!("; it resets at {at}"))
            .unwrap_or_default();
        let reason = format!(
            "limit reached: the {} plan allows {} {}{per} and {} are used{resets}",
            plan.name,
            exceeded.limit,
            exceeded.metric.unit(),
            exceeded.used,
        );
        return Decision::deny(reason, limits);
    }
    Decision::allow(limits)
}

/// Decides whether a member holding `role` in a team may do `action` there.
///
/// Roles are ordered owner > admin > editor > viewer. Everyone may read,
/// show where they are looking and leave. Editing and running need editor
/// or more. Inviting, changing roles and removing need admin or more, and
/// reach only roles below one's own (an owner's reach includes other owners);
/// renaming the team needs admin. Routes that act on one's own account (keys,
/// billing, the profile) are never done inside a team. Whether an owner
/// leaving or being demoted would leave the team without one is a fact of
/// the membership, which the store checks in the same transaction.
pub fn decide_in_team(role: TeamRole, action: TeamAction) -> Decision {
    let deny = |reason: String| Decision::deny(reason, Vec::new());
    // Whom `role` may manage: below itself, or anyone for an owner.
    let reaches = |other: TeamRole| role == TeamRole::Owner || role < other;
    match action {
        TeamAction::Read | TeamAction::ShowPresence | TeamAction::Leave => {
            Decision::allow(Vec::new())
        }
        TeamAction::Edit | TeamAction::Run if role.edits() => Decision::allow(Vec::new()),
        TeamAction::Edit => deny(format!(
            "your role in this team is {role}: viewers can open the team's graphs and library but not change them; ask an admin to make you an editor"
        )),
        TeamAction::Run => deny(format!(
            "your role in this team is {role}: viewers cannot start or cancel runs; ask an admin to make you an editor"
        )),
        TeamAction::Rename | TeamAction::RevokeInvitation if role <= TeamRole::Admin => {
            Decision::allow(Vec::new())
        }
        TeamAction::Rename | TeamAction::RevokeInvitation => deny(format!(
            "your role in this team is {role}; only its owners and admins can do this"
        )),
        TeamAction::Invite(_) | TeamAction::ChangeRole { .. } | TeamAction::Remove(_)
            if role > TeamRole::Admin =>
        {
            deny(format!(
                "your role in this team is {role}; only its owners and admins manage members"
            ))
        }
        TeamAction::Invite(invited) if !reaches(invited) => deny(format!(
            "your role in this team is {role}: admins invite editors and viewers; only an owner can invite someone as {invited}"
        )),
        TeamAction::Invite(_) => Decision::allow(Vec::new()),
        TeamAction::ChangeRole { from, to } if !reaches(from) || !reaches(to) => deny(format!(
            "your role in this team is {role}: admins change editors and viewers between those two roles; only an owner can make a {from} into a {to}"
        )),
        TeamAction::ChangeRole { .. } => Decision::allow(Vec::new()),
        TeamAction::Remove(removed) if !reaches(removed) => deny(format!(
            "your role in this team is {role}: admins remove editors and viewers; only an owner can remove a member who is {removed}"
        )),
        TeamAction::Remove(_) => Decision::allow(Vec::new()),
        TeamAction::PersonalOnly => deny(
            "this acts on your own account, not a team's: switch to your personal workspace for it"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(api_calls: Option<u64>) -> Plan {
        Plan {
            key: "free".into(),
            name: "Free".into(),
            price_cents: 0,
            interval: BillingInterval::Month,
            limits: PlanLimits {
                api_calls,
                graphs: Some(3),
                ..PlanLimits::default()
            },
            agents: AgentAccess::Only(["helper".to_owned()].into()),
            channels: BTreeSet::new(),
            api_keys: false,
            trial_days: 0,
            currency: "usd".into(),
        }
    }

    const GOOD: Subject = Subject {
        in_good_standing: true,
        role: Role::User,
        suspended: false,
    };

    #[test]
    fn the_last_unit_is_allowed_and_the_next_is_refused_with_numbers() {
        let usage = Usage {
            api_calls: 999,
            period_resets_at: Some("2026-12-01T00:00:00.000Z".into()),
            ..Usage::default()
        };
        let decision = decide(&GOOD, &Action::CallApi, &plan(Some(1000)), &usage);
        assert!(decision.allowed, "{decision:?}");
        let decision = decide(
            &GOOD,
            &Action::CallApi,
            &plan(Some(1000)),
            &Usage {
                api_calls: 1000,
                ..usage
            },
        );
        assert!(!decision.allowed);
        assert_eq!(
            decision.reason,
            "limit reached: the Free plan allows 1000 API calls per month and 1000 are used; it resets at 2026-12-01T00:00:00.000Z"
        );
        assert_eq!(decision.limits[0].limit, 1000);
        assert!(
            decide(
                &GOOD,
                &Action::CallApi,
                &plan(None),
                &Usage {
                    api_calls: u64::MAX,
                    ..Usage::default()
                }
            )
            .allowed
        );
    }

    #[test]
    fn features_outside_the_plan_are_refused_by_name() {
        let run = |agent: &str| Action::RunAgent {
            agent: agent.into(),
            tokens: 10,
        };
        assert!(decide(&GOOD, &run("helper"), &plan(None), &Usage::default()).allowed);
        let denied = decide(&GOOD, &run("researcher"), &plan(None), &Usage::default());
        assert!(
            !denied.allowed
                && denied
                    .reason
                    .contains("`researcher` is not included in the Free plan")
        );
        assert!(
            !decide(
                &GOOD,
                &Action::UseChannel("telegram".into()),
                &plan(None),
                &Usage::default()
            )
            .allowed
        );
        assert!(
            !decide(
                &GOOD,
                &Action::ManageApiKeys,
                &plan(None),
                &Usage::default()
            )
            .allowed
        );
        let past_due = Subject {
            in_good_standing: false,
            ..GOOD
        };
        assert!(!decide(&past_due, &Action::CallApi, &plan(None), &Usage::default()).allowed);
    }

    #[test]
    fn administration_is_for_admins_who_are_not_suspended() {
        let admin = Subject {
            role: Role::Admin,
            ..GOOD
        };
        let suspended_admin = Subject {
            suspended: true,
            ..admin.clone()
        };
        for action in [
            Action::ListUsers,
            Action::ChangeUserPlan,
            Action::ChangeUserRole,
            Action::SuspendUsers,
            Action::ChangeUserTrial,
            Action::RevokeUserSessions,
            Action::ReadAuditLog,
            Action::EditPlans,
            Action::ReadMetrics,
            Action::ExportUserData,
            Action::DeleteUsers,
        ] {
            assert!(decide(&admin, &action, &plan(Some(0)), &Usage::default()).allowed);
            let refused = decide(&GOOD, &action, &plan(None), &Usage::default());
            assert!(!refused.allowed && refused.reason.contains("only an admin"));
            assert!(!decide(&suspended_admin, &action, &plan(None), &Usage::default()).allowed);
        }
        let suspended = decide(
            &Subject {
                suspended: true,
                ..GOOD
            },
            &Action::CreateGraph,
            &plan(None),
            &Usage::default(),
        );
        assert!(!suspended.allowed && suspended.reason.contains("suspended"));
    }

    #[test]
    fn team_roles_decide_what_members_may_do() {
        use TeamRole::*;
        let allowed = |role, action| decide_in_team(role, action).allowed;
        for role in TeamRole::ALL {
            assert!(allowed(role, TeamAction::Read));
            assert!(allowed(role, TeamAction::ShowPresence));
            assert!(allowed(role, TeamAction::Leave));
            assert!(!allowed(role, TeamAction::PersonalOnly));
            assert_eq!(allowed(role, TeamAction::Edit), role != Viewer);
            assert_eq!(allowed(role, TeamAction::Run), role != Viewer);
        }
        let reason = decide_in_team(Viewer, TeamAction::Edit).reason;
        assert!(reason.contains("viewer"), "{reason}");
        // Admins manage the roles below them; owners manage everyone.
        assert!(allowed(Admin, TeamAction::Invite(Editor)));
        assert!(!allowed(Admin, TeamAction::Invite(Admin)));
        assert!(!allowed(Admin, TeamAction::Invite(Owner)));
        assert!(allowed(Owner, TeamAction::Invite(Owner)));
        assert!(!allowed(Editor, TeamAction::Invite(Viewer)));
        assert!(allowed(
            Admin,
            TeamAction::ChangeRole {
                from: Viewer,
                to: Editor
            }
        ));
        assert!(!allowed(
            Admin,
            TeamAction::ChangeRole {
                from: Editor,
                to: Admin
            }
        ));
        assert!(!allowed(
            Admin,
            TeamAction::ChangeRole {
                from: Owner,
                to: Viewer
            }
        ));
        assert!(allowed(
            Owner,
            TeamAction::ChangeRole {
                from: Owner,
                to: Viewer
            }
        ));
        assert!(allowed(Admin, TeamAction::Remove(Viewer)));
        assert!(!allowed(Admin, TeamAction::Remove(Admin)));
        assert!(allowed(Owner, TeamAction::Remove(Admin)));
        assert!(!allowed(Viewer, TeamAction::Remove(Viewer)));
        assert!(allowed(Admin, TeamAction::Rename));
        assert!(!allowed(Editor, TeamAction::Rename));
    }
}
