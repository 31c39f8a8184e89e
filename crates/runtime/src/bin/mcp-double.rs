//! A stand-in MCP server for tests (feature `double`): speaks the Model
//! Context Protocol over stdio (newline-delimited JSON-RPC 2.0) as a local
//! server would, with tools that behave well and badly:
//!
//! - `add` (`a`, `b`: numbers): their sum, as text;
//! - `shout` (`text`): the text in capitals;
//! - `fail`: a tool error (`isError: true`);
//! - `crash`: the process exits in the middle of the call;
//! - `garble`: writes a line that is not JSON, then answers;
//! - `hang`: never answers.
//!
//! Each `tools/call` is appended to the file `MCP_DOUBLE_LOG` names, if any,
//! so a test can count what ran.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

fn tools() -> Value {
    let schema = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    json!([
        {"name": "add", "description": "Adds two numbers.",
         "inputSchema": schema(json!({"a": {"type": "number"}, "b": {"type": "number"}}), &["a", "b"])},
        {"name": "shout", "description": "Says the text in capitals.",
         "inputSchema": schema(json!({"text": {"type": "string"}}), &["text"])},
        {"name": "fail", "description": "Always fails.", "inputSchema": schema(json!({}), &[])},
        {"name": "crash", "description": "Exits mid-call.", "inputSchema": schema(json!({}), &[])},
        {"name": "garble", "description": "Sends a broken message.", "inputSchema": schema(json!({}), &[])},
        {"name": "hang", "description": "Never answers.", "inputSchema": schema(json!({}), &[])},
    ])
}

fn text(value: impl Into<String>, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": value.into()}], "isError": is_error})
}

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let log = std::env::var_os("MCP_DOUBLE_LOG");
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = message.get("id").cloned() else {
            // A notification (`notifications/initialized`): no answer.
            continue;
        };
        let method = message["method"].as_str().unwrap_or_default();
        let params = &message["params"];
        let result = match method {
            "initialize" => json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "mcp-double", "version": "1.0.0"}
            }),
            "ping" => json!({}),
            "tools/list" => json!({"tools": tools()}),
            "tools/call" => {
                let name = params["name"].as_str().unwrap_or_default();
                let arguments = &params["arguments"];
                if let Some(log) = &log {
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)
                        .expect("the log file opens");
                    let _ = writeln!(file, "{name} {arguments}");
                }
                match name {
                    "add" => {
                        let sum = arguments["a"].as_f64().unwrap_or(0.0)
                            + arguments["b"].as_f64().unwrap_or(0.0);
                        text(sum.to_string(), false)
                    }
                    "shout" => text(
                        arguments["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_uppercase(),
                        false,
                    ),
                    "fail" => text("the tool failed on purpose", true),
                    "crash" => std::process::exit(3),
                    "garble" => {
                        let _ = writeln!(stdout, "{{this is not json");
                        let _ = stdout.flush();
                        text("answered after a broken line", false)
                    }
                    "hang" => loop {
                        std::thread::park();
                    },
                    _ => {
                        let error = json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": -32602, "message": format!("unknown tool: {name}")}});
                        let _ = writeln!(stdout, "{error}");
                        let _ = stdout.flush();
                        continue;
                    }
                }
            }
            _ => {
                let error = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": format!("method not found: {method}")}});
                let _ = writeln!(stdout, "{error}");
                let _ = stdout.flush();
                continue;
            }
        };
        let _ = writeln!(
            stdout,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        );
        let _ = stdout.flush();
    }
}
