//! The local replica: every edit goes to the CRDT document and the local store
//! first, with no network involved.

use std::collections::HashMap;
use std::sync::Arc;

use orrery_domain::{Edge, Graph, GraphEdit, GraphId, Node, NodeId, Position};
use orrery_store::{GraphSummary, LocalStore};
use tokio::sync::Mutex;

use crate::SyncError;
use crate::document::{GraphDocument, Version};

/// A graph held open: its document and what the server had acknowledged.
struct OpenGraph {
    document: GraphDocument,
    server_version: Version,
}

type SharedGraph = Arc<Mutex<OpenGraph>>;

/// The graphs of one installation, backed by its local store.
#[derive(Clone)]
pub struct Replica {
    store: LocalStore,
    open: Arc<Mutex<HashMap<GraphId, SharedGraph>>>,
}

impl Replica {
    /// A replica over `store`.
    pub fn new(store: LocalStore) -> Self {
        Self {
            store,
            open: Arc::default(),
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
    pub async fn add_graph(&self, graph: Graph) -> Result<Graph, SyncError> {
        let document = GraphDocument::create(&graph)?;
        let open = OpenGraph {
            document,
            server_version: Version::default(),
        };
        self.persist(&open, false).await?;
        self.open
            .lock()
            .await
            .insert(graph.id, Arc::new(Mutex::new(open)));
        Ok(graph)
    }

    /// A graph as it stands now.
    pub async fn graph(&self, id: GraphId) -> Result<Graph, SyncError> {
        let shared = self.open_graph(id).await?;
        let open = shared.lock().await;
        open.document.to_graph()
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
        self.edit(id, |document| document.apply_edit(edit)).await
    }

    /// Moves a node.
    pub async fn move_node(
        &self,
        id: GraphId,
        node: NodeId,
        position: Position,
    ) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.move_node(node, position))
            .await
    }

    /// Changes a node's label.
    pub async fn relabel_node(
        &self,
        id: GraphId,
        node: NodeId,
        label: &str,
    ) -> Result<Graph, SyncError> {
        self.edit(id, |document| document.relabel_node(node, label))
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
    pub(crate) async fn incoming(
        &self,
        id: GraphId,
        server_version: Version,
        updates: &[u8],
    ) -> Result<(), SyncError> {
        let shared = self.open_or_empty(id).await?;
        let mut open = shared.lock().await;
        let before = open.document.version();
        if let Err(error) = open.document.merge(updates) {
            if before == Version::default() {
                // A graph that was only being fetched: keep nothing of it.
                self.open.lock().await.remove(&id);
            }
            return Err(error);
        }
        if open.document.version() == before && open.server_version == server_version {
            return Ok(()); // Nothing new either way: leave the store untouched.
        }
        open.server_version = server_version;
        self.persist(&open, true).await
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
        let pending = open
            .document
            .version()
            .operations_missing_from(&open.server_version);
        let server_version = with_server_version.then(|| open.server_version.encode());
        self.store
            .save_graph(
                graph,
                &open.document.snapshot(),
                server_version.as_deref(),
                pending,
            )
            .await?;
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
                document: GraphDocument::from_snapshot(id, &stored.document)?,
                server_version: match stored.server_version {
                    Some(bytes) => Version::decode(&bytes)?,
                    None => Version::default(),
                },
            },
            None if allow_new => OpenGraph {
                document: GraphDocument::empty(id),
                server_version: Version::default(),
            },
            None => return Err(SyncError::NoSuchGraph(id)),
        };
        let shared = Arc::new(Mutex::new(graph));
        open.insert(id, shared.clone());
        Ok(shared)
    }
}
