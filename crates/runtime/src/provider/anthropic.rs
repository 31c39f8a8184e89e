//! Anthropic's messages API (`POST {base}/v1/messages`, `x-api-key`,
//! `anthropic-version: 2023-06-01`), streamed as the events `message_start`
//! (input tokens), `content_block_delta` (`delta.text`), `message_delta`
//! (stop reason, output tokens), `message_stop` and `error`. Tools go as
//! `tools` with an `input_schema`; a call opens as a `tool_use` content
//! block (`content_block_start`: id, name) whose input streams as
//! `input_json_delta` pieces, and answers go back as `tool_result` blocks in
//! the next user turn.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ChatRequest, Chunk, ChunkError, Role, ToolCallDelta, WireFormat, arguments_object, sends_text,
    turns,
};
use crate::sse::SseEvent;

/// The API version the runtime speaks.
pub(crate) const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the agent sets none.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4_096;

/// Anthropic's format.
pub(crate) struct Anthropic;

#[derive(Deserialize)]
struct StreamEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<MessageStart>,
    index: Option<u64>,
    content_block: Option<ContentBlock>,
    delta: Option<Delta>,
    usage: Option<Usage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    partial_json: Option<String>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

impl WireFormat for Anthropic {
    fn url(&self, base: &str, _model: &str) -> String {
        format!("{base}/v1/messages")
    }

    fn authorise(
        &self,
        request: reqwest::RequestBuilder,
        api_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = request.header("anthropic-version", API_VERSION);
        match api_key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    }

    fn body(&self, model: &str, request: &ChatRequest) -> Value {
        let messages: Vec<Value> = turns(&request.messages)
            .into_iter()
            .map(|(role, parts)| {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                let mut content: Vec<Value> = Vec::new();
                for message in parts {
                    if sends_text(message) {
                        content.push(json!({"type": "text", "text": message.content}));
                    }
                    for call in &message.tool_calls {
                        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name,
                            "input": arguments_object(call)}));
                    }
                    for result in &message.tool_results {
                        content.push(json!({"type": "tool_result", "tool_use_id": result.call_id,
                            "content": result.content, "is_error": result.is_error}));
                    }
                }
                json!({"role": role, "content": content})
            })
            .collect();
        let mut body = json!({
            "model": model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
            "stream": true,
        });
        if let Some(system) = &request.system {
            body["system"] = json!(system);
        }
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(top_p) = request.top_p {
            body["top_p"] = json!(top_p);
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters})
                })
                .collect();
            body["tools"] = Value::Array(tools);
        }
        body
    }

    fn decode(&self, event: &SseEvent) -> Result<Chunk, ChunkError> {
        let parsed: StreamEvent =
            serde_json::from_str(&event.data).map_err(ChunkError::malformed)?;
        let kind = parsed
            .kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or("");
        let mut chunk = Chunk::default();
        match kind {
            "message_start" => {
                if let Some(usage) = parsed.message.and_then(|message| message.usage) {
                    chunk.input_tokens = usage.input_tokens;
                    chunk.output_tokens = usage.output_tokens;
                }
            }
            "content_block_start" => {
                if let Some(block) = parsed.content_block
                    && block.kind.as_deref() == Some("tool_use")
                {
                    chunk.tool_calls.push(ToolCallDelta {
                        index: parsed.index,
                        id: block.id,
                        name: block.name,
                        arguments: String::new(),
                    });
                }
            }
            "content_block_delta" => match parsed.delta {
                Some(delta) if delta.kind.as_deref() == Some("input_json_delta") => {
                    chunk.tool_calls.push(ToolCallDelta {
                        index: parsed.index,
                        id: None,
                        name: None,
                        arguments: delta.partial_json.unwrap_or_default(),
                    });
                }
                Some(delta)
                    if delta
                        .kind
                        .as_deref()
                        .is_none_or(|kind| kind == "text_delta") =>
                {
                    chunk.text = delta.text.unwrap_or_default();
                }
                _ => {}
            },
            "message_delta" => {
                chunk.stop_reason = parsed.delta.and_then(|delta| delta.stop_reason);
                if let Some(usage) = parsed.usage {
                    chunk.input_tokens = usage.input_tokens;
                    chunk.output_tokens = usage.output_tokens;
                }
            }
            "message_stop" => chunk.done = true,
            "error" => {
                let error = parsed.error;
                let kind = error.as_ref().and_then(|error| error.kind.clone());
                let message = error
                    .and_then(|error| error.message)
                    .unwrap_or_else(|| "an error without a message".into());
                return Err(ChunkError::Provider {
                    message: match &kind {
                        Some(kind) => format!("{message} ({kind})"),
                        None => message,
                    },
                    retryable: matches!(kind.as_deref(), Some("overloaded_error" | "api_error")),
                });
            }
            // ping, content_block_stop and future events.
            _ => {}
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Message;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: Some(name.into()),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn a_whole_stream_reads_as_text_usage_and_end() {
        let start = Anthropic
            .decode(&event(
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":25,"output_tokens":1}}}"#,
            ))
            .unwrap();
        assert_eq!(start.input_tokens, Some(25));
        let delta = Anthropic
            .decode(&event(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            ))
            .unwrap();
        assert_eq!(delta.text, "Hello");
        let thinking = Anthropic
            .decode(&event(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            ))
            .unwrap();
        assert_eq!(thinking.text, "");
        let end = Anthropic
            .decode(&event(
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#,
            ))
            .unwrap();
        assert_eq!(end.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(end.output_tokens, Some(15));
        assert!(
            Anthropic
                .decode(&event("ping", r#"{"type":"ping"}"#))
                .unwrap()
                == Chunk::default()
        );
        assert!(
            Anthropic
                .decode(&event("message_stop", r#"{"type":"message_stop"}"#))
                .unwrap()
                .done
        );
    }

    #[test]
    fn error_events_say_whether_a_retry_may_help() {
        let overloaded = Anthropic.decode(&event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ));
        assert_eq!(
            overloaded,
            Err(ChunkError::Provider {
                message: "Overloaded (overloaded_error)".into(),
                retryable: true
            })
        );
        let invalid = Anthropic.decode(&event(
            "error",
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#,
        ));
        assert!(matches!(
            invalid,
            Err(ChunkError::Provider {
                retryable: false,
                ..
            })
        ));
        assert!(matches!(
            Anthropic.decode(&event("content_block_delta", "{not json")),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn the_body_puts_the_system_prompt_aside_and_merges_turns() {
        let request = ChatRequest {
            system: Some("You plan.".into()),
            messages: vec![Message::user("Prompt"), Message::user("Task")],
            ..ChatRequest::default()
        };
        let body = Anthropic.body("claude-3-5-haiku-latest", &request);
        assert_eq!(body["system"], "You plan.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
        assert_eq!(body["messages"][0]["content"][1]["text"], "Task");
        assert_eq!(
            Anthropic.url("https://api.anthropic.com", "m"),
            "https://api.anthropic.com/v1/messages"
        );
    }
}
