//! Tools from Model Context Protocol servers, through the official Rust SDK
//! (`rmcp`): [`McpServer::start_stdio`] runs a local command and speaks MCP
//! over its stdin and stdout; its tools become [`Tool`]s an agent can call,
//! each with the permissions the user gave that server. A server that dies
//! fails the step whose call it was answering, with the reason
//! ([`ToolError::Unavailable`]), and nothing else; later calls say the same.
//! A tool error or a refused call goes back to the model like any other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

use super::{Tool, ToolError, ToolFuture, ToolPermissions, ToolSpec, check_spec};

/// How long a server may take to start and list its tools.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Most tools taken from one server.
pub const MAX_TOOLS_PER_SERVER: usize = 128;

/// How to start a local MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioServer {
    /// A short name, shown with its tools (`files`, `github`).
    pub name: String,
    /// The program.
    pub command: PathBuf,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// Environment variables set for it (nothing else of ours is hidden).
    pub environment: Vec<(String, String)>,
}

/// Why a server could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// The command could not be started.
    #[error("the MCP server `{server}` could not be started: {reason}")]
    Start {
        /// The server's name.
        server: String,
        /// Why.
        reason: String,
    },
    /// It started but did not speak MCP (or not in time).
    #[error("the MCP server `{server}` did not answer as an MCP server: {reason}")]
    Handshake {
        /// The server's name.
        server: String,
        /// Why.
        reason: String,
    },
}

/// A running MCP server and the tools it offers.
pub struct McpServer {
    name: String,
    service: RunningService<RoleClient, ()>,
    tools: Vec<ToolSpec>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpServer")
            .field("name", &self.name)
            .field(
                "tools",
                &self.tools.iter().map(|tool| &tool.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// Starts `server` and lists its tools. Tools whose name or schema the
    /// runtime cannot offer to a model are left out (see [`Self::skipped`]).
    pub async fn start_stdio(server: &StdioServer) -> Result<Self, McpError> {
        let mut command = tokio::process::Command::new(&server.command);
        command.args(&server.arguments);
        for (key, value) in &server.environment {
            command.env(key, value);
        }
        let transport = TokioChildProcess::new(command).map_err(|error| McpError::Start {
            server: server.name.clone(),
            reason: error.to_string(),
        })?;
        let handshake = |reason: String| McpError::Handshake {
            server: server.name.clone(),
            reason,
        };
        let service = tokio::time::timeout(START_TIMEOUT, ().serve(transport))
            .await
            .map_err(|_| handshake(format!("no answer within {} s", START_TIMEOUT.as_secs())))?
            .map_err(|error| handshake(error.to_string()))?;
        let listed = tokio::time::timeout(START_TIMEOUT, service.list_all_tools())
            .await
            .map_err(|_| handshake("it did not list its tools in time".into()))?
            .map_err(|error| handshake(error.to_string()))?;
        let mut tools = Vec::new();
        let mut skipped = Vec::new();
        for tool in listed.into_iter().take(MAX_TOOLS_PER_SERVER) {
            let spec = ToolSpec {
                name: tool.name.to_string(),
                description: tool
                    .description
                    .as_deref()
                    .unwrap_or_default()
                    .chars()
                    .take(super::MAX_TOOL_DESCRIPTION_CHARS)
                    .collect(),
                parameters: Value::Object((*tool.input_schema).clone()),
            };
            match check_spec(&spec) {
                Ok(_) => tools.push(spec),
                Err(reason) => {
                    tracing::warn!(server = %server.name, %reason, "an MCP tool was left out");
                    skipped.push(reason);
                }
            }
        }
        Ok(Self {
            name: server.name.clone(),
            service,
            tools,
            skipped,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What its tools are, as the model is told.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// Why tools were left out (a name or schema a model cannot be offered).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Its tools, ready for a [`super::ToolBox`], each held to `permissions`.
    pub fn tools(&self, permissions: &ToolPermissions) -> Vec<Arc<dyn Tool>> {
        self.tools
            .iter()
            .map(|spec| {
                Arc::new(McpTool {
                    server: self.name.clone(),
                    spec: spec.clone(),
                    permissions: permissions.clone(),
                    peer: self.service.peer().clone(),
                }) as Arc<dyn Tool>
            })
            .collect()
    }

    /// Stops the server (its process is ended).
    pub async fn stop(self) {
        let _ = self.service.cancel().await;
    }
}

/// One tool of an MCP server.
struct McpTool {
    server: String,
    spec: ToolSpec,
    permissions: ToolPermissions,
    peer: Peer<RoleClient>,
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn permissions(&self) -> &ToolPermissions {
        &self.permissions
    }

    fn call<'a>(&'a self, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            let arguments = arguments.as_object().cloned().unwrap_or_default();
            let request =
                CallToolRequestParams::new(self.spec.name.clone()).with_arguments(arguments);
            let result =
                self.peer
                    .call_tool(request)
                    .await
                    .map_err(|error| match error {
                        // The server is gone (exited, or its pipe broke): nothing it
                        // offers can run any more.
                        rmcp::ServiceError::TransportClosed
                        | rmcp::ServiceError::TransportSend(_) => ToolError::Unavailable(format!(
                            "the MCP server `{}` stopped during the call ({error})",
                            self.server
                        )),
                        rmcp::ServiceError::McpError(error) => ToolError::Failed(format!(
                            "the MCP server `{}` refused the call: {}",
                            self.server, error.message
                        )),
                        error => ToolError::Failed(format!(
                            "the MCP server `{}` failed during the call: {error}",
                            self.server
                        )),
                    })?;
            let mut text: Vec<String> = result
                .content
                .iter()
                .filter_map(|content| content.as_text().map(|text| text.text.clone()))
                .collect();
            if text.is_empty()
                && let Some(structured) = &result.structured_content
            {
                text.push(structured.to_string());
            }
            let text = text.join("\n");
            if result.is_error == Some(true) {
                return Err(ToolError::Failed(if text.is_empty() {
                    format!("the MCP tool `{}` failed", self.spec.name)
                } else {
                    text
                }));
            }
            Ok(text)
        })
    }
}
