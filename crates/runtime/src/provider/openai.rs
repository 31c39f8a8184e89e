//! The OpenAI-compatible wire format (`POST {base}/chat/completions`), spoken
//! by Ollama, llama.cpp's server, vLLM and OpenAI: `data:` chunks holding
//! `choices[0].delta.content`, usage in a last chunk when asked for with
//! `stream_options.include_usage`, and `data: [DONE]` at the end. Tools go
//! as `tools` of type `function`; the model's calls stream as
//! `delta.tool_calls[]` pieces keyed by `index` (the arguments a string of
//! JSON in pieces), and their answers go back as `tool` messages.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ChatRequest, Chunk, ChunkError, Role, ToolCallDelta, WireFormat};
use crate::sse::SseEvent;

/// The OpenAI-compatible format.
pub(crate) struct OpenAi;

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallPiece>,
}

#[derive(Deserialize)]
struct ToolCallPiece {
    index: Option<u64>,
    id: Option<String>,
    function: Option<FunctionPiece>,
}

#[derive(Deserialize)]
struct FunctionPiece {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl WireFormat for OpenAi {
    fn url(&self, base: &str, _model: &str) -> String {
        format!("{base}/chat/completions")
    }

    fn authorise(
        &self,
        request: reqwest::RequestBuilder,
        api_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn body(&self, model: &str, request: &ChatRequest) -> Value {
        let mut messages = Vec::with_capacity(request.messages.len() + 1);
        if let Some(system) = &request.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for message in &request.messages {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            if !message.tool_calls.is_empty() {
                let calls: Vec<Value> = message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        json!({"id": call.id, "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments}})
                    })
                    .collect();
                let content = if message.content.is_empty() {
                    Value::Null
                } else {
                    json!(message.content)
                };
                messages
                    .push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            } else if !message.tool_results.is_empty() {
                if !message.content.is_empty() {
                    messages.push(json!({"role": role, "content": message.content}));
                }
                for result in &message.tool_results {
                    messages.push(json!({"role": "tool", "tool_call_id": result.call_id, "content": result.content}));
                }
            } else {
                messages.push(json!({"role": role, "content": message.content}));
            }
        }
        let mut body = json!({
            "model": model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(top_p) = request.top_p {
            body["top_p"] = json!(top_p);
        }
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({"type": "function", "function": {
                        "name": tool.name, "description": tool.description, "parameters": tool.parameters}})
                })
                .collect();
            body["tools"] = Value::Array(tools);
        }
        body
    }

    fn decode(&self, event: &SseEvent) -> Result<Chunk, ChunkError> {
        if event.data.trim() == "[DONE]" {
            return Ok(Chunk {
                done: true,
                ..Chunk::default()
            });
        }
        let chunk: StreamChunk =
            serde_json::from_str(&event.data).map_err(ChunkError::malformed)?;
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(ChunkError::Provider {
                message,
                retryable: false,
            });
        }
        let choice = chunk.choices.into_iter().next();
        let (text, stop_reason, tool_calls) = match choice {
            Some(choice) => {
                let (text, calls) = match choice.delta {
                    Some(delta) => (delta.content.unwrap_or_default(), delta.tool_calls),
                    None => (String::new(), Vec::new()),
                };
                let calls = calls
                    .into_iter()
                    .map(|piece| {
                        let (name, arguments) = match piece.function {
                            Some(function) => {
                                (function.name, function.arguments.unwrap_or_default())
                            }
                            None => (None, String::new()),
                        };
                        ToolCallDelta {
                            // Servers that leave the index out send each call whole.
                            index: piece.index,
                            id: piece.id,
                            name,
                            arguments,
                        }
                    })
                    .collect();
                (text, choice.finish_reason, calls)
            }
            None => (String::new(), None, Vec::new()),
        };
        Ok(Chunk {
            tool_calls,
            text,
            input_tokens: chunk.usage.as_ref().and_then(|usage| usage.prompt_tokens),
            output_tokens: chunk
                .usage
                .as_ref()
                .and_then(|usage| usage.completion_tokens),
            stop_reason,
            done: false,
        })
    }
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
    fn chunks_usage_and_the_end_marker_are_read() {
        let delta = OpenAi
            .decode(&event(
                r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
            ))
            .unwrap();
        assert_eq!(delta.text, "Hel");
        assert_eq!(delta.stop_reason, None);
        let stop = OpenAi
            .decode(&event(
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ))
            .unwrap();
        assert_eq!(stop.stop_reason.as_deref(), Some("stop"));
        let usage = OpenAi
            .decode(&event(
                r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
            ))
            .unwrap();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (Some(12), Some(5))
        );
        assert!(OpenAi.decode(&event("[DONE]")).unwrap().done);
    }

    #[test]
    fn errors_and_broken_json_are_told_apart() {
        assert_eq!(
            OpenAi.decode(&event(r#"{"error":{"message":"out of memory"}}"#)),
            Err(ChunkError::Provider {
                message: "out of memory".into(),
                retryable: false
            })
        );
        assert!(matches!(
            OpenAi.decode(&event(r#"{"choices":[{"delta":{"content":"x"#)),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            OpenAi.decode(&event(r#"{"choices":"not a list"}"#)),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn the_body_carries_system_messages_and_parameters() {
        let request = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Bye"),
            ],
            temperature: Some(0.5),
            max_tokens: Some(64),
            ..ChatRequest::default()
        };
        let body = OpenAi.body("llama3.2", &request);
        assert_eq!(body["model"], "llama3.2");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            body["messages"][2],
            json!({"role": "assistant", "content": "Hello"})
        );
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("top_p").is_none());
        assert_eq!(
            OpenAi.url("http://127.0.0.1:11434/v1", "m"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
    }
}
