//! The sync client: talks to the sync server over HTTP, one round trip per
//! graph or library document.

use std::time::Duration;

use orrery_domain::{DocumentId, DocumentKind, GraphId};
use serde::Deserialize;

use crate::document::Version;
use crate::protocol::{CONTENT_TYPE, SyncRequest, SyncResponse};
use crate::{Replica, SyncError};

/// A graph as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteGraph {
    /// The graph.
    pub id: GraphId,
    /// Its merged name.
    pub name: String,
    /// Nodes in the merged document.
    pub node_count: i64,
    /// Edges in the merged document.
    pub edge_count: i64,
}

/// An agent, prompt or session as the server lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteDocument {
    /// What kind of item it is.
    pub kind: DocumentKind,
    /// The document.
    pub id: DocumentId,
    /// The agent's name, the prompt's or session's title.
    pub title: String,
    /// The listed facts of the item.
    pub summary: serde_json::Value,
    /// Last merge, RFC 3339 UTC.
    pub updated_at: String,
}

/// What one sync of the whole library did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Graphs exchanged with the server.
    pub graphs_synced: usize,
    /// Graphs that arrived from the server for the first time.
    pub graphs_received: usize,
    /// Agents, prompts and sessions exchanged with the server.
    pub documents_synced: usize,
    /// Agents, prompts and sessions that arrived from the server for the first time.
    pub documents_received: usize,
    /// Finished runs of the usage ledger the server acknowledged.
    pub runs_reported: usize,
    /// Graphs already here into which edits made elsewhere came.
    pub graphs_changed: Vec<GraphId>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// An HTTP client for one sync server and one signed-in user. It presents an
/// access token (or API key) on every request; when the server answers 401 the
/// owner refreshes the session and calls [`SyncClient::set_access_token`].
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base_url: String,
    access_token: String,
    /// The team workspace it works in; `None`: the user's own.
    workspace: Option<uuid::Uuid>,
}

pub use orrery_domain::team::WORKSPACE_HEADER;

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        // The server closes connections idle for 10 s; dropping ours sooner
        // keeps requests off connections the server is about to close.
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("the HTTP client configuration is static and valid")
}

impl SyncClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:7878`)
    /// presenting `access_token`.
    pub fn new(base_url: &str, access_token: &str) -> Self {
        Self {
            http: http_client(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_token: access_token.to_owned(),
            workspace: None,
        }
    }

    /// The same client working in the team workspace `team` (`None`: the
    /// user's personal workspace): every graph and library document it
    /// syncs is the team's, and the server checks the user's role in it.
    pub fn in_workspace(mut self, team: Option<uuid::Uuid>) -> Self {
        self.workspace = team;
        self
    }

    /// The team workspace it works in.
    pub fn workspace(&self) -> Option<uuid::Uuid> {
        self.workspace
    }

    /// `builder` with the credential and the workspace.
    fn authorised(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let builder = builder.bearer_auth(&self.access_token);
        match self.workspace {
            Some(team) => builder.header(WORKSPACE_HEADER, team.to_string()),
            None => builder,
        }
    }

    /// Presents a new access token from now on (after a refresh).
    pub fn set_access_token(&mut self, access_token: &str) {
        self.access_token = access_token.to_owned();
    }

    /// The server's address.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The graphs the server holds.
    pub async fn remote_graphs(&self) -> Result<Vec<RemoteGraph>, SyncError> {
        let response = self
            .authorised(self.http.get(format!("{}/v1/graphs", self.base_url)))
            .send()
            .await
            .map_err(|error| offline(&self.base_url, &error))?;
        check(response)
            .await?
            .json()
            .await
            .map_err(|error| protocol_error(&error))
    }

    /// Exchanges one graph's updates with the server: pushes what the server
    /// has not acknowledged, takes in what this replica lacks.
    pub async fn sync_graph(&self, replica: &Replica, id: GraphId) -> Result<(), SyncError> {
        self.sync_graph_reporting(replica, id).await.map(|_| ())
    }

    /// [`SyncClient::sync_graph`], answering whether edits made elsewhere
    /// came in (an open canvas shows them).
    pub async fn sync_graph_reporting(
        &self,
        replica: &Replica,
        id: GraphId,
    ) -> Result<bool, SyncError> {
        match self.exchange(replica, id).await {
            // The server does not have a graph this replica thinks it pushed
            // (its database was replaced): push the whole history again.
            Err(SyncError::Server { status: 404, .. })
                if replica.store().load_document(id).await?.is_some() =>
            {
                tracing::warn!(%id, "the server lost this graph; pushing it again");
                replica.forget_server_version(id).await?;
                self.exchange(replica, id).await
            }
            outcome => outcome,
        }
    }

    /// Takes in an edit the live feed carried, without a round trip when
    /// the replica holds everything it builds on; otherwise syncs the graph.
    /// Answers whether edits made elsewhere came in.
    pub async fn receive_edit(
        &self,
        replica: &Replica,
        edit: &crate::live::LiveEdit,
    ) -> Result<bool, SyncError> {
        let taken = match Version::decode(&edit.version) {
            Ok(version) => {
                replica
                    .incoming_edit(edit.graph, &version, &edit.update)
                    .await?
            }
            // A version that does not read: the sync answers with a good one.
            Err(_) => None,
        };
        match taken {
            Some(arrived) => Ok(arrived),
            None => self.sync_graph_reporting(replica, edit.graph).await,
        }
    }

    async fn exchange(&self, replica: &Replica, id: GraphId) -> Result<bool, SyncError> {
        let (client_version, updates) = replica.outgoing(id).await?;
        let (server_version, updates) = self
            .round_trip(
                &format!("{}/v1/graphs/{id}/sync", self.base_url),
                &client_version,
                updates,
            )
            .await?;
        replica.incoming(id, server_version, &updates).await
    }

    /// The agents, prompts or sessions (by `kind`) the server holds; `None`
    /// when the server does not know the library routes (an older server).
    pub async fn remote_documents(
        &self,
        kind: DocumentKind,
    ) -> Result<Option<Vec<RemoteDocument>>, SyncError> {
        let response = self
            .authorised(
                self.http
                    .get(format!("{}/v1/library/{kind}", self.base_url)),
            )
            .send()
            .await
            .map_err(|error| offline(&self.base_url, &error))?;
        match check(response).await {
            Ok(response) => response
                .json()
                .await
                .map(Some)
                .map_err(|error| protocol_error(&error)),
            Err(SyncError::Server { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Exchanges one agent's, prompt's or session's updates with the server,
    /// as [`SyncClient::sync_graph`] does for a graph.
    pub async fn sync_document(
        &self,
        replica: &Replica,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), SyncError> {
        match self.exchange_document(replica, kind, id).await {
            // The server lost a document this replica pushed: push it all again.
            Err(SyncError::Server { status: 404, .. })
                if replica
                    .store()
                    .load_library_document(kind, id)
                    .await?
                    .is_some() =>
            {
                tracing::warn!(%kind, %id, "the server lost this document; pushing it again");
                replica.forget_document_server_version(kind, id).await?;
                self.exchange_document(replica, kind, id).await
            }
            outcome => outcome,
        }
    }

    async fn exchange_document(
        &self,
        replica: &Replica,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), SyncError> {
        let (client_version, updates) = replica.outgoing_document(kind, id).await?;
        let (server_version, updates) = self
            .round_trip(
                &format!("{}/v1/library/{kind}/{id}/sync", self.base_url),
                &client_version,
                updates,
            )
            .await?;
        replica
            .incoming_document(kind, id, server_version, &updates)
            .await
    }

    /// One sync frame to `url` and its answer: the server's version and the
    /// updates this replica lacks.
    async fn round_trip(
        &self,
        url: &str,
        client_version: &Version,
        updates: Vec<u8>,
    ) -> Result<(Version, Vec<u8>), SyncError> {
        let request = SyncRequest {
            client_version: client_version.encode(),
            updates,
        };
        let response = self
            .authorised(self.http.post(url))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(request.encode())
            .send()
            .await
            .map_err(|error| offline(&self.base_url, &error))?;
        let body = check(response)
            .await?
            .bytes()
            .await
            .map_err(|error| offline(&self.base_url, &error))?;
        let answer = SyncResponse::decode(&body)?;
        let server_version = Version::decode(&answer.server_version)?;
        Ok((server_version, answer.updates))
    }

    /// Syncs every local graph, agent, prompt and session, and brings in every
    /// one the server has that this replica lacks.
    pub async fn sync_all(&self, replica: &Replica) -> Result<SyncReport, SyncError> {
        // Deleted graphs too: their deletion has to reach the server.
        let local = replica.graphs_to_sync().await?;
        let remote = self.remote_graphs().await?;
        let mut report = SyncReport::default();
        for id in &local {
            if self.sync_graph_reporting(replica, *id).await? {
                report.graphs_changed.push(*id);
            }
            report.graphs_synced += 1;
        }
        for graph in remote.iter().filter(|remote| !local.contains(&remote.id)) {
            self.sync_graph(replica, graph.id).await?;
            report.graphs_synced += 1;
            report.graphs_received += 1;
        }
        for kind in DocumentKind::ALL {
            let Some(remote) = self.remote_documents(kind).await? else {
                continue; // A server without the library: graphs only.
            };
            // Deleted documents too: their deletion has to reach the server.
            let local = replica.documents_to_sync(kind).await?;
            for id in &local {
                self.sync_document(replica, kind, *id).await?;
                report.documents_synced += 1;
            }
            for document in remote.iter().filter(|remote| !local.contains(&remote.id)) {
                self.sync_document(replica, kind, document.id).await?;
                report.documents_synced += 1;
                report.documents_received += 1;
            }
        }
        report.runs_reported = self.report_runs(replica).await?;
        Ok(report)
    }

    /// Sends the usage ledger's entries the server has not acknowledged, a
    /// report at a time, and marks those it acknowledges; answers how many.
    /// A server without the route (older than the ledger) is left alone.
    pub async fn report_runs(&self, replica: &Replica) -> Result<usize, SyncError> {
        let mut reported = 0;
        loop {
            let runs = replica
                .store()
                .unacknowledged_runs(orrery_domain::runs::MAX_RUNS_PER_REPORT)
                .await?;
            if runs.is_empty() {
                return Ok(reported);
            }
            let full = runs.len() == orrery_domain::runs::MAX_RUNS_PER_REPORT;
            let response = self
                .authorised(
                    self.http
                        .post(format!("{}/v1/runs/finished", self.base_url)),
                )
                .json(&orrery_domain::runs::RunReport { runs })
                .send()
                .await
                .map_err(|error| offline(&self.base_url, &error))?;
            let receipt: orrery_domain::runs::RunReceipt = match check(response).await {
                Ok(response) => response
                    .json()
                    .await
                    .map_err(|error| protocol_error(&error))?,
                Err(SyncError::Server { status: 404, .. }) => return Ok(reported),
                Err(error) => return Err(error),
            };
            replica
                .store()
                .acknowledge_runs(&receipt.acknowledged)
                .await?;
            reported += receipt.acknowledged.len();
            if !full {
                return Ok(reported);
            }
        }
    }
}

fn offline(base_url: &str, error: &reqwest::Error) -> SyncError {
    SyncError::Offline {
        url: base_url.to_owned(),
        reason: error.to_string(),
    }
}

fn protocol_error(error: &reqwest::Error) -> SyncError {
    SyncError::Server {
        status: 200,
        message: format!("unreadable answer: {error}"),
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, SyncError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.message,
        Err(_) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    Err(SyncError::Server {
        status: status.as_u16(),
        message,
    })
}
