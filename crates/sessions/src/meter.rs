//! The desktop's run meter: the usage events of one run's model calls
//! (reported by the provider through its [`UsageSink`]) summed into one
//! usage-ledger entry when the run ends, whatever its end. The entry is
//! stored locally first and reaches the server on the next sync, which
//! counts it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orrery_domain::GraphId;
use orrery_domain::runs::{FinishedRun, MAX_RUN_ERROR_CHARS, MAX_RUN_LATENCY_MS};
use orrery_runtime::{UsageEvent, UsageSink};
use tokio::sync::mpsc;

/// Collects a run's usage events. Give its sink to the provider the run
/// calls ([`orrery_runtime::HttpProvider::with_usage`]) and the meter to
/// the [`SessionRunner`](crate::SessionRunner).
#[derive(Clone)]
pub struct RunMeter {
    events: Arc<Mutex<mpsc::UnboundedReceiver<UsageEvent>>>,
}

impl std::fmt::Debug for RunMeter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("RunMeter")
    }
}

impl RunMeter {
    /// A meter and the sink its provider reports to.
    pub fn new() -> (UsageSink, Self) {
        let (sink, events) = UsageSink::channel();
        (
            sink,
            Self {
                events: Arc::new(Mutex::new(events)),
            },
        )
    }

    /// The events reported since the last call.
    fn take(&self) -> Vec<UsageEvent> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::iter::from_fn(|| events.try_recv().ok()).collect()
    }

    /// The ledger entry of the run that just ended: the calls reported since
    /// the last entry, how long it took, and how it ended (`error`: why it
    /// failed; a cancellation is not an error).
    pub fn finish(
        &self,
        graph: Option<GraphId>,
        started_at: String,
        took: Duration,
        error: Option<&str>,
        cancelled: bool,
    ) -> FinishedRun {
        finished_run(&self.take(), graph, started_at, took, error, cancelled)
    }
}

/// One run's entry from its calls' usage events.
pub fn finished_run(
    calls: &[UsageEvent],
    graph: Option<GraphId>,
    started_at: String,
    took: Duration,
    error: Option<&str>,
    cancelled: bool,
) -> FinishedRun {
    let mut models: HashMap<&str, usize> = HashMap::new();
    for call in calls {
        *models.entry(call.model.as_str()).or_default() += 1;
    }
    // The model most calls went to; on a tie, the first in name order.
    let model = models
        .into_iter()
        .max_by(|(a, a_calls), (b, b_calls)| a_calls.cmp(b_calls).then(b.cmp(a)))
        .map(|(model, _)| {
            model
                .chars()
                .take(orrery_domain::runs::MAX_MODEL_CHARS)
                .collect()
        })
        .unwrap_or_default();
    let cost = if calls.is_empty() {
        None
    } else {
        calls
            .iter()
            .map(|call| call.cost_nanodollars)
            .try_fold(0_u64, |sum, cost| cost.map(|cost| sum.saturating_add(cost)))
    };
    let clamp = |tokens: u64| tokens.min(orrery_domain::runs::MAX_RUN_TOKENS);
    FinishedRun {
        id: uuid::Uuid::now_v7(),
        graph_id: graph,
        started_at,
        model,
        model_calls: u32::try_from(calls.len())
            .unwrap_or(u32::MAX)
            .min(orrery_domain::runs::MAX_RUN_MODEL_CALLS),
        input_tokens: clamp(calls.iter().map(|call| call.input_tokens).sum()),
        output_tokens: clamp(calls.iter().map(|call| call.output_tokens).sum()),
        latency_ms: u64::try_from(took.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_RUN_LATENCY_MS),
        cost_nanodollars: cost,
        error: error
            .filter(|_| !cancelled)
            .map(|error| error.chars().take(MAX_RUN_ERROR_CHARS).collect()),
        cancelled,
    }
}

#[cfg(test)]
mod tests {
    use orrery_runtime::{ProviderKind, UsageOutcome};

    use super::*;

    fn call(model: &str, input: u64, output: u64, cost: Option<u64>) -> UsageEvent {
        UsageEvent {
            provider: ProviderKind::OpenAiCompatible,
            model: model.into(),
            label: None,
            input_tokens: input,
            output_tokens: output,
            tokens_reported: true,
            latency_ms: 10,
            first_token_ms: Some(5),
            attempts: 1,
            cost_nanodollars: cost,
            outcome: UsageOutcome::Completed,
        }
    }

    #[test]
    fn a_runs_calls_are_summed_into_one_entry() {
        let calls = [
            call("small", 10, 5, Some(100)),
            call("large", 20, 8, Some(300)),
            call("small", 7, 3, Some(50)),
        ];
        let run = finished_run(
            &calls,
            None,
            "2026-12-06T10:00:00.000Z".into(),
            Duration::from_millis(1_234),
            None,
            false,
        );
        assert_eq!((run.input_tokens, run.output_tokens), (37, 16));
        assert_eq!(run.model, "small");
        assert_eq!(run.model_calls, 3);
        assert_eq!(run.latency_ms, 1_234);
        assert_eq!(run.cost_nanodollars, Some(450));
        assert!(run.validate().is_ok());
        // One call without a known price: the run's cost is not known.
        let unknown = finished_run(
            &[call("small", 1, 1, Some(1)), call("other", 1, 1, None)],
            None,
            "2026-12-06T10:00:00.000Z".into(),
            Duration::ZERO,
            Some("boom"),
            false,
        );
        assert_eq!(unknown.cost_nanodollars, None);
        assert_eq!(unknown.error.as_deref(), Some("boom"));
        // A cancellation is not an error.
        let cancelled = finished_run(
            &[],
            None,
            "2026-12-06T10:00:00.000Z".into(),
            Duration::ZERO,
            Some("Cancelled"),
            true,
        );
        assert_eq!((cancelled.error, cancelled.cancelled), (None, true));
    }
}
