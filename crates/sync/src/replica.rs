//! The local replica: every edit goes to the CRDT document and the local store
//! first, with no network involved.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orrery_domain::{
    Agent, ChatMessage, ChatRole, DocumentId, DocumentKind, Edge, Graph, GraphEdit, GraphId,
    LibraryItem, MessageId, Node, NodeId, Position, Prompt, PromptVersion, PromptVersionId,
    Session,
};
use orrery_store::{DocumentWrite, GraphSummary, LibrarySummary, LocalStore};
use tokio::sync::Mutex;

use crate::SyncError;
use crate::document::{GraphDocument, GraphVersion, Merge, Version};
use crate::library::LibraryDocument;

/// A graph held open: its document and what the server had acknowledged.
struct OpenGraph {
    document: GraphDocument,
    server_version: Version,
    /// When an edit carried by the live feed last left an automatic point.
    last_live_point: Option<std::time::Instant>,
    /// Updates the store holds after the document's snapshot (a save of
    /// the whole graph writes a new snapshot and clears them).
    appended: AtomicUsize,
}

/// Updates appended after a graph's stored snapshot before the next small
/// edit writes a new snapshot instead (loading replays them).
const MAX_APPENDED: usize = 64;

/// Edits from others that arrive one by one on the live feed leave at most
/// one automatic point in the history per graph in this long.
const LIVE_POINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

type SharedGraph = Arc<Mutex<OpenGraph>>;

/// Automatic history points kept per graph.
const KEPT_POINTS: u32 = 200;

/// How an automatic point's id starts (then its time).
const POINT_PREFIX: &str = "sync:";

/// An agent, prompt or session held open: its document and what the server
/// had acknowledged.
struct OpenDocument {
    document: LibraryDocument,
    server_version: Version,
}

type SharedDocument = Arc<Mutex<OpenDocument>>;

/// The graphs and library (agents, prompts, sessions) of one installation,
/// backed by its local store.
#[derive(Clone)]
pub struct Replica {
    store: LocalStore,
    open: Arc<Mutex<HashMap<GraphId, SharedGraph>>>,
    documents: Arc<Mutex<HashMap<(DocumentKind, DocumentId), SharedDocument>>>,
}

impl Replica {
    /// A replica over `store`.
    pub fn new(store: LocalStore) -> Self {
        Self {
            store,
            open: Arc::default(),
            documents: Arc::default(),
        }
    }

    /// The local store underneath.
    pub fn store(&self) -> &LocalStore {
        &self.store
    }

    /// Every graph in the library.
    pub async fn list_graphs(&self) -> Result<Vec<GraphSummary>, SyncError> {
        Ok(self.store.list_graphs().await?)
    }

    /// Creates an empty graph named `name`.
    pub async fn create_graph(&self, name: &str) -> Result<Graph, SyncError> {
        let graph = Graph::new(name.trim());
        self.add_graph(graph).await
    }

    /// Adds a whole graph (a sample, an import) as a new document.
    ///
    /// The document is stored, not kept open: it opens from its snapshot on
    /// the graph's first edit or sync. Until then the graph is read from its
    /// stored rows, so showing a big graph costs no document in memory
    /// (100k nodes and 200k edges: ~75 MB).
    pub async fn add_graph(&self, graph: Graph) -> Result<Graph, SyncError> {
        let (snapshot, pending) = {
            let document = GraphDocument::create(&graph)?;
            let pending = document
                .version()
                .operations_missing_from(&Version::default());
            (document.snapshot(), pending)
        };
        self.store
            .save_graph(&graph, &snapshot, None, pending, None)
            .await?;
        self.open.lock().await.remove(&graph.id);
        Ok(graph)
    }

    /// A graph as it stands now: from its open document, or else from the
    /// rows stored with every change, without opening the document.
    pub async fn graph(&self, id: GraphId) -> Result<Graph, SyncError> {
        let shared = self.open.lock().await.get(&id).cloned();
        match shared {
            Some(shared) => shared.lock().await.document.to_graph(),
            None => self
                .store
                .load_graph(id)
                .await?
                .ok_or(SyncError::NoSuchGraph(id)),
        }
    }

    /// One node of a graph as it is now (`None`: the graph has no such
    /// node), read without reading the whole graph.
    pub async fn node(&self, id: GraphId, node: NodeId) -> Result<Option<Node>, SyncError> {
        let shared = self.open_graph(id).await?;
        let open = shared.lock().await;
        Ok(open.document.nodes_now(&[node])?.pop())
    }

    /// Deleted graphs that can still be restored, most recently deleted first.
    pub async fn list_deleted_graphs(&self) -> Result<Vec<GraphSummary>, SyncError> {
        Ok(self.store.list_deleted_graphs().await?)
    }

    /// Every graph's id, deleted ones too (their deletion has to reach the server).
    pub async fn graphs_to_sync(&self) -> Result<Vec<GraphId>, SyncError> {
        Ok(self.store.graphs_to_sync().await?)
    }

    /// Forgets graphs deleted before `before` (RFC 3339) whose deletion the
    /// server has. Returns how many went.
    pub async fn purge_deleted_graphs(&self, before: &str) -> Result<u64, SyncError> {
        let purged = self.store.purge_deleted_graphs(before).await?;
        Ok(purged)
    }

    /// Deletes a graph: a tombstone in its document, so the deletion syncs and
    /// [`Replica::restore_graph`] can take it back.
    pub async fn delete_graph(&self, id: GraphId, at: &str) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.delete(at)).await
    }

    /// Brings a deleted graph back, on every device once they sync.
    pub async fn restore_graph(&self, id: GraphId) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.restore()).await
    }

    /// Renames a graph.
    pub async fn rename_graph(&self, id: GraphId, name: &str) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.rename(name.trim())).await
    }

    /// Adds a node to a graph.
    pub async fn add_node(&self, id: GraphId, node: &Node) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.add_node(node)).await
    }

    /// Applies one edit of the canvas's command stack.
    pub async fn apply_edit(&self, id: GraphId, edit: &GraphEdit) -> Result<Graph, SyncError> {
        let change = |document: &GraphDocument| document.apply_edit(edit);
        match edit {
            // A drag's end or a rename: only those nodes' rows are written.
            GraphEdit::MoveNodes(moves) => {
                let touched: Vec<NodeId> = moves.iter().map(|moved| moved.id).collect();
                self.edit_fields(id, &touched, change).await
            }
            GraphEdit::RelabelNode { id: node, .. } => self.edit_fields(id, &[*node], change).await,
            _ => self.edit(id, change).await,
        }
    }

    /// Moves a node.
    pub async fn move_node(
        &self,
        id: GraphId,
        node: NodeId,
        position: Position,
    ) -> Result<Graph, SyncError> {
        self.edit_fields(id, &[node], |document| document.move_node(node, position))
            .await
    }

    /// Changes a node's label.
    pub async fn relabel_node(
        &self,
        id: GraphId,
        node: NodeId,
        label: &str,
    ) -> Result<Graph, SyncError> {
        self.edit_fields(id, &[node], |document| document.relabel_node(node, label))
            .await
    }

    /// Removes a node and its edges.
    pub async fn remove_node(&self, id: GraphId, node: NodeId) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.remove_node(node)).await
    }

    /// Connects two nodes.
    pub async fn add_edge(&self, id: GraphId, edge: &Edge) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.add_edge(edge)).await
    }

    /// What to send the server for `id`: this replica's version and the updates
    /// the server has not acknowledged. A graph unknown here yields an empty
    /// request, which pulls it.
    pub(crate) async fn outgoing(&self, id: GraphId) -> Result<(Version, Vec<u8>), SyncError> {
        let shared = self.open_or_empty(id).await?;
        let open = shared.lock().await;
        Ok((
            open.document.version(),
            open.document.updates_since(&open.server_version),
        ))
    }

    /// Takes in what the server answered: its updates and its version.
    /// Answers whether edits made elsewhere came into a graph this replica
    /// already had.
    pub(crate) async fn incoming(
        &self,
        id: GraphId,
        server_version: Version,
        updates: &[u8],
    ) -> Result<bool, SyncError> {
        let shared = self.open_or_empty(id).await?;
        let mut open = shared.lock().await;
        self.take_in(id, &mut open, server_version, updates).await
    }

    /// Takes in an edit the server's live feed carried: the updates one
    /// merge added and the server's version after it. Answers `None` when
    /// this replica cannot take it in alone (it does not hold the graph, or
    /// lacks changes the edit builds on or the server had): sync the graph
    /// then. Otherwise answers whether edits made elsewhere came in.
    pub(crate) async fn incoming_edit(
        &self,
        id: GraphId,
        server_version: &Version,
        updates: &[u8],
    ) -> Result<Option<bool>, SyncError> {
        let shared = match self.open_graph(id).await {
            Ok(shared) => shared,
            Err(SyncError::NoSuchGraph(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut guard = shared.lock().await;
        let open = &mut *guard;
        // Feed messages may come after a sync's answer that was newer: the
        // server keeps everything it acknowledged, so the versions add up.
        let acknowledged = open.server_version.merged(server_version);
        // Merged in place, checked by what it touched (a move reads one
        // node, not the graph).
        let document = std::mem::replace(&mut open.document, GraphDocument::empty(id));
        let (document, merge) = match document.merge_checked(updates) {
            Ok(merged) => merged,
            Err(error) => {
                // The document may hold what was refused: read it again as
                // stored. What the feed carried builds on changes missed
                // here, or does not read: the sync answers with the truth.
                let stored = self.store.load_document(id).await?;
                open.document = match stored {
                    Some(stored) => {
                        GraphDocument::from_stored(id, &stored.document, &stored.updates)?
                    }
                    None => GraphDocument::empty(id),
                };
                tracing::debug!(%id, %error, "a live edit was not taken in; syncing");
                return Ok(None);
            }
        };
        open.document = document;
        let server_moved = acknowledged != open.server_version;
        open.server_version = acknowledged;
        let arrived = match merge {
            Merge::Unchanged => {
                if server_moved {
                    let pending = open
                        .document
                        .version()
                        .operations_missing_from(&open.server_version);
                    self.store
                        .save_server_version(id, &open.server_version.encode(), pending)
                        .await?;
                }
                false
            }
            Merge::Fields { name, nodes } => {
                let acknowledged = open.server_version.encode();
                if !self
                    .save_fields(id, open, &name, &nodes, updates, Some(&acknowledged))
                    .await?
                {
                    self.persist(open, true).await?;
                }
                true
            }
            Merge::Structure(graph) => {
                self.persist_graph(open, &graph, true).await?;
                true
            }
        };
        // Edits from others: an automatic point in the history, at most one
        // a minute from the feed's stream of small edits.
        if arrived
            && open
                .last_live_point
                .is_none_or(|at| at.elapsed() >= LIVE_POINT_EVERY)
        {
            self.add_arrival_point(id, open).await?;
            open.last_live_point = Some(std::time::Instant::now());
        }
        let complete = server_version.operations_missing_from(&open.document.version()) == 0;
        Ok(complete.then_some(arrived))
    }

    /// Marks the graph's history where edits made elsewhere arrived.
    async fn add_arrival_point(&self, id: GraphId, open: &OpenGraph) -> Result<(), SyncError> {
        self.store
            .add_graph_point(
                id,
                &orrery_store::now_text(),
                &open.document.frontiers(),
                KEPT_POINTS,
            )
            .await?;
        Ok(())
    }

    async fn take_in(
        &self,
        id: GraphId,
        open: &mut OpenGraph,
        server_version: Version,
        updates: &[u8],
    ) -> Result<bool, SyncError> {
        let before = open.document.version();
        let merged = match open.document.merge_and_read(updates) {
            Ok(merged) => merged,
            Err(error) => {
                if before == Version::default() {
                    // A graph that was only being fetched: keep nothing of it.
                    self.open.lock().await.remove(&id);
                }
                return Err(error);
            }
        };
        if open.document.version() == before && open.server_version == server_version {
            return Ok(false); // Nothing new either way: leave the store untouched.
        }
        if open.document.version() == before && before != Version::default() {
            // Only the server's acknowledgement moved (the answer to this
            // replica's own push): the graph as stored stands.
            open.server_version = server_version;
            let pending = before.operations_missing_from(&open.server_version);
            self.store
                .save_server_version(id, &open.server_version.encode(), pending)
                .await?;
            return Ok(false);
        }
        // Edits made elsewhere came in: an automatic point in the history.
        let arrived = before != Version::default() && open.document.version() != before;
        if arrived {
            self.add_arrival_point(id, open).await?;
        }
        open.server_version = server_version;
        match merged {
            // Into an empty document the received bytes are the whole
            // document: store them as they are instead of exporting it again.
            Some(graph) if before == Version::default() => {
                self.save(open, &graph, updates, true).await?
            }
            Some(graph) => self.persist_graph(open, &graph, true).await?,
            None => self.persist(open, true).await?,
        }
        Ok(arrived)
    }

    /// Names the graph's state now as a version, by `by`; it syncs.
    pub async fn save_version(
        &self,
        id: GraphId,
        name: &str,
        by: &str,
    ) -> Result<GraphVersion, SyncError> {
        let mut saved = None;
        self.edit(id, |document| {
            saved = Some(document.save_version(name, by, &orrery_store::now_text())?);
            Ok(())
        })
        .await?;
        Ok(saved.expect("a saved version is returned"))
    }

    /// A graph's history, newest first: its named versions (which sync) and
    /// the automatic points where a sync brought in edits made elsewhere.
    pub async fn versions(&self, id: GraphId) -> Result<Vec<GraphVersion>, SyncError> {
        let shared = self.open_graph(id).await?;
        let mut versions = shared.lock().await.document.named_versions();
        for (at, frontiers) in self.store.graph_points(id).await? {
            versions.push(GraphVersion {
                id: format!("{POINT_PREFIX}{at}"),
                name: "Edits from elsewhere arrived".into(),
                by: String::new(),
                named: false,
                at,
                frontiers,
            });
        }
        versions.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        Ok(versions)
    }

    /// The graph as it was at version `version` (an id from
    /// [`Replica::versions`]); `None` reads it as it is now.
    pub async fn graph_at_version(
        &self,
        id: GraphId,
        version: Option<&str>,
    ) -> Result<Graph, SyncError> {
        let Some(version) = version else {
            return self.graph(id).await;
        };
        let point = match version.strip_prefix(POINT_PREFIX) {
            Some(at) => self
                .store
                .graph_points(id)
                .await?
                .into_iter()
                .find(|(when, _)| when == at)
                .map(|(_, frontiers)| frontiers),
            None => None,
        };
        let shared = self.open_graph(id).await?;
        let open = shared.lock().await;
        let frontiers = match point {
            Some(frontiers) => frontiers,
            None => open
                .document
                .named_versions()
                .into_iter()
                .find(|each| each.id == version)
                .map(|each| each.frontiers)
                .ok_or_else(|| {
                    SyncError::InvalidUpdate(format!("graph {id} has no version `{version}`"))
                })?,
        };
        open.document.graph_at(&frontiers)
    }

    /// What changed from version `from` to version `to` (`None`: now).
    pub async fn diff_versions(
        &self,
        id: GraphId,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<orrery_domain::GraphDiff, SyncError> {
        let before = self.graph_at_version(id, from).await?;
        let after = self.graph_at_version(id, to).await?;
        Ok(orrery_domain::diff_graphs(&before, &after))
    }

    /// The edit that brings the graph back to version `version`, made as a
    /// new edit (everyone receives it; its inverse undoes it); `None` when
    /// the graph is already as it was then. The caller applies it through
    /// its edit history (see `orrery_domain::EditHistory`).
    pub async fn restore_edit(
        &self,
        id: GraphId,
        version: &str,
    ) -> Result<Option<GraphEdit>, SyncError> {
        let target = self.graph_at_version(id, Some(version)).await?;
        let current = self.graph(id).await?;
        Ok(orrery_domain::restore_edit(&current, &target))
    }

    /// Takes in a graph's whole document (a snapshot, at `version`) as the
    /// server holds it, as a sync would: for a replica that works on a copy
    /// of the server's documents, such as a graph run on the server.
    pub async fn receive_graph(
        &self,
        id: GraphId,
        version: Version,
        snapshot: &[u8],
    ) -> Result<(), SyncError> {
        self.incoming(id, version, snapshot).await.map(|_| ())
    }

    /// Takes in a library document's snapshot as the server holds it (see
    /// [`Replica::receive_graph`]).
    pub async fn receive_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
        snapshot: &[u8],
    ) -> Result<(), SyncError> {
        let version = LibraryDocument::from_snapshot(kind, id, snapshot)?.version();
        self.incoming_document(kind, id, version, snapshot).await
    }

    /// What this replica changed in a library document since the server's
    /// version it last took in: `(version before the changes, updates)`,
    /// the request a sync would send.
    pub async fn document_changes(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(Version, Vec<u8>), SyncError> {
        let shared = self.load_document(kind, id, true).await?;
        let open = shared.lock().await;
        Ok((
            open.server_version.clone(),
            open.document.updates_since(&open.server_version),
        ))
    }

    /// Forgets what the server had acknowledged for `id`, so the next sync
    /// sends the whole history (after the server lost it, say).
    pub(crate) async fn forget_server_version(&self, id: GraphId) -> Result<(), SyncError> {
        let shared = self.open_graph(id).await?;
        let mut open = shared.lock().await;
        open.server_version = Version::default();
        Ok(())
    }

    async fn edit(
        &self,
        id: GraphId,
        change: impl FnOnce(&GraphDocument) -> Result<(), SyncError>,
    ) -> Result<Graph, SyncError> {
        let shared = self.open_graph(id).await?;
        let open = shared.lock().await;
        change(&open.document)?;
        let graph = open.document.to_graph()?;
        self.persist_graph(&open, &graph, false).await?;
        Ok(graph)
    }

    /// [`Replica::edit`] for a change to fields of the `touched` nodes (a
    /// move, a relabel): what it added is appended after the stored
    /// document and only those nodes' rows are written.
    async fn edit_fields(
        &self,
        id: GraphId,
        touched: &[NodeId],
        change: impl FnOnce(&GraphDocument) -> Result<(), SyncError>,
    ) -> Result<Graph, SyncError> {
        let shared = self.open_graph(id).await?;
        let open = shared.lock().await;
        let before = open.document.version();
        change(&open.document)?;
        let graph = open.document.to_graph()?;
        let nodes: Vec<Node> = touched
            .iter()
            .filter_map(|node| graph.nodes.get(node).cloned())
            .collect();
        let added = open.document.updates_since(&before);
        if added.is_empty() {
            return Ok(graph); // It changed nothing (a move to where it was).
        }
        if !self
            .save_fields(id, &open, &graph.name, &nodes, &added, None)
            .await?
        {
            self.persist_graph(&open, &graph, false).await?;
        }
        Ok(graph)
    }

    /// Stores a change to fields of `nodes`: `added` (what it added to the
    /// document) appended after the stored snapshot — or, after
    /// [`MAX_APPENDED`] such, a new snapshot — and those nodes' rows
    /// written. `false` when the store could not (save the graph whole).
    async fn save_fields(
        &self,
        id: GraphId,
        open: &OpenGraph,
        name: &str,
        nodes: &[Node],
        added: &[u8],
        server_version: Option<&[u8]>,
    ) -> Result<bool, SyncError> {
        let snapshot;
        let write = if open.appended.load(Ordering::Relaxed) < MAX_APPENDED {
            DocumentWrite::Append(added)
        } else {
            snapshot = open.document.snapshot();
            DocumentWrite::Snapshot(&snapshot)
        };
        let pending = open
            .document
            .version()
            .operations_missing_from(&open.server_version);
        let saved = self
            .store
            .save_graph_fields(
                id,
                name,
                nodes,
                write,
                server_version,
                pending,
                open.document.deleted_at().as_deref(),
            )
            .await?;
        if saved {
            match write {
                DocumentWrite::Append(_) => open.appended.fetch_add(1, Ordering::Relaxed),
                DocumentWrite::Snapshot(_) => open.appended.swap(0, Ordering::Relaxed),
            };
        }
        Ok(saved)
    }

    async fn persist(&self, open: &OpenGraph, with_server_version: bool) -> Result<(), SyncError> {
        let graph = open.document.to_graph()?;
        self.persist_graph(open, &graph, with_server_version).await
    }

    async fn persist_graph(
        &self,
        open: &OpenGraph,
        graph: &Graph,
        with_server_version: bool,
    ) -> Result<(), SyncError> {
        self.save(open, graph, &open.document.snapshot(), with_server_version)
            .await
    }

    /// Stores `graph` as rows and `document` (bytes that load as the open
    /// document) beside them.
    async fn save(
        &self,
        open: &OpenGraph,
        graph: &Graph,
        document: &[u8],
        with_server_version: bool,
    ) -> Result<(), SyncError> {
        let pending = open
            .document
            .version()
            .operations_missing_from(&open.server_version);
        let server_version = with_server_version.then(|| open.server_version.encode());
        self.store
            .save_graph(
                graph,
                document,
                server_version.as_deref(),
                pending,
                open.document.deleted_at().as_deref(),
            )
            .await?;
        open.appended.store(0, Ordering::Relaxed);
        Ok(())
    }

    async fn open_graph(&self, id: GraphId) -> Result<SharedGraph, SyncError> {
        self.load(id, false).await
    }

    async fn open_or_empty(&self, id: GraphId) -> Result<SharedGraph, SyncError> {
        self.load(id, true).await
    }

    async fn load(&self, id: GraphId, allow_new: bool) -> Result<SharedGraph, SyncError> {
        let mut open = self.open.lock().await;
        if let Some(shared) = open.get(&id) {
            return Ok(shared.clone());
        }
        let graph = match self.store.load_document(id).await? {
            Some(stored) => OpenGraph {
                document: GraphDocument::from_stored(id, &stored.document, &stored.updates)?,
                server_version: match stored.server_version {
                    Some(bytes) => Version::decode(&bytes)?,
                    None => Version::default(),
                },
                last_live_point: None,
                appended: AtomicUsize::new(stored.updates.len()),
            },
            None if allow_new => OpenGraph {
                document: GraphDocument::empty(id),
                server_version: Version::default(),
                last_live_point: None,
                appended: AtomicUsize::new(0),
            },
            None => return Err(SyncError::NoSuchGraph(id)),
        };
        let shared = Arc::new(Mutex::new(graph));
        open.insert(id, shared.clone());
        Ok(shared)
    }
}

/// The library: agents, prompts and sandbox sessions, each its own document,
/// written to the local store before anything touches the network.
impl Replica {
    /// Every agent, prompt or session (by `kind`), most recently changed first.
    pub async fn list_documents(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<LibrarySummary>, SyncError> {
        Ok(self.store.list_library_documents(kind).await?)
    }

    /// Deletes an agent, prompt or session: it leaves the listings here at
    /// once and on other devices when they sync (a tombstone in its document).
    pub async fn delete_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), SyncError> {
        let at = orrery_store::now_text();
        self.edit_document(kind, id, |document| document.delete(&at))
            .await?;
        Ok(())
    }

    /// Every stored agent, prompt or session of `kind`, deleted ones too:
    /// what a sync exchanges.
    pub async fn documents_to_sync(
        &self,
        kind: DocumentKind,
    ) -> Result<Vec<DocumentId>, SyncError> {
        Ok(self.store.library_document_ids(kind).await?)
    }

    /// Creates `agent`, or changes the stored one to it (only the fields that
    /// differ are written, so edits of other fields on other devices survive).
    pub async fn save_agent(&self, agent: &Agent) -> Result<Agent, SyncError> {
        let item = self
            .create_or_edit(&LibraryItem::Agent(agent.clone()), |document| {
                document.update_agent(agent)
            })
            .await?;
        expect_agent(item)
    }

    /// An agent as it stands now.
    pub async fn agent(&self, id: DocumentId) -> Result<Agent, SyncError> {
        let shared = self.open_document(DocumentKind::Agent, id).await?;
        let open = shared.lock().await;
        open.document.to_agent()
    }

    /// Creates `prompt`, or changes the stored one's fields and versions to
    /// its (versions it lacks are kept).
    pub async fn save_prompt(&self, prompt: &Prompt) -> Result<Prompt, SyncError> {
        let item = self
            .create_or_edit(&LibraryItem::Prompt(prompt.clone()), |document| {
                document.update_prompt(prompt)
            })
            .await?;
        expect_prompt(item)
    }

    /// Adds a draft version holding `content` to a prompt.
    pub async fn add_prompt_version(
        &self,
        prompt: DocumentId,
        content: &str,
    ) -> Result<PromptVersion, SyncError> {
        let version = PromptVersion::draft(content, orrery_store::now_text());
        self.edit_document(DocumentKind::Prompt, prompt, |document| {
            document.add_prompt_version(&version)
        })
        .await?;
        Ok(version)
    }

    /// Makes `version` the prompt's active version (the one active before is
    /// archived). Publishing an older version again is a roll back.
    pub async fn publish_prompt_version(
        &self,
        prompt: DocumentId,
        version: PromptVersionId,
    ) -> Result<Prompt, SyncError> {
        let at = orrery_store::now_text();
        let item = self
            .edit_document(DocumentKind::Prompt, prompt, |document| {
                document.publish_prompt_version(version, &at)
            })
            .await?;
        expect_prompt(item)
    }

    /// A prompt as it stands now.
    pub async fn prompt(&self, id: DocumentId) -> Result<Prompt, SyncError> {
        let shared = self.open_document(DocumentKind::Prompt, id).await?;
        let open = shared.lock().await;
        open.document.to_prompt()
    }

    /// Creates an empty sandbox session titled `title`, over `graph` if given.
    pub async fn create_session(
        &self,
        title: &str,
        graph: Option<GraphId>,
    ) -> Result<Session, SyncError> {
        let session = Session::new(title.trim(), graph);
        let item = self
            .create_or_edit(&LibraryItem::Session(session), |_| Ok(()))
            .await?;
        expect_session(item)
    }

    /// Renames a session or points it at another graph.
    pub async fn update_session(
        &self,
        id: DocumentId,
        title: &str,
        graph: Option<GraphId>,
    ) -> Result<Session, SyncError> {
        let item = self
            .edit_document(DocumentKind::Session, id, |document| {
                document.update_session(title.trim(), graph)
            })
            .await?;
        expect_session(item)
    }

    /// Appends a message, written now, to a session's chat.
    pub async fn append_message(
        &self,
        session: DocumentId,
        role: ChatRole,
        author: &str,
        text: &str,
    ) -> Result<ChatMessage, SyncError> {
        let message = ChatMessage {
            id: MessageId::new(),
            role,
            author: author.to_owned(),
            text: text.to_owned(),
            at: orrery_store::now_text(),
        };
        self.edit_document(DocumentKind::Session, session, |document| {
            document.append_message(&message)
        })
        .await?;
        Ok(message)
    }

    /// A session as it stands now, messages in order.
    pub async fn session(&self, id: DocumentId) -> Result<Session, SyncError> {
        let shared = self.open_document(DocumentKind::Session, id).await?;
        let open = shared.lock().await;
        open.document.to_session()
    }

    /// What to send the server for a library document (see [`Replica::outgoing`]).
    pub(crate) async fn outgoing_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(Version, Vec<u8>), SyncError> {
        let shared = self.load_document(kind, id, true).await?;
        let open = shared.lock().await;
        Ok((
            open.document.version(),
            open.document.updates_since(&open.server_version),
        ))
    }

    /// Takes in what the server answered for a library document.
    pub(crate) async fn incoming_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
        server_version: Version,
        updates: &[u8],
    ) -> Result<(), SyncError> {
        let shared = self.load_document(kind, id, true).await?;
        let mut open = shared.lock().await;
        let before = open.document.version();
        if let Err(error) = open.document.merge(updates) {
            if before == Version::default() {
                // A document that was only being fetched: keep nothing of it.
                self.documents.lock().await.remove(&(kind, id));
            }
            return Err(error);
        }
        if open.document.version() == before && open.server_version == server_version {
            return Ok(());
        }
        if open.document.version() == Version::default() {
            // The server has nothing either: nothing to keep.
            self.documents.lock().await.remove(&(kind, id));
            return Ok(());
        }
        open.server_version = server_version;
        let item = open.document.to_item()?;
        self.persist_document(&open, &item, true).await
    }

    /// Forgets what the server had acknowledged for a library document.
    pub(crate) async fn forget_document_server_version(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<(), SyncError> {
        let shared = self.open_document(kind, id).await?;
        shared.lock().await.server_version = Version::default();
        Ok(())
    }

    /// Creates the document of `item` if the store lacks it, otherwise
    /// applies `change` to the stored one.
    async fn create_or_edit(
        &self,
        item: &LibraryItem,
        change: impl FnOnce(&LibraryDocument) -> Result<(), SyncError>,
    ) -> Result<LibraryItem, SyncError> {
        let (kind, id) = (item.kind(), item.id());
        match self.open_document(kind, id).await {
            Ok(_) => self.edit_document(kind, id, change).await,
            Err(SyncError::NoSuchDocument(..)) => {
                let open = OpenDocument {
                    document: LibraryDocument::create(item)?,
                    server_version: Version::default(),
                };
                let created = open.document.to_item()?;
                let mut documents = self.documents.lock().await;
                if documents
                    .get(&(kind, id))
                    .is_some_and(|shared| !is_empty(shared))
                {
                    // Created meanwhile by another call: edit that one instead.
                    drop(documents);
                    return self.edit_document(kind, id, change).await;
                }
                self.persist_document(&open, &created, false).await?;
                documents.insert((kind, id), Arc::new(Mutex::new(open)));
                Ok(created)
            }
            Err(error) => Err(error),
        }
    }

    async fn edit_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
        change: impl FnOnce(&LibraryDocument) -> Result<(), SyncError>,
    ) -> Result<LibraryItem, SyncError> {
        let shared = self.open_document(kind, id).await?;
        let open = shared.lock().await;
        let before = open.document.version();
        change(&open.document)?;
        let item = open.document.to_item()?;
        if open.document.version() != before {
            self.persist_document(&open, &item, false).await?;
        }
        Ok(item)
    }

    async fn persist_document(
        &self,
        open: &OpenDocument,
        item: &LibraryItem,
        with_server_version: bool,
    ) -> Result<(), SyncError> {
        let pending = open
            .document
            .version()
            .operations_missing_from(&open.server_version);
        let server_version = with_server_version.then(|| open.server_version.encode());
        self.store
            .save_library_document(
                item,
                &open.document.snapshot(),
                server_version.as_deref(),
                pending,
                open.document.deleted_at().as_deref(),
            )
            .await?;
        Ok(())
    }

    async fn open_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
    ) -> Result<SharedDocument, SyncError> {
        self.load_document(kind, id, false).await
    }

    async fn load_document(
        &self,
        kind: DocumentKind,
        id: DocumentId,
        allow_new: bool,
    ) -> Result<SharedDocument, SyncError> {
        let mut documents = self.documents.lock().await;
        if let Some(shared) = documents.get(&(kind, id)) {
            // An empty document is one being fetched: not in the library yet.
            if allow_new || !is_empty(shared) {
                return Ok(shared.clone());
            }
            return Err(SyncError::NoSuchDocument(kind, id));
        }
        let open = match self.store.load_library_document(kind, id).await? {
            Some(stored) => OpenDocument {
                document: LibraryDocument::from_snapshot(kind, id, &stored.document)?,
                server_version: match stored.server_version {
                    Some(bytes) => Version::decode(&bytes)?,
                    None => Version::default(),
                },
            },
            None if allow_new => OpenDocument {
                document: LibraryDocument::empty(kind, id),
                server_version: Version::default(),
            },
            None => return Err(SyncError::NoSuchDocument(kind, id)),
        };
        let shared = Arc::new(Mutex::new(open));
        documents.insert((kind, id), shared.clone());
        Ok(shared)
    }
}

/// Whether an open document holds nothing yet (it is being fetched). One in
/// use right now is not empty; nothing waits here, so the lock order (map,
/// then document) can never deadlock with `incoming_document` (document, then map).
fn is_empty(shared: &SharedDocument) -> bool {
    shared
        .try_lock()
        .is_ok_and(|open| open.document.version() == Version::default())
}

fn expect_agent(item: LibraryItem) -> Result<Agent, SyncError> {
    match item {
        LibraryItem::Agent(agent) => Ok(agent),
        other => Err(SyncError::InvalidDocument(format!(
            "expected an agent, found a {}",
            other.kind()
        ))),
    }
}

fn expect_prompt(item: LibraryItem) -> Result<Prompt, SyncError> {
    match item {
        LibraryItem::Prompt(prompt) => Ok(prompt),
        other => Err(SyncError::InvalidDocument(format!(
            "expected a prompt, found a {}",
            other.kind()
        ))),
    }
}

fn expect_session(item: LibraryItem) -> Result<Session, SyncError> {
    match item {
        LibraryItem::Session(session) => Ok(session),
        other => Err(SyncError::InvalidDocument(format!(
            "expected a session, found a {}",
            other.kind()
        ))),
    }
}
