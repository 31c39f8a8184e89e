//! `api`: the public API and the channels against the provider double on
//! loopback (the release server in a process of its own, real HTTP both
//! ways).
//!
//! - `run_overhead_p50_ms`: from sending `POST /v1/agents/{id}/runs` with
//!   `"stream": true` to the run's first streamed token in its answer, with a
//!   provider that answers at once: what the server adds to a run
//!   (admission, queueing, the stream). Median of `--runs` runs, one after
//!   another.
//! - `run_overhead_two_requests_p50_ms`: the same for a client that starts
//!   the run, then opens its `events_url` (two requests, each metered).
//! - `concurrent_runs_ok`: `--concurrent` runs started at once, each
//!   followed to its end; how many succeeded (of how many, in `concurrent`).
//! - `rss_mb_per_round`: the server's resident memory after each of
//!   `--rounds` such rounds: flat when nothing is kept per run in memory.
//!   The server runs in a process of its own (the release `orrery-server`
//!   beside this program), so the figure is the server's alone, not the
//!   clients' or the provider double's.
//! - `telegram_reply_p50_ms`: from a Telegram update reaching the webhook to
//!   the bot's reply reaching the Bot API stand-in, the model answering at
//!   once. Median of `--messages` messages.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use orrery_e2e::TestServer;
use orrery_e2e::messengers::{BOT_TOKEN, Messenger, telegram_update};
use orrery_e2e::runs::RunTenant;
use orrery_runtime::double::Reply;
use orrery_server::agent_runs::sealed::SecretsKey;
use serde_json::{Value, json};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sequential runs for the overhead.
    pub runs: usize,
    /// Runs at once per round.
    pub concurrent: usize,
    /// Rounds of concurrent runs.
    pub rounds: usize,
    /// Telegram messages.
    pub messages: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 200,
            concurrent: 500,
            rounds: 5,
            messages: 50,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Starts a run; its id.
async fn start(tenant: &RunTenant, key: &str, input: &str) -> anyhow::Result<String> {
    let started = tenant
        .start(
            key,
            &format!("/v1/agents/{}/runs", tenant.agent.id),
            json!({ "input": input }),
        )
        .await;
    anyhow::ensure!(
        started.status() == 202,
        "a run was refused: {}",
        started.status()
    );
    let run: Value = started.json().await?;
    Ok(run["id"].as_str().unwrap_or_default().to_owned())
}

/// Starts a run with its events streamed in the answer; the time to its
/// first token and whether it succeeded.
async fn start_streamed(
    tenant: &RunTenant,
    key: &str,
    input: &str,
    sent: Instant,
) -> anyhow::Result<(f64, bool)> {
    let response = tenant
        .http
        .post(tenant.url(&format!("/v1/agents/{}/runs", tenant.agent.id)))
        .bearer_auth(key)
        .json(&json!({ "input": input, "stream": true }))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "a streamed run was refused: {}",
        response.status()
    );
    read_stream(response, sent).await
}

/// Reads a run's stream until its first token; then to its end. The time to
/// the first token and whether it succeeded.
async fn follow(
    tenant: &RunTenant,
    key: &str,
    run: &str,
    sent: Instant,
) -> anyhow::Result<(f64, bool)> {
    let response = tenant
        .http
        .get(tenant.url(&format!("/v1/runs/{run}/events")))
        .bearer_auth(key)
        .send()
        .await?;
    read_stream(response, sent).await
}

async fn read_stream(
    mut response: reqwest::Response,
    sent: Instant,
) -> anyhow::Result<(f64, bool)> {
    let mut text = String::new();
    let mut first = None;
    while let Some(chunk) = response.chunk().await? {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && text.contains("event: message.delta") {
            first = Some(sent.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    Ok((
        first.unwrap_or(f64::NAN),
        text.contains("event: run.succeeded"),
    ))
}

pub fn run(options: &Options) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(options))
}

async fn measure(options: &Options) -> anyhow::Result<String> {
    let telegram = Messenger::telegram().await?;
    let telegram_url = telegram.url();
    let concurrent = options.concurrent;
    let binary = std::env::current_exe()?
        .parent()
        .context("the bench binary has a directory")?
        .join("orrery-server");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release -p orrery-server",
        binary.display()
    );
    let slots = concurrent.max(1).to_string();
    let connections = (4 * concurrent.max(256)).to_string();
    let secrets_key = SecretsKey::generate().to_base64();
    let server = TestServer::start_process(
        &binary,
        &[
            "--allow-private-provider-hosts",
            "--max-concurrent-runs",
            &slots,
            "--api-key-calls-per-minute",
            "1000000",
            "--max-connections",
            &connections,
            "--public-url",
            "https://bots.orrery.test",
        ],
        &[
            ("ORRERY_SECRETS_KEY", secrets_key.as_str()),
            ("ORRERY_TELEGRAM_API_BASE", telegram_url.as_str()),
        ],
    )
    .await?;
    let tenant = Arc::new(RunTenant::on(Arc::new(server), "bench@orrery.test").await);
    tenant.set_plan("enterprise").await;
    tenant
        .double
        .set_fallback(Reply::text("Forty-two.").with_usage(12, 3));
    let key = tenant.key(&["runs:write", "runs:read"], "live").await;

    // Overhead: one run at a time, request to first token.
    let mut overheads = Vec::with_capacity(options.runs);
    for index in 0..options.runs {
        let sent = Instant::now();
        let (first, ok) = start_streamed(&tenant, &key, &format!("Question {index}"), sent).await?;
        anyhow::ensure!(ok, "streamed run {index} did not succeed");
        overheads.push(first);
    }
    let mut two_requests = Vec::with_capacity(options.runs);
    for index in 0..options.runs {
        let sent = Instant::now();
        let run = start(&tenant, &key, &format!("Question {index}")).await?;
        let (first, ok) = follow(&tenant, &key, &run, sent).await?;
        anyhow::ensure!(ok, "run {run} did not succeed");
        two_requests.push(first);
    }

    // Rounds of concurrent runs, each followed to its end.
    let mut rss = Vec::with_capacity(options.rounds);
    let mut all_ok = true;
    for round in 0..options.rounds {
        let tasks: Vec<_> = (0..options.concurrent)
            .map(|index| {
                let tenant = tenant.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let run =
                        start(&tenant, &key, &format!("Round {round}, question {index}")).await?;
                    let (_, ok) = follow(&tenant, &key, &run, Instant::now()).await?;
                    anyhow::Ok(ok)
                })
            })
            .collect();
        let mut succeeded = 0;
        for task in tasks {
            if matches!(task.await, Ok(Ok(true))) {
                succeeded += 1;
            }
        }
        all_ok &= succeeded == options.concurrent;
        let resident = tenant.server.process_resident_mib().unwrap_or(f64::NAN);
        rss.push((resident * 10.0).round() / 10.0);
    }

    // Telegram: webhook to reply sent.
    let connected: Value = tenant
        .http
        .put(tenant.url("/v1/channels/telegram"))
        .bearer_auth(tenant.device.token())
        .json(&json!({ "bot_token": BOT_TOKEN, "agent_id": tenant.agent.id }))
        .send()
        .await?
        .json()
        .await?;
    let channel = connected["id"].as_str().unwrap_or_default().to_owned();
    let secret = telegram
        .calls()
        .into_iter()
        .rfind(|call| call.method == "setWebhook")
        .and_then(|call| call.body["secret_token"].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("the bot was not connected: {connected}"))?;
    let mut replies = Vec::with_capacity(options.messages);
    for index in 0..options.messages {
        let sent = Instant::now();
        let delivered = tenant
            .http
            .post(tenant.url(&format!("/v1/hooks/telegram/{channel}")))
            .header("X-Telegram-Bot-Api-Secret-Token", &secret)
            .json(&telegram_update(
                1_000 + index as i64,
                77,
                &format!("Hello {index}"),
            ))
            .send()
            .await?;
        anyhow::ensure!(
            delivered.status() == 200,
            "the update was refused: {}",
            delivered.status()
        );
        telegram.wait_for_sent(index + 1).await;
        replies.push(sent.elapsed().as_secs_f64() * 1_000.0);
    }

    Ok(json!({
        "benchmark": "api",
        "runs": options.runs,
        "run_overhead_p50_ms": (median(overheads) * 100.0).round() / 100.0,
        "run_overhead_two_requests_p50_ms": (median(two_requests) * 100.0).round() / 100.0,
        "concurrent": options.concurrent,
        "rounds": options.rounds,
        "concurrent_runs_ok": all_ok,
        "rss_mb_per_round": rss,
        "messages": options.messages,
        "telegram_reply_p50_ms": (median(replies) * 100.0).round() / 100.0,
    })
    .to_string())
}
