//! The client of the server's live change feed (`GET /v1/live`, a WebSocket):
//! it yields which graphs and library documents changed on the server so the
//! caller syncs them at once instead of waiting for its timer. In a team's
//! workspace it also carries presence: where each person with a graph open
//! is looking ([`PeerPresence`]), sent with [`LiveFeed::show_presence`].

use futures_util::{SinkExt, StreamExt};
use orrery_domain::{DocumentId, DocumentKind, GraphId};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::SyncError;

impl LiveChange {
    /// The graph this says changed, whether or not it carries the edit.
    pub fn changed_graph(&self) -> Option<GraphId> {
        match self {
            Self::Graph(graph) => Some(*graph),
            Self::GraphEdit(edit) => Some(edit.graph),
            _ => None,
        }
    }
}

/// Where another person is looking, as the server relays it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PeerPresence {
    /// Who.
    pub user: uuid::Uuid,
    /// Their name.
    pub name: String,
    /// The colour they are shown in (`#rrggbb`).
    pub colour: String,
    /// The graph they have open.
    pub graph: GraphId,
    /// Where they are looking, in graph space.
    pub cursor: Option<[f64; 3]>,
    /// The nodes they have selected.
    pub selection: Vec<orrery_domain::NodeId>,
}

/// An edit merged on the server, as its feed carries it: take it in with
/// [`crate::SyncClient::receive_edit`], which syncs the graph instead when
/// the edit depends on changes this device has not seen.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEdit {
    /// The graph.
    pub graph: GraphId,
    /// The updates the merge added.
    pub update: Vec<u8>,
    /// The server's version of the graph after the merge (encoded).
    pub version: Vec<u8>,
}

/// What the feed says.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveChange {
    /// This graph changed on the server (sync it).
    Graph(GraphId),
    /// This graph changed on the server, and here is the change.
    GraphEdit(LiveEdit),
    /// This agent, prompt or session changed on the server.
    Document {
        /// What kind of item it is.
        kind: DocumentKind,
        /// The document.
        id: DocumentId,
    },
    /// Changes were missed: sync everything.
    Resync,
    /// Where another person is looking now.
    Presence(PeerPresence),
    /// This person closed their feed: stop showing them.
    PresenceLeft(uuid::Uuid),
    /// The server refused a message this feed sent, and why.
    Refused(String),
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open feed.
pub struct LiveFeed {
    socket: Socket,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed").finish_non_exhaustive()
    }
}

impl LiveFeed {
    /// Opens the feed of the server at `base_url` (`http://host:port`) as the
    /// user of `access_token`, and waits until the server says it listens.
    pub async fn connect(base_url: &str, access_token: &str) -> Result<Self, SyncError> {
        Self::connect_in(base_url, access_token, None).await
    }

    /// [`Self::connect`] in the team workspace `team` (`None`: the user's own).
    pub async fn connect_in(
        base_url: &str,
        access_token: &str,
        team: Option<uuid::Uuid>,
    ) -> Result<Self, SyncError> {
        let url = format!(
            "{}/v1/live",
            base_url.trim_end_matches('/').replacen("http", "ws", 1)
        );
        let offline = |reason: String| SyncError::Offline {
            url: base_url.to_owned(),
            reason,
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|error| offline(error.to_string()))?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {access_token}")
                .parse()
                .map_err(|_| offline("the access token is not a valid header".into()))?,
        );
        if let Some(team) = team {
            request.headers_mut().insert(
                crate::client::WORKSPACE_HEADER,
                team.to_string()
                    .parse()
                    .expect("a UUID is a valid header value"),
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|error| match error {
                tokio_tungstenite::tungstenite::Error::Http(response) => SyncError::Server {
                    status: response.status().as_u16(),
                    message: "the live feed was refused".into(),
                },
                other => offline(other.to_string()),
            })?;
        let mut feed = Self { socket };
        match feed.next_message().await? {
            Some(text) if text.contains("\"ready\"") => Ok(feed),
            _ => Err(offline("the live feed did not start".into())),
        }
    }

    async fn next_message(&mut self) -> Result<Option<String>, SyncError> {
        while let Some(message) = self.socket.next().await {
            match message {
                Ok(Message::Text(text)) => return Ok(Some(text.to_string())),
                Ok(Message::Close(_)) => return Ok(None),
                Ok(_) => continue,
                Err(error) => {
                    return Err(SyncError::Offline {
                        url: "live feed".into(),
                        reason: error.to_string(),
                    });
                }
            }
        }
        Ok(None)
    }

    /// Says where this person is looking on `graph`: the camera's focus and
    /// the selected nodes. The server drops more than 20 a second.
    pub async fn show_presence(
        &mut self,
        graph: GraphId,
        cursor: Option<[f64; 3]>,
        selection: &[orrery_domain::NodeId],
    ) -> Result<(), SyncError> {
        let message = serde_json::json!({
            "presence": {
                "graph": graph.to_string(),
                "cursor": cursor,
                "selection": selection
                    .iter()
                    .take(orrery_domain::team::MAX_PRESENCE_SELECTION)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            }
        });
        self.send_text(message.to_string()).await
    }

    /// Sends `text` as it is (for tests of what the server refuses).
    pub async fn send_text(&mut self, text: String) -> Result<(), SyncError> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|error| SyncError::Offline {
                url: "live feed".into(),
                reason: error.to_string(),
            })
    }

    /// The next change, or `None` when the server closed the feed.
    pub async fn next(&mut self) -> Result<Option<LiveChange>, SyncError> {
        loop {
            let Some(text) = self.next_message().await? else {
                return Ok(None);
            };
            let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if value.get("resync").is_some() {
                return Ok(Some(LiveChange::Resync));
            }
            if let Some(graph) = value
                .get("graph")
                .and_then(|graph| graph.as_str())
                .and_then(|id| id.parse().ok())
            {
                return Ok(Some(match carried_edit(graph, &value) {
                    Some(edit) => LiveChange::GraphEdit(edit),
                    None => LiveChange::Graph(graph),
                }));
            }
            if let Some(change) = document_change(&value) {
                return Ok(Some(change));
            }
            if let Some(presence) = value
                .get("presence")
                .and_then(|presence| serde_json::from_value(presence.clone()).ok())
            {
                return Ok(Some(LiveChange::Presence(presence)));
            }
            if let Some(user) = value
                .pointer("/presence_left/user")
                .and_then(|user| user.as_str())
                .and_then(|user| user.parse().ok())
            {
                return Ok(Some(LiveChange::PresenceLeft(user)));
            }
            if let Some(reason) = value.get("refused").and_then(|reason| reason.as_str()) {
                return Ok(Some(LiveChange::Refused(reason.to_owned())));
            }
            // Anything else (from a newer server) is not for this client.
        }
    }
}

/// The edit a graph's message carries (`update` and `version`, base64), or
/// `None` when it carries none or they do not decode (the graph is synced).
fn carried_edit(graph: GraphId, value: &serde_json::Value) -> Option<LiveEdit> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let decode = |key: &str| engine.decode(value.get(key)?.as_str()?).ok();
    Some(LiveEdit {
        graph,
        update: decode("update")?,
        version: decode("version")?,
    })
}

/// `{"document":"<id>","kind":"agent"}`, or `None` for anything else.
fn document_change(value: &serde_json::Value) -> Option<LiveChange> {
    let id = value.get("document")?.as_str()?.parse().ok()?;
    let kind = DocumentKind::parse(value.get("kind")?.as_str()?).ok()?;
    Some(LiveChange::Document { kind, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carried_edit_is_read_and_a_broken_one_falls_back_to_the_id() {
        let graph = GraphId::new();
        let message =
            serde_json::json!({ "graph": graph.to_string(), "update": "b3Bz", "version": "dnY=" });
        assert_eq!(
            carried_edit(graph, &message),
            Some(LiveEdit {
                graph,
                update: b"ops".to_vec(),
                version: b"vv".to_vec()
            })
        );
        for broken in [
            serde_json::json!({ "graph": graph.to_string() }),
            serde_json::json!({ "graph": graph.to_string(), "update": "%%%", "version": "dnY=" }),
            serde_json::json!({ "graph": graph.to_string(), "update": "b3Bz" }),
            serde_json::json!({ "graph": graph.to_string(), "update": 7, "version": "dnY=" }),
        ] {
            assert_eq!(carried_edit(graph, &broken), None, "{broken}");
        }
    }

    #[test]
    fn document_messages_are_read_and_others_ignored() {
        let id = DocumentId::new();
        let message = serde_json::json!({ "document": id.to_string(), "kind": "prompt" });
        assert_eq!(
            document_change(&message),
            Some(LiveChange::Document {
                kind: DocumentKind::Prompt,
                id
            })
        );
        for other in [
            serde_json::json!({ "document": id.to_string(), "kind": "spaceship" }),
            serde_json::json!({ "document": "nope", "kind": "agent" }),
            serde_json::json!({ "document": id.to_string() }),
            serde_json::json!({ "weather": "sunny" }),
        ] {
            assert_eq!(document_change(&other), None, "{other}");
        }
    }
}
