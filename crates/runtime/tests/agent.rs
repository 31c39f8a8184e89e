//! Agent calls end to end: prompts from the local store (published, rolled
//! back, re-read from disk), variables filled, the provider double as the
//! model, validators on what comes back.

use std::future::Future;

use orrery_domain::{Agent, Prompt, VersionStatus};
use orrery_runtime::double::{PATIENCE, ProviderDouble, Reply};
use orrery_runtime::prompt::active_version;
use orrery_runtime::{
    AgentCall, CancellationToken, ProviderKind, RuntimeError, UsageOutcome, UsageSink, Validator,
    assemble, run_agent,
};
use orrery_store::LocalStore;
use orrery_sync::Replica;

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

/// Version 1: line endings, tabs, trailing spaces, non-ASCII text, literal
/// braces and one variable, so that "the same bytes" means something.
const V1: &str = "Plan a trip to {{ city }}.\r\n\tKeep it under 3 days.  \n\
                  Café ☕ — ünïcödé; JSON stays: {{\"days\": 3}}\n";
const V2: &str = "Plan an ambitious trip to {{city}} with every museum.";
const V3: &str = "You are a travel agent. Destination: {{city}}. Budget: {{budget}}.";

#[tokio::test]
async fn prompt_rollback_restores_exact_content() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("local.db");
    let replica = Replica::new(LocalStore::open(&path).await.unwrap());
    let mut prompt = Prompt::new("Trip planner");
    prompt.project = "Travel".into();
    let prompt = replica.save_prompt(&prompt).await.unwrap();

    let mut published = Vec::new();
    for content in [V1, V2, V3] {
        let version = replica
            .add_prompt_version(prompt.id, content)
            .await
            .unwrap();
        let now = replica
            .publish_prompt_version(prompt.id, version.id)
            .await
            .unwrap();
        assert_eq!(active_version(&now).unwrap().id, version.id);
        published.push(version);
    }
    let (v1, v3) = (&published[0], &published[2]);
    let mut agent = Agent::new("Planner");
    agent.system_prompt = "You plan trips.".into();
    let values = [("city", "Lisbon"), ("budget", "€500")]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let current = replica.prompt(prompt.id).await.unwrap();
    let assembled = assemble(&agent, Some(&current), &values, "").unwrap();
    assert_eq!(assembled.version, Some(v3.id));
    assert_eq!(
        assembled.prompt,
        "You are a travel agent. Destination: Lisbon. Budget: €500."
    );

    // Roll back to v1, then read the prompt again from disk through a fresh
    // replica: the rollback was persisted.
    replica
        .publish_prompt_version(prompt.id, v1.id)
        .await
        .unwrap();
    drop(replica);
    let reopened = Replica::new(LocalStore::open(&path).await.unwrap());
    let stored = reopened.prompt(prompt.id).await.unwrap();
    let statuses: Vec<_> = stored
        .versions
        .iter()
        .map(|version| (version.id, version.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (published[0].id, VersionStatus::Active),
            (published[1].id, VersionStatus::Archived),
            (published[2].id, VersionStatus::Archived),
        ]
    );
    let active = active_version(&stored).unwrap();
    assert_eq!(active.id, v1.id);
    assert_eq!(active.content.as_bytes(), V1.as_bytes());

    // The assembled prompt is v1's content byte for byte, its one variable
    // filled; the same bytes go over the wire.
    let expected = V1.replace("{{ city }}", "Lisbon");
    let assembled = assemble(&agent, Some(&stored), &values, "").unwrap();
    assert_eq!(assembled.version, Some(v1.id));
    assert_eq!(assembled.prompt.as_bytes(), expected.as_bytes());

    let double = ProviderDouble::start().await.unwrap();
    double.push(Reply::text("Day 1: Alfama."));
    let provider = double.provider(ProviderKind::Anthropic).unwrap();
    let answer = within(
        "the agent call",
        run_agent(
            &provider,
            AgentCall::new(&agent, "Three days, please.").with_prompt(&stored, values.clone()),
            CancellationToken::new(),
            |_| {},
        ),
    )
    .await
    .unwrap();
    assert_eq!(answer.prompt_version, Some(v1.id));
    assert_eq!(answer.text(), "Day 1: Alfama.");
    let sent = double.requests().pop().unwrap();
    assert_eq!(sent.system().as_deref(), Some("You plan trips."));
    assert_eq!(sent.texts(), [expected.as_str(), "Three days, please."]);

    // v1 has no `budget`; v3 needed it. Missing values are named.
    let mut only_budget = values.clone();
    only_budget.remove("city");
    let error = assemble(&agent, Some(&stored), &only_budget, "").unwrap_err();
    assert_eq!(error.to_string(), "the prompt needs values for: city");
}

#[tokio::test]
async fn validator_rejects_bad_output() {
    let double = ProviderDouble::start().await.unwrap();
    let provider = double.provider(ProviderKind::OpenAiCompatible).unwrap();
    let agent = Agent::new("Extractor");
    let cases = [
        (
            Validator::Regex {
                pattern: r"^\d{4}-\d{2}-\d{2}$".into(),
            },
            "Sometime next week",
            r"regex `^\d{4}-\d{2}-\d{2}$` validator: the output does not match the pattern",
            "2026-11-23",
        ),
        (
            Validator::Length {
                min: Some(10),
                max: Some(40),
            },
            "Too short",
            "length 10–40 validator: the output is 9 characters long; the minimum is 10",
            "Just the right length.",
        ),
        (
            Validator::Contains {
                text: "Sources:".into(),
                ignore_case: false,
            },
            "Trust me, it is true.",
            "contains “Sources:” validator: the output does not contain “Sources:”",
            "It is true.\nSources: the almanac",
        ),
        (
            Validator::JsonSchema {
                schema: serde_json::json!({
                    "type": "object",
                    "required": ["city", "days"],
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}
                }),
            },
            r#"{"city": "Lisbon", "days": "three"}"#,
            "JSON schema validator: at /days: value is not of type \"integer\"",
            "```json\n{\"city\": \"Lisbon\", \"days\": 3}\n```",
        ),
    ];
    for (validator, bad, reason, good) in cases {
        let call = || AgentCall::new(&agent, "Answer.").with_validators(vec![validator.clone()]);

        double.push(Reply::text(bad));
        let error = within(
            "the bad call",
            run_agent(&provider, call(), CancellationToken::new(), |_| {}),
        )
        .await
        .unwrap_err();
        let RuntimeError::OutputRejected(failures) = &error else {
            panic!("expected a rejection, got {error}");
        };
        assert_eq!(failures.len(), 1, "{error}");
        assert_eq!(failures[0].to_string(), reason);
        assert_eq!(
            error.to_string(),
            format!("the output was rejected: {reason}")
        );

        double.push(Reply::text(good));
        let answer = within(
            "the good call",
            run_agent(&provider, call(), CancellationToken::new(), |_| {}),
        )
        .await
        .unwrap_or_else(|error| panic!("{} rejected good output: {error}", validator.kind_name()));
        assert_eq!(answer.text(), good);
    }

    // A validator that cannot work is refused before any model is called.
    let before = double.request_count();
    let error = run_agent(
        &provider,
        AgentCall::new(&agent, "Answer.").with_validators(vec![Validator::Regex {
            pattern: "([unclosed".into(),
        }]),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, RuntimeError::InvalidValidator { .. }),
        "{error}"
    );
    assert_eq!(double.request_count(), before);
}

#[tokio::test]
async fn an_agent_call_streams_and_reports_usage() {
    let double = ProviderDouble::start().await.unwrap();
    double.push(Reply::chunked("Paris is the capital of France.", 4).with_usage(21, 8));
    let (sink, mut usage) = UsageSink::channel();
    let provider = double
        .provider(ProviderKind::Gemini)
        .unwrap()
        .with_usage(sink)
        .with_prices(orrery_runtime::PriceTable::new().with(
            "gemini-*",
            orrery_runtime::ModelPrice::per_million_tokens(1.0, 2.0),
        ));
    let mut agent = Agent::new("Geographer");
    agent.system_prompt = "Answer in one sentence.".into();
    agent
        .parameters
        .insert("temperature".into(), serde_json::json!(0.1));
    let mut deltas = Vec::new();
    let answer = within(
        "the agent call",
        run_agent(
            &provider,
            AgentCall::new(&agent, "Capital of France?"),
            CancellationToken::new(),
            |delta| deltas.push(delta.to_owned()),
        ),
    )
    .await
    .unwrap();
    assert_eq!(deltas.len(), 4);
    assert_eq!(deltas.concat(), answer.text());
    let sent = double.requests().pop().unwrap();
    assert_eq!(sent.body["generationConfig"]["temperature"], 0.1);
    assert_eq!(sent.texts(), ["Capital of France?"]);

    let event = within("the usage event", usage.recv()).await.unwrap();
    assert_eq!(event.label.as_deref(), Some("Geographer"));
    assert_eq!(event.model, "gemini-2.0-flash");
    assert_eq!((event.input_tokens, event.output_tokens), (21, 8));
    // 21 × 1,000 + 8 × 2,000 nanodollars.
    assert_eq!(event.cost_nanodollars, Some(37_000));
    assert_eq!(event.outcome, UsageOutcome::Completed);
    assert!(event.latency_ms >= event.first_token_ms.unwrap());
}
