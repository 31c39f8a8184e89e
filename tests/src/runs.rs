//! A tenant ready to run agents on a real server: a Pro account with an
//! agent, a manager and a one-agent graph synced, a provider double on
//! loopback set as its live provider (its key sealed by the server), and
//! helpers to mint keys, start runs and read their event streams.

use std::sync::Arc;

use orrery_domain::{Agent, Graph, Node, NodeKind, Position};
use orrery_runtime::ProviderKind;
use orrery_runtime::double::{DOUBLE_API_KEY, ProviderDouble};
use orrery_server::agent_runs::RunsConfig;
use orrery_server::agent_runs::sealed::SecretsKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{TestDevice, TestServer};

/// One tenant ready to call the API: a Pro account with an agent and a
/// one-agent graph synced to the server, a provider set for live runs, and
/// keys.
pub struct RunTenant {
    /// The server (shared by the tenants of one test).
    pub server: Arc<TestServer>,
    /// The tenant's live provider.
    pub double: ProviderDouble,
    /// The tenant's desktop.
    pub device: TestDevice,
    /// "Oracle", a library agent.
    pub agent: Agent,
    /// "Desk", a graph with one agent node.
    pub graph: Graph,
    /// Its agent node.
    pub writer: Node,
    /// A client.
    pub http: reqwest::Client,
}

async fn set_plan(server: &TestServer, device: &TestDevice, plan: &str) {
    server
        .store()
        .await
        .unwrap()
        .set_plan(
            device.session.account.tenant_id.parse().unwrap(),
            device.session.account.id.parse().unwrap(),
            plan,
        )
        .await
        .unwrap();
}

/// A server that runs agents: a secrets key, and (when `private_hosts`)
/// providers on loopback allowed.
pub async fn start_server(private_hosts: bool) -> TestServer {
    start_server_with(private_hosts, |_| {}).await
}

/// [`start_server`] after `configure` adjusted the configuration.
pub async fn start_server_with(
    private_hosts: bool,
    configure: impl FnOnce(&mut orrery_server::ServerConfig),
) -> TestServer {
    TestServer::start_with(|config| {
        config.runs = RunsConfig {
            secrets_key: Some(SecretsKey::generate()),
            private_provider_hosts: private_hosts,
            max_concurrent: 16,
            ..RunsConfig::default()
        };
        config.limits.api_key_calls_per_minute = 10_000;
        configure(config);
    })
    .await
    .unwrap()
}

impl RunTenant {
    /// A tenant `email` on a fresh server that allows loopback providers.
    pub async fn new(email: &str) -> Self {
        Self::on(Arc::new(start_server(true).await), email).await
    }

    /// A tenant `email` on `server`.
    pub async fn on(server: Arc<TestServer>, email: &str) -> Self {
        let double = ProviderDouble::start().await.unwrap();
        double.require_api_key(DOUBLE_API_KEY);
        let device = TestDevice::signed_in(&server, email, "laptop")
            .await
            .unwrap();
        set_plan(&server, &device, "pro").await;
        let mut agent = Agent::new("Oracle");
        agent.system_prompt = "You are the oracle.".into();
        let agent = device.replica.save_agent(&agent).await.unwrap();
        let mut manager = Agent::new("Manager");
        manager.system_prompt = "You manage.".into();
        device.replica.save_agent(&manager).await.unwrap();
        let mut graph = Graph::new("Desk");
        let writer = Node::new(NodeKind::Agent, "Writer", Position::new(0.0, 0.0, 0.0));
        graph.add_node(writer.clone());
        let graph = device.replica.add_graph(graph).await.unwrap();
        device.client.sync_all(&device.replica).await.unwrap();
        let fixture = Self {
            server,
            double,
            device,
            agent,
            graph,
            writer,
            http: reqwest::Client::new(),
        };
        let settings = fixture.double.settings(ProviderKind::OpenAiCompatible);
        let set = fixture
            .http
            .put(fixture.url("/v1/run-providers/live"))
            .bearer_auth(fixture.device.token())
            .json(&json!({ "settings": settings, "api_key": DOUBLE_API_KEY }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            set.status(),
            StatusCode::NO_CONTENT,
            "{}",
            set.text().await.unwrap()
        );
        fixture
    }

    /// Puts the tenant's user on `plan`.
    pub async fn set_plan(&self, plan: &str) {
        set_plan(&self.server, &self.device, plan).await;
    }

    /// `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// A new API key with `scopes`, in `mode` (`live` or `test`).
    pub async fn key(&self, scopes: &[&str], mode: &str) -> String {
        let created: Value = self
            .http
            .post(self.url("/v1/api-keys"))
            .bearer_auth(self.device.token())
            .json(&json!({ "name": "ci", "scopes": scopes, "mode": mode }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["key"].as_str().expect("a key").to_owned()
    }

    /// POSTs `body` to `path` with `key`.
    pub async fn start(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` with `key`.
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Every event of a run's stream, read to its end.
    pub async fn events(&self, key: &str, run: &str, after: Option<u64>) -> Vec<SseEvent> {
        let mut request = self
            .http
            .get(self.url(&format!("/v1/runs/{run}/events")))
            .bearer_auth(key);
        if let Some(after) = after {
            request = request.header("Last-Event-ID", after.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        parse_sse(&response.text().await.unwrap())
    }

    /// The tenant user's usage this period, as stored.
    pub async fn usage(&self) -> orrery_domain::policy::Usage {
        let now = self.server.clock_now();
        self.server
            .store()
            .await
            .unwrap()
            .usage(
                self.device.session.account.tenant_id.parse().unwrap(),
                self.device.session.account.id.parse().unwrap(),
                &format!("{}", now.format("%Y-%m")),
            )
            .await
            .unwrap()
    }
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    /// Its number.
    pub id: u64,
    /// Its type.
    pub kind: String,
    /// Its data.
    pub data: Value,
}

/// The events of a Server-Sent Events body.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut kind = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = value.trim().parse().ok();
                } else if let Some(value) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    kind = Some(value.trim().to_owned());
                } else if let Some(value) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data.push_str(value);
                }
            }
            Some(SseEvent {
                id: id?,
                kind: kind?,
                data: serde_json::from_str(&data).ok()?,
            })
        })
        .collect()
}
