//! A graph as a Loro CRDT document.
//!
//! Layout: root map `meta` { name, deleted_at? }, root map `nodes` { node id → map { kind,
//! label, x, y, z } }, root map `edges` { edge id → map { from, from_port, to,
//! to_port } }. Every field is last-writer-wins on its own, so a move on one
//! device and a rename on another both survive a merge. An edge whose node was
//! deleted concurrently stays in the document but is not part of the graph.
//!
//! History: the document keeps every operation, so any earlier state can be
//! read back ([`GraphDocument::graph_at`]). Named versions ("Save
//! version…") live in root map `versions` { version id → map { name, at,
//! by, frontiers } } and sync like everything else, so everyone sees them.

use std::sync::{Arc, Mutex};

use loro::{
    Container, ContainerID, ContainerTrait, ExportMode, Index, LoroDoc, LoroMap, LoroValue,
    ValueOrContainer, VersionVector,
};
use orrery_domain::{
    Edge, EdgeId, Graph, GraphEdit, GraphError, GraphId, Node, NodeId, NodeKind, Position,
    check_graph_name,
};

use crate::SyncError;
use crate::guard::{guarded, guarded_import};

const META: &str = "meta";
const NODES: &str = "nodes";
const EDGES: &str = "edges";
/// The tombstone field in `meta` of a deleted graph.
const DELETED_AT: &str = "deleted_at";
const VERSIONS: &str = "versions";

/// Named versions one graph may keep.
pub const MAX_NAMED_VERSIONS: usize = 500;

/// A point in a graph's history: named by someone, or where a sync brought
/// in another person's edits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphVersion {
    /// Its id (a named version's), or `sync:<at>` for an automatic point.
    pub id: String,
    /// What it is called ("Before the review"), or how it came.
    pub name: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Who named it (their name), or who the edits came from, when known.
    pub by: String,
    /// Whether someone named it (otherwise a sync made it).
    pub named: bool,
    /// Where in the history it is (Loro frontiers, encoded).
    #[serde(skip)]
    pub frontiers: Vec<u8>,
}

/// A version vector: how many operations of each peer a replica has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version(VersionVector);

impl Version {
    /// The version as bytes for the wire or the store.
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }

    /// Reads a version; empty bytes mean "nothing seen yet".
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        guarded(|| VersionVector::decode(bytes))
            .ok()
            .and_then(Result::ok)
            .map(Self)
            .ok_or_else(|| SyncError::InvalidUpdate("malformed version vector".into()))
    }

    /// Everything `self` or `other` has seen.
    pub fn merged(&self, other: &Version) -> Version {
        let mut both = self.0.clone();
        both.merge(&other.0);
        Self(both)
    }

    /// How many operations `self` holds that `other` has not seen.
    pub fn operations_missing_from(&self, other: &Version) -> u64 {
        self.0
            .iter()
            .map(|(peer, &counter)| {
                let seen = other.0.get(peer).copied().unwrap_or(0);
                u64::try_from(counter.saturating_sub(seen)).unwrap_or(0)
            })
            .sum()
    }
}

/// What [`GraphDocument::merge_checked`] changed.
#[derive(Debug)]
pub enum Merge {
    /// The document had every update already.
    Unchanged,
    /// Only fields of nodes already in the graph, or the graph's name,
    /// changed: the node and edge counts stand.
    Fields {
        /// The graph's name after the merge.
        name: String,
        /// The nodes whose fields changed, as they are after it (checked).
        nodes: Vec<Node>,
    },
    /// Nodes or edges came or went: the whole graph, checked.
    Structure(Graph),
}

/// The containers an import changed, sorted by how much of the graph must be
/// checked again.
#[derive(Default)]
struct Touched {
    /// Keys of node maps whose fields changed.
    nodes: std::collections::BTreeSet<String>,
    /// Anything else changed: the node or edge maps themselves, edges, or a
    /// container the layout does not have.
    structure: bool,
}

impl Touched {
    fn note(
        &mut self,
        target: &ContainerID,
        path: &[(ContainerID, Index)],
        nodes_root: &ContainerID,
        meta_root: &ContainerID,
    ) {
        if target == meta_root {
            return;
        }
        match path {
            [(root, _), (child, Index::Key(key))] if root == nodes_root && child == target => {
                self.nodes.insert(key.to_string());
            }
            _ => self.structure = true,
        }
    }
}

/// One graph's CRDT document.
pub struct GraphDocument {
    id: GraphId,
    doc: LoroDoc,
}

impl std::fmt::Debug for GraphDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDocument")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn crdt_error(error: impl std::fmt::Display) -> SyncError {
    SyncError::InvalidDocument(error.to_string())
}

impl GraphDocument {
    /// An empty document for `id`, to be filled by merging updates.
    pub fn empty(id: GraphId) -> Self {
        Self {
            id,
            doc: LoroDoc::new(),
        }
    }

    /// A document holding `graph`, after validating it.
    pub fn create(graph: &Graph) -> Result<Self, SyncError> {
        graph.validate()?;
        let document = Self::empty(graph.id);
        document
            .meta()
            .insert("name", graph.name.as_str())
            .map_err(crdt_error)?;
        for node in graph.nodes.values() {
            document.write_node(node)?;
        }
        for edge in graph.edges.values() {
            document.write_edge(edge)?;
        }
        document.doc.commit();
        Ok(document)
    }

    /// A document from a stored snapshot.
    pub fn from_snapshot(id: GraphId, snapshot: &[u8]) -> Result<Self, SyncError> {
        let mut document = Self::empty(id);
        guarded_import(&mut document.doc, snapshot)?
            .map_err(|error| SyncError::InvalidDocument(error.to_string()))?;
        Ok(document)
    }

    /// A document from a stored snapshot and the updates stored after it,
    /// oldest first.
    pub fn from_stored(
        id: GraphId,
        snapshot: &[u8],
        updates: &[Vec<u8>],
    ) -> Result<Self, SyncError> {
        let mut document = Self::from_snapshot(id, snapshot)?;
        for update in updates {
            let status = guarded_import(&mut document.doc, update)?
                .map_err(|error| SyncError::InvalidDocument(error.to_string()))?;
            if status.pending.is_some() {
                return Err(SyncError::InvalidDocument(
                    "a stored update depends on operations the document lacks".into(),
                ));
            }
        }
        Ok(document)
    }

    /// The graph this document is.
    pub fn id(&self) -> GraphId {
        self.id
    }

    /// The whole document, history included, for storage.
    pub fn snapshot(&self) -> Vec<u8> {
        self.doc
            .export(ExportMode::Snapshot)
            .expect("exporting a snapshot of a live document cannot fail")
    }

    /// The operations this document has seen.
    pub fn version(&self) -> Version {
        Version(self.doc.oplog_vv())
    }

    /// The updates a replica at `version` lacks (empty when it lacks nothing).
    pub fn updates_since(&self, version: &Version) -> Vec<u8> {
        if self.doc.oplog_vv() == version.0
            || version.0.partial_cmp(&self.doc.oplog_vv()) == Some(std::cmp::Ordering::Greater)
        {
            return Vec::new();
        }
        self.doc
            .export(ExportMode::updates(&version.0))
            .expect("exporting updates of a live document cannot fail")
    }

    /// Merges updates from another replica. The updates are tried on a copy
    /// first: if they do not decode, depend on unknown changes, or would leave
    /// a document that is not a valid graph, nothing changes here.
    pub fn merge(&mut self, updates: &[u8]) -> Result<(), SyncError> {
        self.merge_and_read(updates).map(|_| ())
    }

    /// Like [`GraphDocument::merge`], and returns the merged graph (read once,
    /// to check it), or `None` when there was nothing to merge.
    pub fn merge_and_read(&mut self, updates: &[u8]) -> Result<Option<Graph>, SyncError> {
        if updates.is_empty() {
            return Ok(None);
        }
        let mut trial = Self {
            id: self.id,
            doc: self.doc.fork(),
        };
        let status = guarded_import(&mut trial.doc, updates)?
            .map_err(|error| SyncError::InvalidUpdate(error.to_string()))?;
        if status.pending.is_some() {
            return Err(SyncError::MissingDependencies);
        }
        let graph = trial.to_graph()?;
        // The checked copy becomes this replica (under this replica's peer):
        // importing the same bytes again would cost as much as the first time.
        trial
            .doc
            .set_peer_id(self.doc.peer_id())
            .map_err(crdt_error)?;
        self.doc = trial.doc;
        Ok(Some(graph))
    }

    /// Merges updates into this document as it is (no trial copy) and checks
    /// what they changed. On an error the document may hold refused updates,
    /// so it is consumed: the caller loads it again from what it stored.
    ///
    /// Updates that only change fields of nodes already in the graph (moves,
    /// relabels) or its name are checked by what they touch, so a move in a
    /// 10k-node graph costs what the move costs. Updates that add or remove
    /// nodes or edges, or touch anything else, check the whole graph.
    pub fn merge_checked(mut self, updates: &[u8]) -> Result<(Self, Merge), SyncError> {
        if updates.is_empty() {
            return Ok((self, Merge::Unchanged));
        }
        let before = self.version();
        let touched: Arc<Mutex<Touched>> = Arc::default();
        let subscription = {
            let touched = Arc::clone(&touched);
            let nodes_root = self.nodes().id();
            let meta_root = self.meta().id();
            self.doc.subscribe_root(Arc::new(move |event| {
                let mut touched = touched.lock().unwrap_or_else(|poison| poison.into_inner());
                for diff in &event.events {
                    touched.note(diff.target, diff.path, &nodes_root, &meta_root);
                }
            }))
        };
        let imported = guarded_import(&mut self.doc, updates);
        subscription.unsubscribe();
        let status = imported?.map_err(|error| SyncError::InvalidUpdate(error.to_string()))?;
        if status.pending.is_some() {
            return Err(SyncError::MissingDependencies);
        }
        if self.version() == before {
            return Ok((self, Merge::Unchanged));
        }
        let touched = std::mem::take(&mut *touched.lock().unwrap_or_else(|p| p.into_inner()));
        self.checked_deleted_at()?;
        if touched.structure {
            let graph = self.to_graph()?;
            return Ok((self, Merge::Structure(graph)));
        }
        let nodes = self.read_nodes(touched.nodes.iter().map(String::as_str))?;
        let name = self.name()?;
        Ok((self, Merge::Fields { name, nodes }))
    }

    /// The nodes with these keys, as they are now and checked; a key with
    /// no node (deleted) is left out.
    fn read_nodes<'a>(&self, keys: impl Iterator<Item = &'a str>) -> Result<Vec<Node>, SyncError> {
        let root = self.nodes();
        let mut nodes = Vec::new();
        for key in keys {
            let Some(value) = root.get(key) else {
                continue;
            };
            let ValueOrContainer::Container(Container::Map(map)) = value else {
                return Err(SyncError::InvalidDocument(format!(
                    "node {key} is not a map"
                )));
            };
            let node = read_node(key, &map.get_deep_value())?;
            node.validate()?;
            nodes.push(node);
        }
        Ok(nodes)
    }

    /// These nodes as they are now (checked); one deleted is left out.
    pub fn nodes_now(&self, ids: &[NodeId]) -> Result<Vec<Node>, SyncError> {
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read_nodes(keys.iter().map(String::as_str))
    }

    /// The graph's name, checked.
    pub fn name(&self) -> Result<String, SyncError> {
        let name = string_field(
            self.meta()
                .get_deep_value()
                .as_map()
                .and_then(|meta| meta.get("name")),
            "graph name",
        )?;
        check_graph_name(&name)?;
        Ok(name)
    }

    /// The graph as plain values, checked against the graph model.
    pub fn to_graph(&self) -> Result<Graph, SyncError> {
        let LoroValue::Map(root) = self.doc.get_deep_value() else {
            return Err(SyncError::InvalidDocument(
                "document root is not a map".into(),
            ));
        };
        let name = match root.get(META) {
            Some(LoroValue::Map(meta)) => string_field(meta.get("name"), "graph name")?,
            _ => {
                return Err(SyncError::InvalidDocument(
                    "document has no graph name".into(),
                ));
            }
        };
        let mut graph = Graph::with_id(self.id, name);
        if let Some(nodes) = root.get(NODES) {
            let LoroValue::Map(nodes) = nodes else {
                return Err(SyncError::InvalidDocument("`nodes` is not a map".into()));
            };
            for (key, value) in nodes.iter() {
                let node = read_node(key, value)?;
                graph.nodes.insert(node.id, node);
            }
        }
        if let Some(edges) = root.get(EDGES) {
            let LoroValue::Map(edges) = edges else {
                return Err(SyncError::InvalidDocument("`edges` is not a map".into()));
            };
            for (key, value) in edges.iter() {
                let edge = read_edge(key, value)?;
                // An edge to a node deleted on another device is not part of the graph.
                if graph.nodes.contains_key(&edge.from) && graph.nodes.contains_key(&edge.to) {
                    graph.edges.insert(edge.id, edge);
                }
            }
        }
        graph.validate()?;
        Ok(graph)
    }

    /// Marks the graph deleted at `at` (RFC 3339): it leaves the listings on
    /// every device once they sync, and [`GraphDocument::restore`] brings it
    /// back. Deleting a deleted graph keeps the first time.
    pub fn delete(&self, at: &str) -> Result<(), SyncError> {
        orrery_domain::check_timestamp("deleted_at", at)?;
        if self.deleted_at().is_some() {
            return Ok(());
        }
        self.meta().insert(DELETED_AT, at).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Undoes a deletion. Between a deletion and a restore made on two
    /// devices, the later one wins.
    pub fn restore(&self) -> Result<(), SyncError> {
        if self.deleted_at().is_none() {
            return Ok(());
        }
        self.meta().delete(DELETED_AT).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// When the graph was deleted, if it is.
    pub fn deleted_at(&self) -> Option<String> {
        match self.meta().get(DELETED_AT) {
            Some(ValueOrContainer::Value(LoroValue::String(at))) => Some(at.to_string()),
            _ => None,
        }
    }

    /// The deletion time, refusing one that is not a timestamp.
    fn checked_deleted_at(&self) -> Result<Option<String>, SyncError> {
        match self.meta().get(DELETED_AT) {
            None => Ok(None),
            Some(ValueOrContainer::Value(LoroValue::String(at))) => {
                orrery_domain::check_timestamp("deleted_at", &at)?;
                Ok(Some(at.to_string()))
            }
            Some(_) => Err(SyncError::InvalidDocument(
                "the graph's deletion time is not text".into(),
            )),
        }
    }

    /// Renames the graph.
    pub fn rename(&self, name: &str) -> Result<(), SyncError> {
        check_graph_name(name)?;
        self.meta().insert("name", name).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Adds a node.
    pub fn add_node(&self, node: &Node) -> Result<(), SyncError> {
        node.validate()?;
        self.write_node(node)?;
        self.doc.commit();
        Ok(())
    }

    /// Moves a node.
    pub fn move_node(&self, id: NodeId, position: Position) -> Result<(), SyncError> {
        if !position.is_valid() {
            return Err(GraphError::InvalidPosition(id).into());
        }
        self.write_position(id, position)?;
        self.doc.commit();
        Ok(())
    }

    /// Changes a node's label.
    pub fn relabel_node(&self, id: NodeId, label: &str) -> Result<(), SyncError> {
        let probe = Node {
            id,
            kind: NodeKind::Agent,
            label: label.to_owned(),
            position: Position::default(),
        };
        probe.validate()?;
        self.node_map(id)?
            .insert("label", label)
            .map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Removes a node and every edge touching it.
    pub fn remove_node(&self, id: NodeId) -> Result<(), SyncError> {
        self.node_map(id)?;
        let graph = self.to_graph()?;
        for edge in graph
            .edges
            .values()
            .filter(|edge| edge.from == id || edge.to == id)
        {
            self.edges()
                .delete(&edge.id.to_string())
                .map_err(crdt_error)?;
        }
        self.nodes().delete(&id.to_string()).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Adds an edge between two nodes the document holds.
    pub fn add_edge(&self, edge: &Edge) -> Result<(), SyncError> {
        edge.validate()?;
        for node in [edge.from, edge.to] {
            if self.nodes().get(&node.to_string()).is_none() {
                return Err(GraphError::DanglingEdge {
                    edge: edge.id,
                    node,
                }
                .into());
            }
        }
        self.write_edge(edge)?;
        self.doc.commit();
        Ok(())
    }

    /// Removes an edge.
    pub fn remove_edge(&self, id: EdgeId) -> Result<(), SyncError> {
        if self.edges().get(&id.to_string()).is_none() {
            return Err(GraphError::NoSuchEdge(id).into());
        }
        self.edges().delete(&id.to_string()).map_err(crdt_error)?;
        self.doc.commit();
        Ok(())
    }

    /// Applies one edit from the canvas's command stack (an edit, or the
    /// inverse of one on undo) as a single commit. The edit is checked against
    /// the graph first; a refused edit changes nothing.
    pub fn apply_edit(&self, edit: &GraphEdit) -> Result<(), SyncError> {
        let mut graph = self.to_graph()?;
        edit.apply(&mut graph)?;
        self.write_edit(edit)?;
        self.doc.commit();
        Ok(())
    }

    fn write_edit(&self, edit: &GraphEdit) -> Result<(), SyncError> {
        match edit {
            GraphEdit::AddNode(node) => self.write_node(node),
            GraphEdit::RemoveNode { node, edges } => {
                for edge in edges {
                    self.edges()
                        .delete(&edge.id.to_string())
                        .map_err(crdt_error)?;
                }
                self.nodes()
                    .delete(&node.id.to_string())
                    .map_err(crdt_error)
            }
            GraphEdit::MoveNodes(moves) => moves
                .iter()
                .try_for_each(|step| self.write_position(step.id, step.to)),
            GraphEdit::RelabelNode { id, to, .. } => self
                .node_map(*id)?
                .insert("label", to.as_str())
                .map_err(crdt_error),
            GraphEdit::AddEdge(edge) => self.write_edge(edge),
            GraphEdit::RemoveEdge(edge) => self
                .edges()
                .delete(&edge.id.to_string())
                .map_err(crdt_error),
            GraphEdit::RenameGraph { to, .. } => {
                self.meta().insert("name", to.as_str()).map_err(crdt_error)
            }
            GraphEdit::Batch(steps) => steps.iter().try_for_each(|step| self.write_edit(step)),
        }
    }

    fn write_position(&self, id: NodeId, position: Position) -> Result<(), SyncError> {
        let node = self.node_map(id)?;
        for (axis, value) in [("x", position.x), ("y", position.y), ("z", position.z)] {
            node.insert(axis, f64::from(value)).map_err(crdt_error)?;
        }
        Ok(())
    }

    fn meta(&self) -> LoroMap {
        self.doc.get_map(META)
    }

    /// Where the document is in its history now (encoded frontiers).
    pub fn frontiers(&self) -> Vec<u8> {
        self.doc.oplog_frontiers().encode()
    }

    /// Names the document's state now as a version (`name` follows the
    /// rules of a graph's name), by `by` at `at`. It syncs to everyone.
    pub fn save_version(&self, name: &str, by: &str, at: &str) -> Result<GraphVersion, SyncError> {
        check_graph_name(name)?;
        orrery_domain::check_timestamp("at", at)?;
        if self.doc.get_map(VERSIONS).len() >= MAX_NAMED_VERSIONS {
            return Err(SyncError::InvalidUpdate(format!(
                "a graph keeps at most {MAX_NAMED_VERSIONS} named versions; this one has them all"
            )));
        }
        let version = GraphVersion {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.trim().to_owned(),
            at: at.to_owned(),
            by: by.chars().take(100).collect(),
            named: true,
            frontiers: self.frontiers(),
        };
        let map = self
            .doc
            .get_map(VERSIONS)
            .insert_container(&version.id, LoroMap::new())
            .map_err(crdt_error)?;
        map.insert("name", version.name.as_str())
            .map_err(crdt_error)?;
        map.insert("at", version.at.as_str()).map_err(crdt_error)?;
        map.insert("by", version.by.as_str()).map_err(crdt_error)?;
        map.insert("frontiers", version.frontiers.clone())
            .map_err(crdt_error)?;
        self.doc.commit();
        Ok(version)
    }

    /// The named versions, oldest first. Entries that do not hold what a
    /// version holds (from a hostile peer) are left out.
    pub fn named_versions(&self) -> Vec<GraphVersion> {
        let LoroValue::Map(versions) = self.doc.get_map(VERSIONS).get_deep_value() else {
            return Vec::new();
        };
        let mut listed: Vec<GraphVersion> = versions
            .iter()
            .filter_map(|(id, value)| {
                let LoroValue::Map(fields) = value else {
                    return None;
                };
                let text = |key: &str| match fields.get(key) {
                    Some(LoroValue::String(text)) => Some(text.to_string()),
                    _ => None,
                };
                let frontiers = match fields.get("frontiers") {
                    Some(LoroValue::Binary(bytes)) => bytes.to_vec(),
                    _ => return None,
                };
                Some(GraphVersion {
                    id: id.to_string(),
                    name: text("name")?,
                    at: text("at")?,
                    by: text("by").unwrap_or_default(),
                    named: true,
                    frontiers,
                })
            })
            .collect();
        listed.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        listed
    }

    /// The graph as it was at `frontiers` (a version's), read from the
    /// document's own history; the document itself is not changed.
    pub fn graph_at(&self, frontiers: &[u8]) -> Result<Graph, SyncError> {
        let frontiers = loro::Frontiers::decode(frontiers).map_err(|_| {
            SyncError::InvalidDocument("that version's place in the history is unreadable".into())
        })?;
        let at = guarded(|| self.doc.fork_at(&frontiers))?.map_err(|_| {
            SyncError::InvalidDocument("that version is not in this graph's history".into())
        })?;
        Self {
            id: self.id,
            doc: at,
        }
        .to_graph()
    }

    fn nodes(&self) -> LoroMap {
        self.doc.get_map(NODES)
    }

    fn edges(&self) -> LoroMap {
        self.doc.get_map(EDGES)
    }

    fn node_map(&self, id: NodeId) -> Result<LoroMap, SyncError> {
        match self.nodes().get(&id.to_string()) {
            Some(ValueOrContainer::Container(Container::Map(map))) => Ok(map),
            _ => Err(GraphError::NoSuchNode(id).into()),
        }
    }

    fn write_node(&self, node: &Node) -> Result<(), SyncError> {
        let map = self
            .nodes()
            .insert_container(&node.id.to_string(), LoroMap::new())
            .map_err(crdt_error)?;
        map.insert("kind", node.kind.as_str()).map_err(crdt_error)?;
        map.insert("label", node.label.as_str())
            .map_err(crdt_error)?;
        map.insert("x", f64::from(node.position.x))
            .map_err(crdt_error)?;
        map.insert("y", f64::from(node.position.y))
            .map_err(crdt_error)?;
        map.insert("z", f64::from(node.position.z))
            .map_err(crdt_error)?;
        Ok(())
    }

    fn write_edge(&self, edge: &Edge) -> Result<(), SyncError> {
        let map = self
            .edges()
            .insert_container(&edge.id.to_string(), LoroMap::new())
            .map_err(crdt_error)?;
        map.insert("from", edge.from.to_string())
            .map_err(crdt_error)?;
        map.insert("from_port", edge.from_port.as_str())
            .map_err(crdt_error)?;
        map.insert("to", edge.to.to_string()).map_err(crdt_error)?;
        map.insert("to_port", edge.to_port.as_str())
            .map_err(crdt_error)?;
        Ok(())
    }
}

fn string_field(value: Option<&LoroValue>, what: &str) -> Result<String, SyncError> {
    match value {
        Some(LoroValue::String(text)) => Ok(text.to_string()),
        _ => Err(SyncError::InvalidDocument(format!(
            "{what} is missing or not text"
        ))),
    }
}

fn number_field(value: Option<&LoroValue>, what: &str) -> Result<f32, SyncError> {
    match value {
        Some(LoroValue::Double(number)) => Ok(*number as f32),
        Some(LoroValue::I64(number)) => Ok(*number as f32),
        _ => Err(SyncError::InvalidDocument(format!(
            "{what} is missing or not a number"
        ))),
    }
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, SyncError> {
    text.parse().map_err(|_| {
        SyncError::InvalidDocument(format!(
            "{what} `{}` is not an id",
            text.chars().take(40).collect::<String>()
        ))
    })
}

fn read_node(key: &str, value: &LoroValue) -> Result<Node, SyncError> {
    let LoroValue::Map(fields) = value else {
        return Err(SyncError::InvalidDocument(format!(
            "node {key} is not a map"
        )));
    };
    let id: NodeId = parse(key, "node key")?;
    let kind = string_field(fields.get("kind"), "node kind")?.parse::<NodeKind>()?;
    Ok(Node {
        id,
        kind,
        label: string_field(fields.get("label"), "node label")?,
        position: Position::new(
            number_field(fields.get("x"), "node x")?,
            number_field(fields.get("y"), "node y")?,
            number_field(fields.get("z"), "node z")?,
        ),
    })
}

fn read_edge(key: &str, value: &LoroValue) -> Result<Edge, SyncError> {
    let LoroValue::Map(fields) = value else {
        return Err(SyncError::InvalidDocument(format!(
            "edge {key} is not a map"
        )));
    };
    Ok(Edge {
        id: parse(key, "edge key")?,
        from: parse(&string_field(fields.get("from"), "edge from")?, "edge from")?,
        from_port: string_field(fields.get("from_port"), "edge from_port")?,
        to: parse(&string_field(fields.get("to"), "edge to")?, "edge to")?,
        to_port: string_field(fields.get("to_port"), "edge to_port")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_domain::sample_graph;

    fn replica_of(document: &GraphDocument) -> GraphDocument {
        let mut copy = GraphDocument::empty(document.id());
        copy.merge(&document.updates_since(&Version::default()))
            .unwrap();
        copy
    }

    /// A server-side copy of `document`, loaded from its snapshot.
    fn stored_copy(document: &GraphDocument) -> GraphDocument {
        GraphDocument::from_snapshot(document.id(), &document.snapshot()).unwrap()
    }

    #[test]
    fn moves_and_renames_are_checked_by_what_they_touch() {
        let graph = sample_graph("Checked", 50, 3);
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let before = server.version();
        let device = stored_copy(&server);
        let node = *graph.nodes.keys().nth(7).unwrap();
        device
            .move_node(node, Position::new(4.0, 5.0, 6.0))
            .unwrap();
        device.relabel_node(node, "Moved").unwrap();
        device.rename("Renamed").unwrap();
        let (server, merge) = server
            .merge_checked(&device.updates_since(&before))
            .unwrap();
        match merge {
            Merge::Fields { name, nodes } => {
                assert_eq!(name, "Renamed");
                // The touched node, as it is after the merge.
                assert_eq!(nodes.len(), 1);
                assert_eq!(nodes[0].id, node);
                assert_eq!(nodes[0].position, Position::new(4.0, 5.0, 6.0));
                assert_eq!(nodes[0].label, "Moved");
            }
            other => panic!("a move and a rename took the whole-graph check: {other:?}"),
        }
        let read = server.to_graph().unwrap();
        assert_eq!(read.nodes[&node].position, Position::new(4.0, 5.0, 6.0));
        assert_eq!(read.nodes[&node].label, "Moved");
        assert_eq!(read.name, "Renamed");
        assert_eq!(server.version(), device.version());
    }

    #[test]
    fn adding_a_node_checks_the_whole_graph() {
        let graph = sample_graph("Grows", 20, 4);
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let before = server.version();
        let device = stored_copy(&server);
        let node = Node::new(NodeKind::Agent, "New", Position::new(0.0, 0.0, 0.0));
        device.add_node(&node).unwrap();
        let (_, merge) = server
            .merge_checked(&device.updates_since(&before))
            .unwrap();
        match merge {
            Merge::Structure(read) => {
                assert_eq!(read.nodes.len(), 21);
                assert!(read.nodes.contains_key(&node.id));
            }
            other => panic!("a new node was not checked with the whole graph: {other:?}"),
        }
    }

    #[test]
    fn a_hostile_field_on_the_touched_path_is_refused() {
        let graph = sample_graph("Hostile", 20, 6);
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let before = server.version();
        let node = *graph.nodes.keys().next().unwrap();
        // A label no client would write: a right-to-left override.
        let device = stored_copy(&server);
        device
            .node_map(node)
            .unwrap()
            .insert("label", "evil\u{202e}txt")
            .unwrap();
        device.doc.commit();
        let refused = server.merge_checked(&device.updates_since(&before));
        assert!(
            refused.is_err(),
            "a hidden character got through a touched-node check"
        );
        // A position that is not a number.
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let before = server.version();
        let device = stored_copy(&server);
        device.node_map(node).unwrap().insert("x", "far").unwrap();
        device.doc.commit();
        assert!(
            server
                .merge_checked(&device.updates_since(&before))
                .is_err()
        );
        // A merge that already happened changes nothing.
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let again = server.updates_since(&Version::default());
        let (_, merge) = server.merge_checked(&again).unwrap();
        assert!(matches!(merge, Merge::Unchanged));
    }

    #[test]
    fn deletion_and_restore_sync_and_the_later_one_wins() {
        let graph = sample_graph("Deleted", 10, 8);
        let server = stored_copy(&GraphDocument::create(&graph).unwrap());
        let a = stored_copy(&server);
        let b = stored_copy(&server);
        let before = server.version();
        a.delete("2026-12-06T10:00:00.000Z").unwrap();
        let (server, merge) = server.merge_checked(&a.updates_since(&before)).unwrap();
        assert!(
            matches!(merge, Merge::Fields { .. }),
            "a deletion is a field of the graph"
        );
        assert_eq!(
            server.deleted_at().as_deref(),
            Some("2026-12-06T10:00:00.000Z")
        );
        // B saw the deletion, then restored: the restore is later, so it wins.
        let mut b = b;
        b.merge(&server.updates_since(&b.version())).unwrap();
        assert!(b.deleted_at().is_some());
        b.restore().unwrap();
        let seen = server.version();
        let (server, _) = server.merge_checked(&b.updates_since(&seen)).unwrap();
        assert_eq!(server.deleted_at(), None);
        assert_eq!(
            server.to_graph().unwrap(),
            graph,
            "a restored graph is whole"
        );
        assert!(a.delete("not a time").is_err());
    }

    #[test]
    fn a_deletion_time_that_is_not_a_timestamp_is_refused() {
        let graph = sample_graph("Hostile tombstone", 5, 9);
        for hostile in [LoroValue::from("yesterday"), LoroValue::from(12_i64)] {
            let server = stored_copy(&GraphDocument::create(&graph).unwrap());
            let before = server.version();
            let device = stored_copy(&server);
            device.meta().insert(DELETED_AT, hostile).unwrap();
            device.doc.commit();
            assert!(
                server
                    .merge_checked(&device.updates_since(&before))
                    .is_err()
            );
        }
    }

    #[test]
    fn graph_round_trips_through_a_document() {
        let graph = sample_graph("Round trip", 20, 5);
        let document = GraphDocument::create(&graph).unwrap();
        assert_eq!(document.to_graph().unwrap(), graph);
        let restored = GraphDocument::from_snapshot(graph.id, &document.snapshot()).unwrap();
        assert_eq!(restored.to_graph().unwrap(), graph);
    }

    #[test]
    fn concurrent_move_and_relabel_both_survive() {
        let graph = sample_graph("Concurrent", 5, 9);
        let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
        let mut a = GraphDocument::create(&graph).unwrap();
        let mut b = replica_of(&a);
        let (a_seen, b_seen) = (a.version(), b.version());
        a.move_node(ids[0], Position::new(4.0, 5.0, 6.0)).unwrap();
        b.relabel_node(ids[0], "Renamed on B").unwrap();
        let from_a = a.updates_since(&b_seen);
        let from_b = b.updates_since(&a_seen);
        a.merge(&from_b).unwrap();
        b.merge(&from_a).unwrap();
        let (merged_a, merged_b) = (a.to_graph().unwrap(), b.to_graph().unwrap());
        assert_eq!(merged_a, merged_b);
        assert_eq!(
            merged_a.nodes[&ids[0]].position,
            Position::new(4.0, 5.0, 6.0)
        );
        assert_eq!(merged_a.nodes[&ids[0]].label, "Renamed on B");
    }

    #[test]
    fn edge_to_concurrently_deleted_node_is_dropped_from_the_graph() {
        let graph = sample_graph("Delete vs edge", 3, 2);
        let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
        let mut a = GraphDocument::create(&graph).unwrap();
        let mut b = replica_of(&a);
        let before = a.version();
        a.remove_node(ids[2]).unwrap();
        b.add_edge(&Edge::new(ids[0], ids[2])).unwrap();
        let from_a = a.updates_since(&before);
        let from_b = b.updates_since(&before);
        a.merge(&from_b).unwrap();
        b.merge(&from_a).unwrap();
        let merged = a.to_graph().unwrap();
        assert_eq!(merged, b.to_graph().unwrap());
        assert!(!merged.nodes.contains_key(&ids[2]));
        assert!(
            merged
                .edges
                .values()
                .all(|edge| edge.to != ids[2] && edge.from != ids[2])
        );
    }

    #[test]
    fn garbage_update_changes_nothing() {
        let graph = sample_graph("Guarded", 4, 1);
        let mut document = GraphDocument::create(&graph).unwrap();
        let version = document.version();
        for garbage in [&b"hello"[..], &[0xFF; 64][..], &document.snapshot()[..10]] {
            assert!(document.merge(garbage).is_err());
        }
        assert_eq!(document.version(), version);
        assert_eq!(document.to_graph().unwrap(), graph);
    }

    #[test]
    fn update_that_breaks_the_model_is_refused() {
        let graph = sample_graph("Model", 2, 1);
        let mut document = GraphDocument::create(&graph).unwrap();
        let hostile = replica_of(&document);
        let seen = hostile.version();
        let id = *graph.nodes.keys().next().unwrap();
        hostile
            .node_map(id)
            .unwrap()
            .insert("x", "not a number")
            .unwrap();
        hostile.doc.commit();
        let error = document.merge(&hostile.updates_since(&seen)).unwrap_err();
        assert!(error.to_string().contains("node x"), "{error}");
        assert_eq!(document.to_graph().unwrap(), graph);
    }

    #[test]
    fn edits_and_their_inverses_round_trip_through_the_document() {
        let graph = sample_graph("Edits", 6, 3);
        let document = GraphDocument::create(&graph).unwrap();
        let ids: Vec<NodeId> = graph.nodes.keys().copied().collect();
        let added = Node::new(NodeKind::Tool, "Calculator", Position::new(1.0, 2.0, 3.0));
        let edit = GraphEdit::Batch(vec![
            GraphEdit::AddNode(added.clone()),
            GraphEdit::AddEdge(Edge::new(ids[0], added.id)),
            GraphEdit::remove_node(&graph, ids[1]).unwrap(),
            GraphEdit::MoveNodes(vec![orrery_domain::NodeMove {
                id: ids[2],
                from: graph.nodes[&ids[2]].position,
                to: Position::new(9.0, 9.0, 9.0),
            }]),
            GraphEdit::RenameGraph {
                from: graph.name.clone(),
                to: "Edited".into(),
            },
        ]);
        let mut expected = graph.clone();
        edit.apply(&mut expected).unwrap();
        document.apply_edit(&edit).unwrap();
        assert_eq!(document.to_graph().unwrap(), expected);
        document.apply_edit(&edit.inverse()).unwrap();
        assert_eq!(document.to_graph().unwrap(), graph);
        // An edit that does not fit the graph changes nothing.
        let version = document.version();
        assert!(
            document
                .apply_edit(&GraphEdit::RemoveEdge(Edge::new(ids[0], ids[0])))
                .is_err()
        );
        assert_eq!(document.version(), version);
    }

    #[test]
    fn pending_operations_are_counted() {
        let graph = sample_graph("Pending", 2, 1);
        let document = GraphDocument::create(&graph).unwrap();
        let synced = document.version();
        let id = *graph.nodes.keys().next().unwrap();
        document
            .move_node(id, Position::new(1.0, 1.0, 1.0))
            .unwrap();
        assert_eq!(document.version().operations_missing_from(&synced), 3);
        assert_eq!(synced.operations_missing_from(&document.version()), 0);
    }
}
