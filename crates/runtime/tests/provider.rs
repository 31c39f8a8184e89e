//! The providers against the provider double: a real HTTP server on
//! loopback speaking each wire format. Nothing here sleeps to synchronise:
//! every wait ends when its condition holds, bounded by `PATIENCE` only so
//! that a broken feature fails instead of hanging.

use std::future::Future;
use std::time::{Duration, Instant};

use orrery_runtime::double::{DOUBLE_API_KEY, PATIENCE, ProviderDouble, Reply, split_text};
use orrery_runtime::{
    CancellationToken, ChatRequest, HttpProvider, Provider, ProviderKind, ProviderSettings,
    RuntimeError, StreamEvent, TokenUsage, UsageEvent, UsageOutcome, UsageSink,
};

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

/// Runs a call to its end: the deltas, then the completion or the error.
async fn call(
    provider: &HttpProvider,
    request: ChatRequest,
) -> (
    Vec<String>,
    Result<orrery_runtime::Completion, RuntimeError>,
) {
    let mut deltas = Vec::new();
    let result = within(
        "the call",
        provider
            .stream(request, CancellationToken::new())
            .for_each_delta(|delta| deltas.push(delta.to_owned())),
    )
    .await;
    (deltas, result)
}

async fn next_usage(receiver: &mut tokio::sync::mpsc::UnboundedReceiver<UsageEvent>) -> UsageEvent {
    within("the usage event", receiver.recv())
        .await
        .expect("a usage event")
}

#[tokio::test]
async fn streaming_works_on_each_format() {
    let double = ProviderDouble::start().await.unwrap();
    let text = "The quick brown fox jumps over the lazy dog.";
    for kind in ProviderKind::ALL {
        let (sink, mut usage) = UsageSink::channel();
        double.push(Reply::chunked(text, 6).with_usage(17, 9));
        let provider = double.provider(kind).unwrap().with_usage(sink);
        let request = ChatRequest::user("Say the sentence.").with_system("Be exact.");
        let mut stream = provider.stream(request, CancellationToken::new());
        let mut deltas = Vec::new();
        let completion = loop {
            match within("the next event", stream.next())
                .await
                .expect("an event")
            {
                Ok(StreamEvent::Delta(delta)) => deltas.push(delta),
                Ok(StreamEvent::Done(completion)) => break completion,
                Err(error) => panic!("{kind:?}: {error}"),
            }
        };
        // Text arrives in order, piece by piece, and nothing follows the end.
        assert_eq!(deltas, split_text(text, 6), "{kind:?}");
        assert!(stream.next().await.is_none());
        assert_eq!(completion.text, text);
        assert_eq!(
            completion.usage,
            TokenUsage {
                input_tokens: 17,
                output_tokens: 9,
                reported: true
            },
            "{kind:?}"
        );
        assert_eq!(completion.attempts, 1);
        assert!(completion.first_token.is_some());
        let expected_stop = match kind {
            ProviderKind::OpenAiCompatible => "stop",
            ProviderKind::Anthropic => "end_turn",
            ProviderKind::Gemini => "STOP",
        };
        assert_eq!(completion.stop_reason.as_deref(), Some(expected_stop));

        // What went over the wire, in the format's own shape.
        let sent = double.requests().pop().unwrap();
        assert_eq!(sent.kind, Some(kind));
        assert_eq!(sent.system().as_deref(), Some("Be exact."));
        assert_eq!(sent.texts(), ["Say the sentence."]);
        assert_eq!(sent.header("accept"), Some("text/event-stream"));
        match kind {
            ProviderKind::OpenAiCompatible => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(
                    sent.header("authorization"),
                    Some(format!("Bearer {DOUBLE_API_KEY}").as_str())
                );
                assert_eq!(sent.body["model"], "llama3.2");
                assert_eq!(sent.body["stream"], true);
            }
            ProviderKind::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.header("x-api-key"), Some(DOUBLE_API_KEY));
                assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(sent.body["stream"], true);
            }
            ProviderKind::Gemini => {
                assert_eq!(
                    sent.path,
                    "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
                );
                assert_eq!(sent.query.as_deref(), Some("alt=sse"));
                assert_eq!(sent.header("x-goog-api-key"), Some(DOUBLE_API_KEY));
            }
        }

        let event = next_usage(&mut usage).await;
        assert_eq!(event.provider, kind);
        assert_eq!((event.input_tokens, event.output_tokens), (17, 9));
        assert!(event.tokens_reported);
        assert_eq!(event.outcome, UsageOutcome::Completed);
        assert_eq!(event.attempts, 1);
    }
}

#[tokio::test]
async fn provider_retries_then_fails_cleanly() {
    let double = ProviderDouble::start().await.unwrap();

    // 500, 500, 429 (wait 1 s), then an answer: the call succeeds on the fourth request.
    double.push_all([
        Reply::status(500, "internal error"),
        Reply::status(502, "bad gateway"),
        Reply::rate_limited(1),
        Reply::text("Finally, an answer."),
    ]);
    let (sink, mut usage) = UsageSink::channel();
    let provider = double
        .provider(ProviderKind::OpenAiCompatible)
        .unwrap()
        .with_usage(sink.clone());
    let started = Instant::now();
    let (deltas, result) = call(&provider, ChatRequest::user("Hello?")).await;
    let completion = result.expect("the call succeeds after retries");
    assert_eq!(completion.text, "Finally, an answer.");
    assert_eq!(deltas.concat(), "Finally, an answer.");
    assert_eq!(completion.attempts, 4);
    assert_eq!(double.request_count(), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429's Retry-After of 1 s was honoured ({:?})",
        started.elapsed()
    );
    // Every attempt sent the same request.
    let requests = double.requests();
    assert!(
        requests
            .iter()
            .all(|request| request.body == requests[0].body)
    );
    let event = next_usage(&mut usage).await;
    assert_eq!(event.outcome, UsageOutcome::Completed);
    assert_eq!(event.attempts, 4);

    // Always failing: a clear error after the configured attempts, and a
    // usage event carrying it.
    double.set_fallback(Reply::status(503, "overloaded, try later"));
    let mut settings = double.settings(ProviderKind::Anthropic);
    settings.limits.max_attempts = 3;
    let provider = HttpProvider::new(settings, Some(DOUBLE_API_KEY.into()))
        .unwrap()
        .with_usage(sink.clone());
    let before = double.request_count();
    let (deltas, result) = call(&provider, ChatRequest::user("Hello?")).await;
    let error = result.unwrap_err();
    assert!(deltas.is_empty());
    assert_eq!(
        error,
        RuntimeError::Unavailable {
            provider: "Anthropic",
            attempts: 3,
            last: "HTTP 503: overloaded, try later".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "Anthropic failed after 3 attempts; the last answer was HTTP 503: overloaded, try later"
    );
    assert_eq!(double.request_count() - before, 3);
    let event = next_usage(&mut usage).await;
    assert_eq!(
        event.outcome,
        UsageOutcome::Failed {
            error: error.to_string()
        }
    );
    assert_eq!(event.attempts, 3);

    // A 4xx other than 429 fails at once with the provider's own message.
    double.push(Reply::status(400, "max_tokens: must be greater than 0"));
    let before = double.request_count();
    let (_, result) = call(&provider, ChatRequest::user("Hello?")).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "Anthropic refused the request (HTTP 400): max_tokens: must be greater than 0"
    );
    assert_eq!(double.request_count() - before, 1);

    // A 429 asking for longer than the runtime waits fails at once, saying so.
    double.push(Reply::rate_limited(3_600));
    let before = double.request_count();
    let (_, result) = call(&provider, ChatRequest::user("Hello?")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(&error, RuntimeError::RateLimited { retry_after: Some(after), .. } if after.as_secs() == 3_600),
        "{error}"
    );
    assert!(
        error.to_string().contains("it asks to wait 3600 s"),
        "{error}"
    );
    assert_eq!(double.request_count() - before, 1);

    // A connection dropped before any text is retried …
    double.push_all([Reply::drop_after("", 0), Reply::text("Second try.")]);
    let before = double.request_count();
    let (_, result) = call(&provider, ChatRequest::user("Hello?")).await;
    assert_eq!(result.unwrap().text, "Second try.");
    assert_eq!(double.request_count() - before, 2);

    // … but never once part of the answer has streamed.
    double.push_all([
        Reply::drop_after("Half an ans", 2),
        Reply::text("must not be asked"),
    ]);
    let before = double.request_count();
    let (deltas, result) = call(&provider, ChatRequest::user("Hello?")).await;
    assert_eq!(deltas.concat(), "Half an ans");
    let error = result.unwrap_err();
    assert!(matches!(error, RuntimeError::Interrupted { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("the connection to Anthropic was lost before the answer was complete"),
        "{error}"
    );
    assert_eq!(double.request_count() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_inflight_calls() {
    let double = ProviderDouble::start().await.unwrap();
    double.set_fallback(Reply::stall("Thinking about it", 2));
    let cancel = CancellationToken::new();
    let (sink, mut usage) = UsageSink::channel();
    let mut calls = Vec::new();
    // Two streaming calls per format, each stalled mid-answer (its first
    // delta has arrived), and one more that never gets an answer at all.
    for kind in ProviderKind::ALL.into_iter().chain(ProviderKind::ALL) {
        let provider = double.provider(kind).unwrap().with_usage(sink.clone());
        let mut stream = provider.stream(ChatRequest::user("Think."), cancel.child_token());
        let first = within("the first delta", stream.next()).await;
        assert!(
            matches!(first, Some(Ok(StreamEvent::Delta(_)))),
            "{first:?}"
        );
        calls.push(tokio::spawn(stream.collect()));
    }
    double.push(Reply::Hang);
    let provider = double
        .provider(ProviderKind::OpenAiCompatible)
        .unwrap()
        .with_usage(sink.clone());
    calls.push(tokio::spawn(
        provider
            .stream(ChatRequest::user("Hang."), cancel.child_token())
            .collect(),
    ));
    within("seven requests in flight", double.wait_in_flight(7)).await;

    let cancelled_at = Instant::now();
    cancel.cancel();
    for call in calls {
        let result = within("a cancelled call", call).await.unwrap();
        assert_eq!(result.unwrap_err(), RuntimeError::Cancelled);
    }
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "calls returned promptly ({:?})",
        cancelled_at.elapsed()
    );
    // The double sees every connection closed.
    within("every connection closed", double.wait_in_flight(0)).await;
    assert_eq!(double.in_flight(), 0);
    for _ in 0..7 {
        assert_eq!(
            next_usage(&mut usage).await.outcome,
            UsageOutcome::Cancelled
        );
    }
    // Nothing was retried after the cancellation.
    assert_eq!(double.request_count(), 7);
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_call() {
    let double = ProviderDouble::start().await.unwrap();
    double.push(Reply::stall("Still going", 3));
    let provider = double.provider(ProviderKind::Gemini).unwrap();
    let mut stream = provider.stream(ChatRequest::user("Go."), CancellationToken::new());
    assert!(matches!(
        within("the first delta", stream.next()).await,
        Some(Ok(StreamEvent::Delta(_)))
    ));
    assert_eq!(double.in_flight(), 1);
    drop(stream);
    within("the connection closed", double.wait_in_flight(0)).await;
}

#[tokio::test]
async fn no_provider_says_how_to_start_a_local_one() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut settings = ProviderSettings::local();
    settings.base_url = format!("http://127.0.0.1:{port}/v1/");
    settings.limits.initial_backoff_ms = 1;
    settings.limits.max_backoff_ms = 5;
    let (sink, mut usage) = UsageSink::channel();
    let provider = HttpProvider::new(settings, None).unwrap().with_usage(sink);
    let (_, result) = call(&provider, ChatRequest::user("Anyone there?")).await;
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "No model provider answers at http://127.0.0.1:{port}/v1. Start a local one with \
             `ollama serve` (and `ollama pull llama3.2`), or choose another provider on \
             the Providers screen."
        )
    );
    let event = next_usage(&mut usage).await;
    assert_eq!(event.attempts, 4, "connect errors are retried");
    assert!(matches!(event.outcome, UsageOutcome::Failed { .. }));

    // A remote provider gets advice that fits it.
    let mut settings = ProviderSettings::new(ProviderKind::Anthropic);
    settings.base_url = format!("http://127.0.0.1:{port}");
    settings.base_url = settings.base_url.replace("127.0.0.1", "localhost");
    settings.limits.max_attempts = 1;
    let provider = HttpProvider::new(settings, Some("key".into())).unwrap();
    let (_, result) = call(&provider, ChatRequest::user("Anyone there?")).await;
    let error = result.unwrap_err().to_string();
    assert!(
        error.starts_with("No model provider answers at http://localhost:"),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_chunks_name_the_provider() {
    let double = ProviderDouble::start().await.unwrap();
    for kind in ProviderKind::ALL {
        double.push(Reply::malformed_after("Hi"));
        let provider = double.provider(kind).unwrap();
        let before = double.request_count();
        let (deltas, result) = call(&provider, ChatRequest::user("Hello")).await;
        assert_eq!(deltas, ["Hi"]);
        let error = result.unwrap_err();
        assert!(
            matches!(error, RuntimeError::MalformedChunk { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "{} sent a chunk that is not valid JSON",
                kind.label()
            )),
            "{message}"
        );
        assert_eq!(double.request_count() - before, 1, "not retried");
    }
}

#[tokio::test]
async fn errors_inside_the_stream_and_refused_keys_are_reported() {
    let double = ProviderDouble::start().await.unwrap();
    for kind in ProviderKind::ALL {
        double.push(Reply::StreamError {
            text: "Partial".into(),
            message: "context window exceeded".into(),
        });
        let provider = double.provider(kind).unwrap();
        let (deltas, result) = call(&provider, ChatRequest::user("Hello")).await;
        assert_eq!(deltas, ["Partial"]);
        let error = result.unwrap_err();
        assert!(
            matches!(&error, RuntimeError::ProviderError { message, .. } if message.contains("context window exceeded")),
            "{error}"
        );
    }

    double.require_api_key("the-right-key");
    let provider = HttpProvider::new(
        double.settings(ProviderKind::Gemini),
        Some("a-wrong-key".into()),
    )
    .unwrap();
    let before = double.request_count();
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    let error = result.unwrap_err().to_string();
    assert_eq!(
        error,
        "Gemini refused the request (HTTP 401): invalid or missing API key (check the API key on the Providers screen)"
    );
    assert_eq!(double.request_count() - before, 1, "not retried");

    // Providers that need a key refuse to start without one.
    let missing = HttpProvider::new(double.settings(ProviderKind::Anthropic), None).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "Anthropic needs an API key; add one on the Providers screen"
    );
}

#[tokio::test]
async fn silent_providers_time_out() {
    let double = ProviderDouble::start().await.unwrap();
    let mut settings = double.settings(ProviderKind::OpenAiCompatible);
    settings.limits.idle_timeout_ms = 200;
    let provider = HttpProvider::new(settings, None).unwrap();

    double.push(Reply::Hang);
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            RuntimeError::Timeout {
                stage: "waiting for the answer to begin",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("did not answer for 0.2 s"),
        "{error}"
    );

    double.push(Reply::stall("Half", 1));
    let (deltas, result) = call(&provider, ChatRequest::user("Hello")).await;
    assert_eq!(deltas, ["Half"]);
    assert!(matches!(
        result.unwrap_err(),
        RuntimeError::Timeout {
            stage: "waiting for the next part of the answer",
            ..
        }
    ));
    within("both connections closed", double.wait_in_flight(0)).await;
}

#[tokio::test]
async fn hostile_streams_fail_cleanly_with_bounded_memory() {
    let double = ProviderDouble::start().await.unwrap();
    let mut settings = double.settings(ProviderKind::OpenAiCompatible);
    settings.limits.max_line_bytes = 64 * 1024;
    settings.limits.max_attempts = 1;
    settings.limits.max_answer_chars = 1_000;
    let provider = HttpProvider::new(settings, None).unwrap();

    // 8 MiB without a line break: refused once the line passes 64 KiB, and
    // the client hangs up instead of reading the rest.
    let mut pieces = vec![b"data: ".to_vec()];
    pieces.extend(std::iter::repeat_n(vec![b'A'; 64 * 1024], 128));
    double.push(Reply::Raw(pieces));
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    assert_eq!(
        result.unwrap_err(),
        RuntimeError::LineTooLong {
            provider: "the OpenAI-compatible provider",
            limit: 64 * 1024
        }
    );
    within("the connection closed", double.wait_in_flight(0)).await;

    // Many short `data:` lines that make one huge event: refused the same way.
    let line = format!("data: {}\n", "B".repeat(1_000));
    double.push(Reply::Raw(vec![line.repeat(200).into_bytes()]));
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    assert!(matches!(
        result.unwrap_err(),
        RuntimeError::LineTooLong { .. }
    ));

    // Binary garbage where JSON belongs: a clear error, no panic.
    double.push(Reply::Raw(vec![
        b"\x00\xff garbage line\n\n".to_vec(),
        b"data: \xff\xfe\x00{{{\n\n".to_vec(),
    ]));
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    assert!(matches!(
        result.unwrap_err(),
        RuntimeError::MalformedChunk { .. }
    ));

    // A 200 answer that is not a stream at all.
    double.push(Reply::Raw(vec![b"<html>Welcome to nginx</html>".to_vec()]));
    let (_, result) = call(&provider, ChatRequest::user("Hello")).await;
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("the stream closed before the end of the answer"),
        "{error}"
    );

    // An answer longer than allowed is cut off, not buffered without end.
    double.push(Reply::chunked("x".repeat(5_000), 50));
    let (deltas, result) = call(&provider, ChatRequest::user("Hello")).await;
    assert_eq!(
        result.unwrap_err(),
        RuntimeError::AnswerTooLong {
            provider: "the OpenAI-compatible provider",
            limit: 1_000
        }
    );
    assert_eq!(deltas.concat().len(), 1_000);
}
