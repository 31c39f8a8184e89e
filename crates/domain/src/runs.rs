//! A finished run as a device reports it: one entry of its usage ledger,
//! written when a sandbox run ends (whatever its end) and sent to the server
//! on the next sync. The entry's id makes it count once, however often it is
//! sent. Plain data and its checks; the desktop's meter (`orrery-sessions`)
//! writes it, the server (`POST /v1/runs/finished`) counts it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::{Action, Decision, Metric, Plan, Role, Subject, Usage, decide};
use crate::{GraphId, LibraryError, check_timestamp};

/// Longest model name kept.
pub const MAX_MODEL_CHARS: usize = 200;
/// Longest error kept (longer ones are cut by the device before sending).
pub const MAX_RUN_ERROR_CHARS: usize = 2_000;
/// Most tokens one run may report in each direction.
pub const MAX_RUN_TOKENS: u64 = 1_000_000_000;
/// Longest run reported, in milliseconds (a day).
pub const MAX_RUN_LATENCY_MS: u64 = 86_400_000;
/// Most model calls one run may report.
pub const MAX_RUN_MODEL_CALLS: u32 = 100_000;
/// Most runs one report carries.
pub const MAX_RUNS_PER_REPORT: usize = 500;

/// One finished run: what it used and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishedRun {
    /// The ledger entry (time-ordered, made by the device).
    pub id: Uuid,
    /// The graph it ran, if it ran one.
    pub graph_id: Option<GraphId>,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// The model most of its calls went to (empty when it made none).
    pub model: String,
    /// Model calls made, retries not counted.
    pub model_calls: u32,
    /// Prompt tokens, all calls.
    pub input_tokens: u64,
    /// Answer tokens, all calls.
    pub output_tokens: u64,
    /// From start to end, in milliseconds.
    pub latency_ms: u64,
    /// The estimated cost in nanodollars, when every model's price is known.
    pub cost_nanodollars: Option<u64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the user cancelled it.
    pub cancelled: bool,
}

impl FinishedRun {
    /// Tokens both ways.
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Whether it ended in an error (a cancellation is not one).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Checks every field against its limits.
    pub fn validate(&self) -> Result<(), LibraryError> {
        check_timestamp("a run's start", &self.started_at)?;
        let too_long = |what: &'static str, length: usize, limit: usize| {
            if length > limit {
                Err(LibraryError::TooLong {
                    what,
                    length,
                    limit,
                })
            } else {
                Ok(())
            }
        };
        too_long("a run's model", self.model.chars().count(), MAX_MODEL_CHARS)?;
        if self.model.chars().any(char::is_control) {
            return Err(LibraryError::ControlCharacters("a run's model"));
        }
        if let Some(error) = &self.error {
            too_long("a run's error", error.chars().count(), MAX_RUN_ERROR_CHARS)?;
        }
        let over = |what: &'static str, value: u64, limit: u64| {
            if value > limit {
                Err(LibraryError::TooMany {
                    what,
                    count: usize::try_from(value).unwrap_or(usize::MAX),
                    limit: usize::try_from(limit).unwrap_or(usize::MAX),
                })
            } else {
                Ok(())
            }
        };
        over("a run's prompt tokens", self.input_tokens, MAX_RUN_TOKENS)?;
        over("a run's answer tokens", self.output_tokens, MAX_RUN_TOKENS)?;
        over("a run's milliseconds", self.latency_ms, MAX_RUN_LATENCY_MS)?;
        over(
            "a run's model calls",
            u64::from(self.model_calls),
            u64::from(MAX_RUN_MODEL_CALLS),
        )?;
        Ok(())
    }
}

/// What a device sends: the ledger entries not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// At most [`MAX_RUNS_PER_REPORT`] entries.
    pub runs: Vec<FinishedRun>,
}

/// What the server answers: every entry it now holds (counted now or
/// before), so the device can mark them sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReceipt {
    /// Entries counted by this report.
    pub counted: u64,
    /// Entries the server had already counted (sent again).
    pub already_counted: u64,
    /// The ids of every entry of the report.
    pub acknowledged: Vec<Uuid>,
}

/// What a device last heard of its user's plan and usage, kept so that runs
/// are decided offline by the same engine: the server's count at `as_of`
/// plus the runs this device finished that the server had not counted then.
/// However long the device stays offline, its runs stop where that
/// remaining allowance ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAllowance {
    /// Whose allowance it is.
    pub account_id: String,
    /// Their plan as the server answered.
    pub plan: Plan,
    /// Their usage as the server counted it.
    pub usage: Usage,
    /// Whether their subscription was paid up.
    pub in_good_standing: bool,
    /// When the server answered, RFC 3339.
    pub as_of: String,
}

/// What is left of a period's runs and tokens (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remaining {
    /// Runs left.
    pub runs: Option<u64>,
    /// Tokens left.
    pub tokens: Option<u64>,
}

impl CachedAllowance {
    /// The usage now: the server's count plus `runs` runs and `tokens`
    /// tokens finished here and not counted by the server at `as_of`.
    pub fn usage_with(&self, runs: u64, tokens: u64) -> Usage {
        Usage {
            runs: self.usage.runs.saturating_add(runs),
            tokens: self.usage.tokens.saturating_add(tokens),
            ..self.usage.clone()
        }
    }

    /// Whether one more run of the user's own agents may start, decided by
    /// the policy engine on the cached plan and the usage now. A run spends
    /// at least one token, so none starts once the tokens are used up.
    pub fn decide_run(&self, role: Role, runs: u64, tokens: u64) -> Decision {
        decide(
            &Subject {
                in_good_standing: self.in_good_standing,
                role,
                suspended: false,
            },
            &Action::RunOwnAgents { tokens: 1 },
            &self.plan,
            &self.usage_with(runs, tokens),
        )
    }

    /// Runs and tokens left this period after `runs` and `tokens` more.
    pub fn remaining(&self, runs: u64, tokens: u64) -> Remaining {
        let usage = self.usage_with(runs, tokens);
        let left = |metric: Metric, used: u64| {
            self.plan
                .limits
                .of(metric)
                .map(|limit| limit.saturating_sub(used))
        };
        Remaining {
            runs: left(Metric::Runs, usage.runs),
            tokens: left(Metric::Tokens, usage.tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> FinishedRun {
        FinishedRun {
            id: Uuid::now_v7(),
            graph_id: Some(GraphId::new()),
            started_at: "2026-12-06T10:00:00Z".into(),
            model: "llama3.1:8b".into(),
            model_calls: 3,
            input_tokens: 120,
            output_tokens: 80,
            latency_ms: 900,
            cost_nanodollars: None,
            error: None,
            cancelled: false,
        }
    }

    fn allowance(runs_limit: u64, used: u64) -> CachedAllowance {
        let plan = Plan {
            key: "tiny".into(),
            name: "Tiny".into(),
            price_cents: 0,
            interval: crate::policy::BillingInterval::Month,
            limits: crate::policy::PlanLimits {
                runs: Some(runs_limit),
                tokens: Some(1_000),
                ..Default::default()
            },
            agents: crate::policy::AgentAccess::Only(Default::default()),
            channels: Default::default(),
            api_keys: false,
            trial_days: 0,
            currency: "usd".into(),
        };
        CachedAllowance {
            account_id: "a".into(),
            plan,
            usage: Usage {
                runs: used,
                tokens: 100,
                ..Usage::default()
            },
            in_good_standing: true,
            as_of: "2026-12-06T10:00:00Z".into(),
        }
    }

    #[test]
    fn runs_offline_stop_where_the_cached_allowance_ends() {
        let cached = allowance(3, 1);
        // Own agents run whatever the plan's agent list says.
        assert!(cached.decide_run(Role::User, 0, 0).allowed);
        assert!(cached.decide_run(Role::User, 1, 50).allowed);
        let refused = cached.decide_run(Role::User, 2, 50);
        assert!(!refused.allowed);
        assert!(refused.reason.contains("runs"), "{}", refused.reason);
        assert_eq!(
            cached.remaining(1, 50),
            Remaining {
                runs: Some(1),
                tokens: Some(850)
            }
        );
        // Tokens run out too; a failed payment stops new runs.
        assert!(!cached.decide_run(Role::User, 0, 900).allowed);
        let unpaid = CachedAllowance {
            in_good_standing: false,
            ..cached
        };
        assert!(!unpaid.decide_run(Role::User, 0, 0).allowed);
    }

    #[test]
    fn a_plausible_run_passes_and_each_limit_is_checked() {
        assert!(run().validate().is_ok());
        assert_eq!(run().tokens(), 200);
        let bad = [
            FinishedRun {
                started_at: "yesterday".into(),
                ..run()
            },
            FinishedRun {
                model: "m".repeat(MAX_MODEL_CHARS + 1),
                ..run()
            },
            FinishedRun {
                model: "a\u{0}b".into(),
                ..run()
            },
            FinishedRun {
                error: Some("e".repeat(MAX_RUN_ERROR_CHARS + 1)),
                ..run()
            },
            FinishedRun {
                input_tokens: MAX_RUN_TOKENS + 1,
                ..run()
            },
            FinishedRun {
                latency_ms: MAX_RUN_LATENCY_MS + 1,
                ..run()
            },
            FinishedRun {
                model_calls: MAX_RUN_MODEL_CALLS + 1,
                ..run()
            },
        ];
        for run in bad {
            assert!(run.validate().is_err(), "{run:?}");
        }
    }
}
