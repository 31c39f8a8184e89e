//! The access policy engine against an independent statement of its rule:
//! allowed ⇔ the plan includes the feature, metered work comes from a subject
//! in good standing, and every limit holds; an operator capability is
//! allowed to an admin alone, and a suspended subject is allowed nothing.

use std::collections::BTreeSet;

use orrery_domain::policy::{
    Action, AgentAccess, BillingInterval, Metric, Plan, PlanLimits, Role, Subject, Usage, decide,
};
use proptest::prelude::*;

const AGENTS: [&str; 4] = ["helper", "researcher", "writer", "judge"];
const CHANNELS: [&str; 2] = ["telegram", "whatsapp"];

fn limit() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), (0u64..60).prop_map(Some)]
}

fn plans() -> impl Strategy<Value = Plan> {
    (
        (limit(), limit(), limit(), limit(), limit(), limit()),
        prop::option::of(prop::sample::subsequence(AGENTS.to_vec(), 0..=4)),
        prop::sample::subsequence(CHANNELS.to_vec(), 0..=2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (runs, tokens, api_calls, graphs, nodes_per_graph, seats),
                agents,
                channels,
                api_keys,
                yearly,
            )| Plan {
                key: "p".into(),
                name: "Tested".into(),
                price_cents: 900,
                interval: if yearly {
                    BillingInterval::Year
                } else {
                    BillingInterval::Month
                },
                limits: PlanLimits {
                    runs,
                    tokens,
                    api_calls,
                    graphs,
                    nodes_per_graph,
                    seats,
                },
                agents: match agents {
                    None => AgentAccess::All,
                    Some(list) => AgentAccess::Only(list.into_iter().map(str::to_owned).collect()),
                },
                channels: channels
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>(),
                api_keys,
                trial_days: 14,
                currency: "usd".into(),
            },
        )
}

fn usages() -> impl Strategy<Value = Usage> {
    (0u64..80, 0u64..80, 0u64..80, 0u64..80, 0u64..80).prop_map(
        |(runs, tokens, api_calls, graphs, seats)| Usage {
            runs,
            tokens,
            api_calls,
            graphs,
            seats,
            period_resets_at: Some("2026-12-01T00:00:00.000Z".into()),
        },
    )
}

fn actions() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::CreateGraph),
        (0u64..80, 0u64..20).prop_map(|(graph_nodes, adding)| Action::AddNodes {
            graph_nodes,
            adding
        }),
        (prop::sample::select(AGENTS.to_vec()), 0u64..30).prop_map(|(agent, tokens)| {
            Action::RunAgent {
                agent: agent.into(),
                tokens,
            }
        }),
        (0u64..30).prop_map(|tokens| Action::RunOwnAgents { tokens }),
        Just(Action::CallApi),
        prop::sample::select(CHANNELS.to_vec())
            .prop_map(|channel| Action::UseChannel(channel.into())),
        Just(Action::ManageApiKeys),
        Just(Action::AddSeat),
        prop::sample::select(ADMIN_ACTIONS.to_vec()),
    ]
}

/// The operator capabilities, listed again here.
const ADMIN_ACTIONS: [Action; 14] = [
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
    Action::ManagePrompts,
    Action::EditMailTemplates,
    Action::ModerateMarketplace,
];

/// The quantities each action adds, stated again from the words.
fn demand(action: &Action, usage: &Usage) -> Vec<(Metric, u64, u64)> {
    match action {
        Action::CreateGraph => vec![(Metric::Graphs, usage.graphs, 1)],
        Action::AddNodes {
            graph_nodes,
            adding,
        } => vec![(Metric::NodesPerGraph, *graph_nodes, *adding)],
        Action::RunAgent { tokens, .. } | Action::RunOwnAgents { tokens } => vec![
            (Metric::Runs, usage.runs, 1),
            (Metric::Tokens, usage.tokens, *tokens),
        ],
        Action::CallApi => vec![(Metric::ApiCalls, usage.api_calls, 1)],
        Action::AddSeat => vec![(Metric::Seats, usage.seats, 1)],
        _ => vec![],
    }
}

fn feature_included(action: &Action, plan: &Plan) -> bool {
    match action {
        Action::RunAgent { agent, .. } => match &plan.agents {
            AgentAccess::All => true,
            AgentAccess::Only(list) => list.contains(agent),
        },
        Action::UseChannel(channel) => plan.channels.contains(channel),
        Action::ManageApiKeys => plan.api_keys,
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn policy_engine_property(plan in plans(), usage in usages(), action in actions(), good in any::<bool>(), admin in any::<bool>(), suspended in any::<bool>()) {
        let role = if admin { Role::Admin } else { Role::User };
        let subject = Subject { in_good_standing: good, role, suspended };
        let decision = decide(&subject, &action, &plan, &usage);
        if suspended || ADMIN_ACTIONS.contains(&action) {
            // Administration ignores plan and usage; suspension refuses all.
            prop_assert_eq!(decision.allowed, !suspended && admin, "{:?}", decision);
            prop_assert!(decision.allowed || !decision.reason.is_empty());
            return Ok(());
        }
        let demanded = demand(&action, &usage);
        let limits_hold = demanded
            .iter()
            .all(|(metric, used, more)| plan.limits.of(*metric).is_none_or(|limit| used + more <= limit));
        let expected = feature_included(&action, &plan) && (good || demanded.is_empty()) && limits_hold;
        prop_assert_eq!(decision.allowed, expected, "{:?}", decision);

        // Every limit that applied is reported with its numbers.
        let reported: Vec<_> = decision.limits.iter().map(|l| (l.metric, l.used, l.requested, l.limit)).collect();
        let applicable: Vec<_> = demanded
            .iter()
            .filter_map(|(metric, used, more)| plan.limits.of(*metric).map(|limit| (*metric, *used, *more, limit)))
            .collect();
        prop_assert_eq!(reported, applicable);

        if !decision.allowed {
            prop_assert!(!decision.reason.is_empty());
            if feature_included(&action, &plan) && (good || demanded.is_empty()) {
                let broken = decision.limits.iter().find(|l| !l.holds()).unwrap();
                prop_assert!(decision.reason.starts_with("limit reached"), "{}", decision.reason);
                prop_assert!(decision.reason.contains(&broken.limit.to_string()));
            }
        }

        // Using less never turns an allow into a deny.
        if decision.allowed {
            let less = Usage {
                runs: usage.runs / 2,
                tokens: usage.tokens / 2,
                api_calls: usage.api_calls / 2,
                graphs: usage.graphs / 2,
                seats: usage.seats / 2,
                ..usage.clone()
            };
            prop_assert!(decide(&subject, &action, &plan, &less).allowed);
        }
    }
}
