//! Gemini's `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`
//! with `x-goog-api-key`: each `data:` chunk holds
//! `candidates[0].content.parts[].text` and the running `usageMetadata`;
//! the last one carries `finishReason`, and the stream simply ends. Tools
//! go as `functionDeclarations`; a call arrives whole as a `functionCall`
//! part (name, `args`), and answers go back as `functionResponse` parts of
//! the next user turn, matched by name.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ChatRequest, Chunk, ChunkError, Role, ToolCallDelta, WireFormat, arguments_object, sends_text,
    turns,
};
use crate::sse::SseEvent;

/// Gemini's format.
pub(crate) struct Gemini;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamChunk {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    function_call: Option<FunctionCall>,
    /// Thought summaries are not part of the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
}

impl WireFormat for Gemini {
    fn url(&self, base: &str, model: &str) -> String {
        let model = model.strip_prefix("models/").unwrap_or(model);
        format!(
            "{base}/v1beta/models/{}:streamGenerateContent?alt=sse",
            encode_segment(model)
        )
    }

    fn authorise(
        &self,
        request: reqwest::RequestBuilder,
        api_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match api_key {
            Some(key) => request.header("x-goog-api-key", key),
            None => request,
        }
    }

    fn body(&self, _model: &str, request: &ChatRequest) -> Value {
        let contents: Vec<Value> = turns(&request.messages)
            .into_iter()
            .map(|(role, parts)| {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                let mut out: Vec<Value> = Vec::new();
                for message in parts {
                    if sends_text(message) {
                        out.push(json!({"text": message.content}));
                    }
                    for call in &message.tool_calls {
                        out.push(json!({"functionCall": {"id": call.id, "name": call.name, "args": arguments_object(call)}}));
                    }
                    for result in &message.tool_results {
                        let response = if result.is_error {
                            json!({"error": result.content})
                        } else {
                            json!({"content": result.content})
                        };
                        out.push(json!({"functionResponse": {"id": result.call_id, "name": result.name, "response": response}}));
                    }
                }
                json!({"role": role, "parts": out})
            })
            .collect();
        let mut body = json!({ "contents": contents });
        if let Some(system) = &request.system {
            body["systemInstruction"] = json!({"parts": [{"text": system}]});
        }
        let mut config = serde_json::Map::new();
        if let Some(temperature) = request.temperature {
            config.insert("temperature".into(), json!(temperature));
        }
        if let Some(top_p) = request.top_p {
            config.insert("topP".into(), json!(top_p));
        }
        if let Some(max_tokens) = request.max_tokens {
            config.insert("maxOutputTokens".into(), json!(max_tokens));
        }
        if !config.is_empty() {
            body["generationConfig"] = Value::Object(config);
        }
        if !request.tools.is_empty() {
            let declarations: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| json!({"name": tool.name, "description": tool.description, "parameters": tool.parameters}))
                .collect();
            body["tools"] = json!([{"functionDeclarations": declarations}]);
        }
        body
    }

    fn decode(&self, event: &SseEvent) -> Result<Chunk, ChunkError> {
        let chunk: StreamChunk =
            serde_json::from_str(&event.data).map_err(ChunkError::malformed)?;
        if let Some(error) = chunk.error {
            let message = error
                .message
                .unwrap_or_else(|| "an error without a message".into());
            let status = error.status.unwrap_or_default();
            return Err(ChunkError::Provider {
                message: if status.is_empty() {
                    message
                } else {
                    format!("{message} ({status})")
                },
                retryable: error.code.is_some_and(|code| code >= 500)
                    || matches!(status.as_str(), "UNAVAILABLE" | "INTERNAL"),
            });
        }
        if let Some(reason) = chunk
            .prompt_feedback
            .and_then(|feedback| feedback.block_reason)
        {
            return Err(ChunkError::Provider {
                message: format!("the prompt was blocked ({reason})"),
                retryable: false,
            });
        }
        let mut out = Chunk::default();
        if let Some(candidate) = chunk.candidates.into_iter().next() {
            if let Some(content) = candidate.content {
                for part in content.parts {
                    if let Some(call) = part.function_call {
                        out.tool_calls.push(ToolCallDelta {
                            index: None,
                            id: call.id,
                            name: call.name,
                            arguments: if call.args.is_null() {
                                "{}".to_owned()
                            } else {
                                call.args.to_string()
                            },
                        });
                    }
                    if let Some(text) = part.text.filter(|_| !part.thought) {
                        out.text.push_str(&text);
                    }
                }
            }
            out.stop_reason = candidate.finish_reason;
        }
        if let Some(usage) = chunk.usage_metadata {
            out.input_tokens = usage.prompt_token_count;
            out.output_tokens = match (usage.candidates_token_count, usage.thoughts_token_count) {
                (None, None) => None,
                (answer, thoughts) => Some(answer.unwrap_or(0) + thoughts.unwrap_or(0)),
            };
        }
        Ok(out)
    }
}

/// A model name as one URL path segment: unreserved characters as they are,
/// everything else percent-encoded.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Message;

    fn event(data: &str) -> SseEvent {
        SseEvent {
            data: data.into(),
            ..SseEvent::default()
        }
    }

    #[test]
    fn parts_usage_and_finish_reason_are_read() {
        let chunk = Gemini
            .decode(&event(
                r#"{"candidates":[{"content":{"parts":[{"text":"Hel"},{"text":"lo"},{"text":"hmm","thought":true}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11}}"#,
            ))
            .unwrap();
        assert_eq!(chunk.text, "Hello");
        assert_eq!(
            (chunk.input_tokens, chunk.output_tokens),
            (Some(9), Some(2))
        );
        assert_eq!(chunk.stop_reason, None);
        let last = Gemini
            .decode(&event(
                r#"{"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"thoughtsTokenCount":4}}"#,
            ))
            .unwrap();
        assert_eq!(last.stop_reason.as_deref(), Some("STOP"));
        assert_eq!(last.output_tokens, Some(7));
    }

    #[test]
    fn errors_blocks_and_broken_json_are_reported() {
        assert_eq!(
            Gemini.decode(&event(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)),
            Err(ChunkError::Provider {
                message: "The model is overloaded. (UNAVAILABLE)".into(),
                retryable: true
            })
        );
        assert!(matches!(
            Gemini.decode(&event(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#)),
            Err(ChunkError::Provider {
                retryable: false,
                ..
            })
        ));
        assert!(matches!(
            Gemini.decode(&event("{\"candidates\":[")),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn the_url_and_body_follow_the_api() {
        assert_eq!(
            Gemini.url(
                "https://generativelanguage.googleapis.com",
                "models/gemini-2.0-flash"
            ),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(encode_segment("a/b c?"), "a%2Fb%20c%3F");
        let request = ChatRequest {
            system: Some("Be kind.".into()),
            messages: vec![
                Message::user("P"),
                Message::user("T"),
                Message::assistant("A"),
            ],
            max_tokens: Some(10),
            ..ChatRequest::default()
        };
        let body = Gemini.body("gemini-2.0-flash", &request);
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be kind.");
        assert_eq!(body["contents"][0]["parts"][1]["text"], "T");
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 10);
    }
}
