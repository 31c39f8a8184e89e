//! Convergence of graph documents under random edits and a hostile network.
//!
//! `convergence_under_random_partitions` starts 3–5 replicas of one small
//! graph (created on replica 0, the sync server, and shipped to the others as
//! updates), then runs a random schedule of edits on random replicas —
//! adds, moves, renames, node and edge removal, and deliberately concurrent
//! conflicts: a node deleted on one replica while another moves or relabels
//! it, or adds an edge to it — interleaved with a simulated network. Messages
//! (`updates_since` the version the receiver last announced, since what the
//! sender last sent, the whole history, or a snapshot) are delayed, delivered
//! in random order, duplicated, dropped and re-sent, and partitions keep
//! groups of replicas apart for a while; a non-server device may even be
//! reinstalled from the server, losing what it had not yet shared. An edit
//! counts as acknowledged once the server has merged an update holding it.
//! Finally every partition heals and everything is delivered.
//!
//! Checked, after every merge and edit and at the end: each replica's graph
//! is valid and is what a model of the edits predicts for the edits it has
//! seen (an id is present iff added and not deleted, each field holds the value
//! of one causally-last write, an edge with a deleted endpoint is not in the
//! materialised graph; as `document.rs` says, every field is last-writer-wins
//! on its own, and that includes each axis of a position); at the end all replicas have the same version and the
//! same graph, no acknowledged edit is lost, and no edit of a device that kept
//! its data is lost.
//!
//! 1,000 cases run by default. More, and a fixed seed (each run prints its
//! seed; a failure prints it with the shrunk minimal case):
//!
//! ```text
//! export CARGO_TARGET_DIR=$HOME/.cache/orrery/target
//! ORRERY_CONVERGENCE_CASES=100000 cargo test --workspace --test convergence -- --nocapture
//! ORRERY_CONVERGENCE_SEED=0x1234abcd cargo test --workspace --test convergence -- --nocapture
//! ```
//!
//! The default run takes about 20–30 s in a debug build on two busy cores;
//! cases cost the same on average, so 100,000 take about 100 times as long
//! (10,000 took 277 s).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use orrery_domain::{
    Edge, EdgeId, Graph, GraphEdit, GraphId, Node, NodeId, NodeKind, NodeMove, Position,
    sample_graph,
};
use orrery_sync::{GraphDocument, SyncError, Version};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use uuid::Uuid;

/// Cases run when `ORRERY_CONVERGENCE_CASES` is not set.
const DEFAULT_CASES: u32 = 1_000;
/// Most steps (edits and network events) in one case.
const MAX_STEPS: usize = 80;
/// Most edits in one case; later edit steps are skipped.
const MAX_EDITS: usize = 40;
/// No node is added to a replica's graph that already holds this many.
const MAX_NODES: usize = 30;
/// Most messages in flight at once; sends beyond it are lost.
const MAX_IN_FLIGHT: usize = 64;
/// Rounds of "deliver everything, then everyone sends everyone what it lacks"
/// after healing; convergence must come well within them.
const HEAL_ROUNDS: usize = 8;
/// The sync server.
const SERVER: usize = 0;

// ---------------------------------------------------------------- the cases

/// One random schedule.
#[derive(Debug, Clone)]
struct Case {
    replicas: usize,
    base_nodes: usize,
    base_seed: u64,
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    /// An edit on one replica.
    Edit { replica: u8, op: Op },
    /// A node deleted on `deleter` while `editor` concurrently changes it.
    Conflict {
        deleter: u8,
        editor: u8,
        node: u8,
        edit: ConflictEdit,
    },
    /// `from` puts a message for `to` on the network.
    Send { from: u8, to: u8, mode: Mode },
    /// One message whose ends can talk arrives (any of them: reordering).
    Deliver { pick: u8 },
    /// A message in flight is duplicated.
    Duplicate { pick: u8 },
    /// A message in flight is lost.
    Drop { pick: u8 },
    /// The replicas split into up to three groups that cannot talk.
    Partition { code: u8 },
    /// Every replica can talk to every other again.
    Heal,
    /// A device (never the server) is wiped and restored from the server.
    Reinstall { replica: u8 },
}

#[derive(Debug, Clone, Copy)]
enum Op {
    AddNode {
        kind: u8,
        as_edit: bool,
    },
    Move {
        node: u8,
        also: Option<u8>,
        as_edit: bool,
    },
    Relabel {
        node: u8,
        as_edit: bool,
    },
    RemoveNode {
        node: u8,
        as_edit: bool,
    },
    AddEdge {
        from: u8,
        to: u8,
        as_edit: bool,
    },
    RemoveEdge {
        edge: u8,
        as_edit: bool,
    },
    Rename {
        as_edit: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum ConflictEdit {
    Move,
    Relabel,
    EdgeFromIt,
    EdgeToIt,
}

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `updates_since` the version the receiver last announced (the protocol's way).
    SinceAnnounced,
    /// `updates_since` what the sender last sent the receiver, whether or not
    /// it arrived: a lost message leaves a gap the receiver must refuse.
    SinceLastSent,
    /// `updates_since` the empty version: the whole history.
    Everything,
    /// The whole document as a snapshot.
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..5, any::<bool>()).prop_map(|(kind, as_edit)| Op::AddNode { kind, as_edit }),
        3 => (any::<u8>(), proptest::option::weighted(0.3, any::<u8>()), any::<bool>())
            .prop_map(|(node, also, as_edit)| Op::Move { node, also, as_edit }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(node, as_edit)| Op::Relabel { node, as_edit }),
        2 => (any::<u8>(), any::<bool>())
            .prop_map(|(node, as_edit)| Op::RemoveNode { node, as_edit }),
        3 => (any::<u8>(), any::<u8>(), any::<bool>())
            .prop_map(|(from, to, as_edit)| Op::AddEdge { from, to, as_edit }),
        2 => (any::<u8>(), any::<bool>())
            .prop_map(|(edge, as_edit)| Op::RemoveEdge { edge, as_edit }),
        1 => any::<bool>().prop_map(|as_edit| Op::Rename { as_edit }),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        5 => Just(Mode::SinceAnnounced),
        3 => Just(Mode::SinceLastSent),
        1 => Just(Mode::Everything),
        1 => Just(Mode::Snapshot),
    ]
}

fn conflict_edit() -> impl Strategy<Value = ConflictEdit> {
    prop_oneof![
        Just(ConflictEdit::Move),
        Just(ConflictEdit::Relabel),
        Just(ConflictEdit::EdgeFromIt),
        Just(ConflictEdit::EdgeToIt),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        36 => (any::<u8>(), op()).prop_map(|(replica, op)| Step::Edit { replica, op }),
        5 => (any::<u8>(), any::<u8>(), any::<u8>(), conflict_edit()).prop_map(
            |(deleter, editor, node, edit)| Step::Conflict { deleter, editor, node, edit }
        ),
        24 => (any::<u8>(), any::<u8>(), mode()).prop_map(|(from, to, mode)| Step::Send {
            from,
            to,
            mode
        }),
        24 => any::<u8>().prop_map(|pick| Step::Deliver { pick }),
        3 => any::<u8>().prop_map(|pick| Step::Duplicate { pick }),
        4 => any::<u8>().prop_map(|pick| Step::Drop { pick }),
        3 => (1u8..243).prop_map(|code| Step::Partition { code }),
        2 => Just(Step::Heal),
        1 => any::<u8>().prop_map(|replica| Step::Reinstall { replica }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        3usize..=5,
        2usize..=8,
        any::<u64>(),
        proptest::collection::vec(step(), 1..=MAX_STEPS),
    )
        .prop_map(|(replicas, base_nodes, base_seed, steps)| Case {
            replicas,
            base_nodes,
            base_seed,
            steps,
        })
}

// ---------------------------------------------------------------- the model

/// One last-writer-wins slot of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Register {
    Name,
    NodeLive(NodeId),
    Label(NodeId),
    /// One axis (0: x, 1: y, 2: z) of a node's position: each is its own field.
    Coordinate(NodeId, usize),
    EdgeLive(EdgeId),
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Name(String),
    Inserted,
    Deleted,
    Label(String),
    Coordinate(f32),
}

/// One successful edit: one commit on one replica.
#[derive(Debug)]
struct EditRecord {
    replica: usize,
    /// The replica's install (bumped when it is reinstalled).
    epoch: u32,
    /// The replica's version right after the commit: it holds the edit and
    /// everything the edit could have seen.
    version: Version,
    what: String,
    acknowledged: bool,
}

/// Every edit made, the writes each made, and what never changes once written.
#[derive(Default)]
struct Model {
    edits: Vec<EditRecord>,
    writes: BTreeMap<Register, Vec<(usize, Value)>>,
    kinds: BTreeMap<NodeId, NodeKind>,
    edges: BTreeMap<EdgeId, Edge>,
    /// Every position each node was given (to spot merged positions).
    positions: BTreeMap<NodeId, Vec<Position>>,
}

/// The graph a replica must hold, given the edits it has seen. Where
/// concurrent writes race for a field, any of them may win.
#[derive(Debug)]
struct Expected {
    names: Vec<String>,
    nodes: BTreeMap<NodeId, ExpectedNode>,
    /// Edges in the materialised graph.
    edges: BTreeMap<EdgeId, Edge>,
    /// Edges never removed whose endpoint was deleted: in the document, not in the graph.
    hidden_edges: Vec<EdgeId>,
}

#[derive(Debug)]
struct ExpectedNode {
    kind: NodeKind,
    labels: Vec<String>,
    /// The values each axis may hold.
    coordinates: [Vec<f32>; 3],
}

/// Whether `a` holds no operation that `b` lacks (a ≤ b).
fn covered_by(a: &Version, b: &Version) -> bool {
    a.operations_missing_from(b) == 0
}

impl Model {
    #[allow(clippy::too_many_arguments)] // one call site; the fields of one observation
    fn record(
        &mut self,
        replica: usize,
        epoch: u32,
        version: Version,
        what: String,
        writes: Vec<(Register, Value)>,
        kinds: &[(NodeId, NodeKind)],
        edges: &[Edge],
    ) {
        let index = self.edits.len();
        self.edits.push(EditRecord {
            replica,
            epoch,
            version,
            what,
            acknowledged: replica == SERVER,
        });
        for (register, value) in writes {
            self.writes
                .entry(register)
                .or_default()
                .push((index, value));
        }
        self.kinds.extend(kinds.iter().copied());
        self.edges
            .extend(edges.iter().map(|edge| (edge.id, edge.clone())));
    }

    /// Which edits a replica at `version` has seen.
    fn known(&self, version: &Version) -> Vec<bool> {
        self.edits
            .iter()
            .map(|edit| covered_by(&edit.version, version))
            .collect()
    }

    /// Whether edit `a` happened before edit `b`.
    fn before(&self, a: usize, b: usize) -> bool {
        a != b && covered_by(&self.edits[a].version, &self.edits[b].version)
    }

    /// The values of the known writes to `register` that no known write overwrote.
    fn last_writes(&self, register: Register, known: &[bool]) -> Vec<&Value> {
        let Some(writes) = self.writes.get(&register) else {
            return Vec::new();
        };
        let seen: Vec<&(usize, Value)> = writes.iter().filter(|(edit, _)| known[*edit]).collect();
        seen.iter()
            .filter(|(edit, _)| !seen.iter().any(|(later, _)| self.before(*edit, *later)))
            .map(|(_, value)| value)
            .collect()
    }

    /// Whether the slot `register` (an id's presence) is filled.
    fn live(&self, register: Register, known: &[bool]) -> Result<bool, String> {
        let last = self.last_writes(register, known);
        let inserted = last
            .iter()
            .filter(|value| ***value == Value::Inserted)
            .count();
        match (inserted, last.len()) {
            (0, _) => Ok(false),
            (all, total) if all == total => Ok(true),
            _ => Err(format!(
                "model: {register:?} has an insert concurrent with a delete"
            )),
        }
    }

    fn expected(&self, known: &[bool]) -> Result<Expected, String> {
        let names = self
            .last_writes(Register::Name, known)
            .into_iter()
            .filter_map(|value| match value {
                Value::Name(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        let mut nodes = BTreeMap::new();
        for (&id, &kind) in &self.kinds {
            if !self.live(Register::NodeLive(id), known)? {
                continue;
            }
            let labels = self
                .last_writes(Register::Label(id), known)
                .into_iter()
                .filter_map(|value| match value {
                    Value::Label(label) => Some(label.clone()),
                    _ => None,
                })
                .collect();
            let coordinates = [0, 1, 2].map(|axis| {
                self.last_writes(Register::Coordinate(id, axis), known)
                    .into_iter()
                    .filter_map(|value| match value {
                        Value::Coordinate(value) => Some(*value),
                        _ => None,
                    })
                    .collect()
            });
            nodes.insert(
                id,
                ExpectedNode {
                    kind,
                    labels,
                    coordinates,
                },
            );
        }
        let mut edges = BTreeMap::new();
        let mut hidden_edges = Vec::new();
        for (&id, edge) in &self.edges {
            if !self.live(Register::EdgeLive(id), known)? {
                continue;
            }
            if nodes.contains_key(&edge.from) && nodes.contains_key(&edge.to) {
                edges.insert(id, edge.clone());
            } else {
                hidden_edges.push(id);
            }
        }
        Ok(Expected {
            names,
            nodes,
            edges,
            hidden_edges,
        })
    }

    /// Checks a replica's document against the edits it has seen.
    fn check(&self, document: &GraphDocument, who: &str) -> Result<(), String> {
        let graph = document
            .to_graph()
            .map_err(|error| format!("{who}: the document is not a graph: {error}"))?;
        graph
            .validate()
            .map_err(|error| format!("{who}: the materialised graph is invalid: {error}"))?;
        let expected = self.expected(&self.known(&document.version()))?;
        compare(&graph, &expected).map_err(|problem| format!("{who}: {problem}"))
    }
}

fn compare(graph: &Graph, expected: &Expected) -> Result<(), String> {
    if !expected.names.contains(&graph.name) {
        return Err(format!(
            "graph name {:?}, expected one of {:?}",
            graph.name, expected.names
        ));
    }
    let actual_nodes: Vec<NodeId> = graph.nodes.keys().copied().collect();
    let expected_nodes: Vec<NodeId> = expected.nodes.keys().copied().collect();
    if actual_nodes != expected_nodes {
        let missing: Vec<_> = expected_nodes
            .iter()
            .filter(|id| !graph.nodes.contains_key(id))
            .collect();
        let extra: Vec<_> = actual_nodes
            .iter()
            .filter(|id| !expected.nodes.contains_key(id))
            .collect();
        return Err(format!(
            "nodes differ from the model: missing {missing:?}, unexpected {extra:?}"
        ));
    }
    for (id, node) in &graph.nodes {
        let want = &expected.nodes[id];
        if node.kind != want.kind {
            return Err(format!(
                "node {id}: kind {:?}, expected {:?}",
                node.kind, want.kind
            ));
        }
        if !want.labels.contains(&node.label) {
            return Err(format!(
                "node {id}: label {:?}, expected one of {:?}",
                node.label, want.labels
            ));
        }
        let position = node.position;
        for (axis, value) in [position.x, position.y, position.z].into_iter().enumerate() {
            if !want.coordinates[axis].contains(&value) {
                return Err(format!(
                    "node {id}: position {position:?}, expected {} in {:?}",
                    ["x", "y", "z"][axis],
                    want.coordinates[axis]
                ));
            }
        }
    }
    if graph.edges != expected.edges {
        let missing: Vec<_> = expected
            .edges
            .keys()
            .filter(|id| !graph.edges.contains_key(id))
            .collect();
        let extra: Vec<_> = graph
            .edges
            .keys()
            .filter(|id| !expected.edges.contains_key(id))
            .collect();
        let hidden_shown: Vec<_> = extra
            .iter()
            .filter(|id| expected.hidden_edges.contains(id))
            .collect();
        return Err(format!(
            "edges differ from the model: missing {missing:?}, unexpected {extra:?} \
             (of which edges to a deleted node: {hidden_shown:?})"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- the world

struct Peer {
    document: GraphDocument,
    epoch: u32,
    sent_messages: u64,
    /// The latest version each other replica announced: (its epoch, message number, version).
    announced: Vec<Option<(u32, u64, Version)>>,
    /// What this replica last sent each other one (`Mode::SinceLastSent`).
    last_sent: Vec<Version>,
    /// Replicas whose update this one refused for a gap: its next message to
    /// each asks for a resend from its announced version.
    owes_nack: Vec<bool>,
}

impl Peer {
    fn new(document: GraphDocument, replicas: usize, epoch: u32) -> Self {
        Self {
            document,
            epoch,
            sent_messages: 0,
            announced: vec![None; replicas],
            last_sent: vec![Version::default(); replicas],
            owes_nack: vec![false; replicas],
        }
    }
}

#[derive(Debug, Clone)]
struct Message {
    from: usize,
    to: usize,
    epoch: u32,
    number: u64,
    sender_version: Version,
    /// The version the updates were exported since (empty for a snapshot).
    base: Version,
    nack: bool,
    mode: Mode,
    bytes: Vec<u8>,
}

/// What the whole run saw, to show the test exercises what it claims to.
struct Coverage {
    cases: AtomicUsize,
    delete_vs_edit: AtomicUsize,
    edges_to_deleted_nodes: AtomicUsize,
    gaps_refused: AtomicUsize,
    reinstalls: AtomicUsize,
    acknowledged_edits: AtomicUsize,
    edits: AtomicUsize,
    edits_lost_with_a_device: AtomicUsize,
    merged_positions: AtomicUsize,
}

static COVERAGE: Coverage = Coverage {
    cases: AtomicUsize::new(0),
    delete_vs_edit: AtomicUsize::new(0),
    edges_to_deleted_nodes: AtomicUsize::new(0),
    gaps_refused: AtomicUsize::new(0),
    reinstalls: AtomicUsize::new(0),
    acknowledged_edits: AtomicUsize::new(0),
    edits: AtomicUsize::new(0),
    edits_lost_with_a_device: AtomicUsize::new(0),
    merged_positions: AtomicUsize::new(0),
};

fn count(counter: &AtomicUsize, by: usize) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct World {
    graph_id: GraphId,
    peers: Vec<Peer>,
    network: Vec<Message>,
    /// Each replica's partition group; replicas talk only within a group.
    groups: Vec<u8>,
    model: Model,
    edits_made: usize,
    /// Makes every id, label, position and name in a case distinct.
    counter: u64,
    gaps_refused: usize,
    reinstalls: usize,
    acknowledged_before_heal: usize,
}

/// An edit chosen against one replica's graph, ready to apply.
#[derive(Debug)]
enum Planned {
    AddNode(Node),
    Move(Vec<NodeMove>),
    Relabel {
        id: NodeId,
        from: String,
        to: String,
    },
    RemoveNode {
        node: Node,
        edges: Vec<Edge>,
    },
    AddEdge(Edge),
    RemoveEdge(Edge),
    Rename {
        from: String,
        to: String,
    },
}

impl Planned {
    /// The positions the edit gives nodes.
    fn positions(&self) -> Vec<(NodeId, Position)> {
        match self {
            Planned::AddNode(node) => vec![(node.id, node.position)],
            Planned::Move(moves) => moves.iter().map(|step| (step.id, step.to)).collect(),
            _ => Vec::new(),
        }
    }

    fn writes(&self) -> Vec<(Register, Value)> {
        match self {
            Planned::AddNode(node) => [
                (Register::NodeLive(node.id), Value::Inserted),
                (Register::Label(node.id), Value::Label(node.label.clone())),
            ]
            .into_iter()
            .chain(coordinates(node.id, node.position))
            .collect(),
            Planned::Move(moves) => moves
                .iter()
                .flat_map(|step| coordinates(step.id, step.to))
                .collect(),
            Planned::Relabel { id, to, .. } => {
                vec![(Register::Label(*id), Value::Label(to.clone()))]
            }
            Planned::RemoveNode { node, edges } => edges
                .iter()
                .map(|edge| (Register::EdgeLive(edge.id), Value::Deleted))
                .chain([(Register::NodeLive(node.id), Value::Deleted)])
                .collect(),
            Planned::AddEdge(edge) => vec![(Register::EdgeLive(edge.id), Value::Inserted)],
            Planned::RemoveEdge(edge) => vec![(Register::EdgeLive(edge.id), Value::Deleted)],
            Planned::Rename { to, .. } => vec![(Register::Name, Value::Name(to.clone()))],
        }
    }

    fn as_edit(&self) -> GraphEdit {
        match self {
            Planned::AddNode(node) => GraphEdit::AddNode(node.clone()),
            Planned::Move(moves) => GraphEdit::MoveNodes(moves.clone()),
            Planned::Relabel { id, from, to } => GraphEdit::RelabelNode {
                id: *id,
                from: from.clone(),
                to: to.clone(),
            },
            Planned::RemoveNode { node, edges } => GraphEdit::RemoveNode {
                node: node.clone(),
                edges: edges.clone(),
            },
            Planned::AddEdge(edge) => GraphEdit::AddEdge(edge.clone()),
            Planned::RemoveEdge(edge) => GraphEdit::RemoveEdge(edge.clone()),
            Planned::Rename { from, to } => GraphEdit::RenameGraph {
                from: from.clone(),
                to: to.clone(),
            },
        }
    }

    /// Applies the edit through the document's own method for it, or as a
    /// `GraphEdit` from the command stack.
    fn apply(&self, document: &GraphDocument, as_edit: bool) -> Result<(), SyncError> {
        if as_edit {
            return document.apply_edit(&self.as_edit());
        }
        match self {
            Planned::AddNode(node) => document.add_node(node),
            Planned::Move(moves) => moves
                .iter()
                .try_for_each(|step| document.move_node(step.id, step.to)),
            Planned::Relabel { id, to, .. } => document.relabel_node(*id, to),
            Planned::RemoveNode { node, .. } => document.remove_node(node.id),
            Planned::AddEdge(edge) => document.add_edge(edge),
            Planned::RemoveEdge(edge) => document.remove_edge(edge.id),
            Planned::Rename { to, .. } => document.rename(to),
        }
    }
}

fn coordinates(id: NodeId, position: Position) -> Vec<(Register, Value)> {
    [position.x, position.y, position.z]
        .into_iter()
        .enumerate()
        .map(|(axis, value)| (Register::Coordinate(id, axis), Value::Coordinate(value)))
        .collect()
}

fn pick<T: Copy>(items: &[T], choice: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(choice) % items.len()])
}

impl World {
    fn new(case: &Case) -> Result<Self, String> {
        let base = sample_graph("Shared graph", case.base_nodes, case.base_seed);
        let server = GraphDocument::create(&base).map_err(|error| error.to_string())?;
        let mut model = Model::default();
        let mut writes = vec![(Register::Name, Value::Name(base.name.clone()))];
        for node in base.nodes.values() {
            writes.extend(Planned::AddNode(node.clone()).writes());
            model.positions.insert(node.id, vec![node.position]);
        }
        for edge in base.edges.values() {
            writes.push((Register::EdgeLive(edge.id), Value::Inserted));
        }
        let kinds: Vec<(NodeId, NodeKind)> = base
            .nodes
            .values()
            .map(|node| (node.id, node.kind))
            .collect();
        let edges: Vec<Edge> = base.edges.values().cloned().collect();
        model.record(
            SERVER,
            0,
            server.version(),
            "create the base graph".into(),
            writes,
            &kinds,
            &edges,
        );
        // The other devices start empty and receive the graph as updates.
        let history = server.updates_since(&Version::default());
        let mut peers = vec![Peer::new(server, case.replicas, 0)];
        for replica in 1..case.replicas {
            let mut document = GraphDocument::empty(base.id);
            document
                .merge(&history)
                .map_err(|error| format!("replica {replica} refused the base graph: {error}"))?;
            peers.push(Peer::new(document, case.replicas, 0));
        }
        let world = Self {
            graph_id: base.id,
            peers,
            network: Vec::new(),
            groups: vec![0; case.replicas],
            model,
            edits_made: 0,
            counter: 0,
            gaps_refused: 0,
            reinstalls: 0,
            acknowledged_before_heal: 0,
        };
        for (replica, peer) in world.peers.iter().enumerate() {
            world
                .model
                .check(&peer.document, &format!("replica {replica} at the start"))?;
        }
        Ok(world)
    }

    fn replicas(&self) -> usize {
        self.peers.len()
    }

    fn replica(&self, choice: u8) -> usize {
        usize::from(choice) % self.replicas()
    }

    /// A replica other than `of`.
    fn other(&self, of: usize, choice: u8) -> usize {
        let other = self.replica(choice);
        if other == of {
            (of + 1) % self.replicas()
        } else {
            other
        }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn fresh_position(&mut self) -> Position {
        let k = self.next() as f32;
        Position::new(k, -0.5 * k, k % 7.0 - 3.0)
    }

    fn fresh_label(&mut self) -> String {
        format!("label {}", self.next())
    }

    fn graph(&self, replica: usize) -> Result<Graph, String> {
        self.peers[replica]
            .document
            .to_graph()
            .map_err(|error| format!("replica {replica} is not a graph: {error}"))
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match *step {
            Step::Edit { replica, op } => {
                let replica = self.replica(replica);
                if let Some((planned, as_edit)) = self.plan(replica, op)? {
                    self.commit(replica, &planned, as_edit)?;
                }
            }
            Step::Conflict {
                deleter,
                editor,
                node,
                edit,
            } => self.conflict(deleter, editor, node, edit)?,
            Step::Send { from, to, mode } => {
                let from = self.replica(from);
                let to = self.other(from, to);
                self.send(from, to, mode);
            }
            Step::Deliver { pick } => {
                let deliverable: Vec<usize> = (0..self.network.len())
                    .filter(|&index| {
                        let message = &self.network[index];
                        self.groups[message.from] == self.groups[message.to]
                    })
                    .collect();
                if let Some(index) = self::pick(&deliverable, pick) {
                    let message = self.network.remove(index);
                    self.deliver(message)?;
                }
            }
            Step::Duplicate { pick } => {
                if !self.network.is_empty() && self.network.len() < MAX_IN_FLIGHT {
                    let message = self.network[usize::from(pick) % self.network.len()].clone();
                    let at = usize::from(pick.rotate_left(3)) % (self.network.len() + 1);
                    self.network.insert(at, message);
                }
            }
            Step::Drop { pick } => {
                if !self.network.is_empty() {
                    let index = usize::from(pick) % self.network.len();
                    self.network.remove(index);
                }
            }
            Step::Partition { code } => {
                let mut code = code;
                for group in &mut self.groups {
                    *group = code % 3;
                    code /= 3;
                }
            }
            Step::Heal => self.groups.fill(0),
            Step::Reinstall { replica } => {
                let replica = self.replica(replica);
                if replica != SERVER {
                    self.reinstall(replica)?;
                }
            }
        }
        self.note_acknowledgements();
        Ok(())
    }

    /// Chooses the edit `op` stands for on `replica`'s current graph; `None`
    /// where it does not fit (nothing to move, too many edits or nodes).
    fn plan(&mut self, replica: usize, op: Op) -> Result<Option<(Planned, bool)>, String> {
        if self.edits_made >= MAX_EDITS {
            return Ok(None);
        }
        let graph = self.graph(replica)?;
        let nodes: Vec<NodeId> = graph.nodes.keys().copied().collect();
        let edges: Vec<EdgeId> = graph.edges.keys().copied().collect();
        let planned = match op {
            Op::AddNode { kind, as_edit } => {
                if nodes.len() >= MAX_NODES {
                    return Ok(None);
                }
                let id = NodeId(Uuid::from_u64_pair(0x6e6f_6465, self.next()));
                let node = Node {
                    id,
                    kind: NodeKind::ALL[usize::from(kind) % NodeKind::ALL.len()],
                    label: self.fresh_label(),
                    position: self.fresh_position(),
                };
                (Planned::AddNode(node), as_edit)
            }
            Op::Move {
                node,
                also,
                as_edit,
            } => {
                let Some(first) = pick(&nodes, node) else {
                    return Ok(None);
                };
                let mut ids = vec![first];
                if let Some(second) = also.and_then(|choice| pick(&nodes, choice))
                    && second != first
                {
                    ids.push(second);
                }
                let mut moves = Vec::new();
                for id in ids {
                    moves.push(NodeMove {
                        id,
                        from: graph.nodes[&id].position,
                        to: self.fresh_position(),
                    });
                }
                (Planned::Move(moves), as_edit)
            }
            Op::Relabel { node, as_edit } => {
                let Some(id) = pick(&nodes, node) else {
                    return Ok(None);
                };
                let to = self.fresh_label();
                let from = graph.nodes[&id].label.clone();
                (Planned::Relabel { id, from, to }, as_edit)
            }
            Op::RemoveNode { node, as_edit } => {
                let Some(id) = pick(&nodes, node) else {
                    return Ok(None);
                };
                (remove_node(&graph, id), as_edit)
            }
            Op::AddEdge { from, to, as_edit } => {
                let (Some(from), Some(to)) = (pick(&nodes, from), pick(&nodes, to)) else {
                    return Ok(None);
                };
                (Planned::AddEdge(self.fresh_edge(from, to)), as_edit)
            }
            Op::RemoveEdge { edge, as_edit } => {
                let Some(id) = pick(&edges, edge) else {
                    return Ok(None);
                };
                (Planned::RemoveEdge(graph.edges[&id].clone()), as_edit)
            }
            Op::Rename { as_edit } => {
                let to = format!("Graph {}", self.next());
                (
                    Planned::Rename {
                        from: graph.name.clone(),
                        to,
                    },
                    as_edit,
                )
            }
        };
        Ok(Some(planned))
    }

    fn fresh_edge(&mut self, from: NodeId, to: NodeId) -> Edge {
        Edge {
            id: EdgeId(Uuid::from_u64_pair(0x6564_6765, self.next())),
            from,
            from_port: "out".into(),
            to,
            to_port: "in".into(),
        }
    }

    /// Applies a planned edit on `replica` and records it in the model.
    fn commit(&mut self, replica: usize, planned: &Planned, as_edit: bool) -> Result<(), String> {
        let peer = &self.peers[replica];
        let before = peer.document.version();
        planned
            .apply(&peer.document, as_edit)
            .map_err(|error| format!("replica {replica} refused {planned:?}: {error}"))?;
        let after = peer.document.version();
        if after == before {
            return Err(format!("replica {replica}: {planned:?} wrote nothing"));
        }
        let kinds = match planned {
            Planned::AddNode(node) => vec![(node.id, node.kind)],
            _ => Vec::new(),
        };
        let edges = match planned {
            Planned::AddEdge(edge) => vec![edge.clone()],
            _ => Vec::new(),
        };
        self.model.record(
            replica,
            peer.epoch,
            after,
            format!("{planned:?}"),
            planned.writes(),
            &kinds,
            &edges,
        );
        for (id, position) in planned.positions() {
            self.model.positions.entry(id).or_default().push(position);
        }
        self.edits_made += 1;
        self.model.check(
            &self.peers[replica].document,
            &format!("replica {replica} after its edit {planned:?}"),
        )?;
        Ok(())
    }

    /// One replica deletes a node that another concurrently moves, relabels
    /// or connects an edge to.
    fn conflict(
        &mut self,
        deleter: u8,
        editor: u8,
        node: u8,
        edit: ConflictEdit,
    ) -> Result<(), String> {
        if self.edits_made + 2 > MAX_EDITS {
            return Ok(());
        }
        let deleter = self.replica(deleter);
        let editor = self.other(deleter, editor);
        let (deleter_graph, editor_graph) = (self.graph(deleter)?, self.graph(editor)?);
        let shared: Vec<NodeId> = deleter_graph
            .nodes
            .keys()
            .filter(|id| editor_graph.nodes.contains_key(id))
            .copied()
            .collect();
        let Some(victim) = pick(&shared, node) else {
            return Ok(());
        };
        // Another node on the editor's side for the edge (or the victim itself).
        let partner = editor_graph
            .nodes
            .keys()
            .copied()
            .find(|id| *id != victim)
            .unwrap_or(victim);
        let change = match edit {
            ConflictEdit::Move => Planned::Move(vec![NodeMove {
                id: victim,
                from: editor_graph.nodes[&victim].position,
                to: self.fresh_position(),
            }]),
            ConflictEdit::Relabel => Planned::Relabel {
                id: victim,
                from: editor_graph.nodes[&victim].label.clone(),
                to: self.fresh_label(),
            },
            ConflictEdit::EdgeFromIt => Planned::AddEdge(self.fresh_edge(victim, partner)),
            ConflictEdit::EdgeToIt => Planned::AddEdge(self.fresh_edge(partner, victim)),
        };
        let as_edit = node.is_multiple_of(2);
        self.commit(deleter, &remove_node(&deleter_graph, victim), as_edit)?;
        self.commit(editor, &change, !as_edit)
    }

    fn send(&mut self, from: usize, to: usize, mode: Mode) {
        let peer = &mut self.peers[from];
        let base = match mode {
            Mode::SinceAnnounced => peer.announced[to]
                .as_ref()
                .map(|(_, _, version)| version.clone())
                .unwrap_or_default(),
            Mode::SinceLastSent => {
                std::mem::replace(&mut peer.last_sent[to], peer.document.version())
            }
            Mode::Everything | Mode::Snapshot => Version::default(),
        };
        let bytes = match mode {
            Mode::Snapshot => peer.document.snapshot(),
            _ => peer.document.updates_since(&base),
        };
        peer.sent_messages += 1;
        let message = Message {
            from,
            to,
            epoch: peer.epoch,
            number: peer.sent_messages,
            sender_version: peer.document.version(),
            base,
            nack: std::mem::take(&mut peer.owes_nack[to]),
            mode,
            bytes,
        };
        if self.network.len() < MAX_IN_FLIGHT {
            self.network.push(message);
        }
    }

    fn deliver(&mut self, message: Message) -> Result<(), String> {
        let (from, to) = (message.from, message.to);
        let peer = &mut self.peers[to];
        let before = peer.document.version();
        // Updates since a version the receiver had hold all it lacks of the sender.
        let had_base = covered_by(&message.base, &before);
        match peer.document.merge(&message.bytes) {
            Ok(()) => {
                if had_base && !covered_by(&message.sender_version, &peer.document.version()) {
                    return Err(format!(
                        "replica {to} merged {:?} from replica {from}, exported since a version \
                         it had, and still lacks {} of the sender's operations",
                        message.mode,
                        message
                            .sender_version
                            .operations_missing_from(&peer.document.version())
                    ));
                }
            }
            Err(SyncError::MissingDependencies) if !had_base => {
                // A gap (a lost message, or a reinstalled receiver): refused
                // whole; the sender is asked to resend.
                if peer.document.version() != before {
                    return Err(format!(
                        "replica {to} changed although it refused an update from {from}"
                    ));
                }
                peer.owes_nack[from] = true;
                self.gaps_refused += 1;
            }
            Err(error) => {
                return Err(format!(
                    "replica {to} refused {:?} from replica {from} ({} bytes): {error}",
                    message.mode,
                    message.bytes.len()
                ));
            }
        }
        let newer = match &peer.announced[from] {
            Some((epoch, number, _)) => (message.epoch, message.number) > (*epoch, *number),
            None => true,
        };
        if newer {
            peer.announced[from] = Some((
                message.epoch,
                message.number,
                message.sender_version.clone(),
            ));
        }
        if message.nack {
            peer.last_sent[from] = message.sender_version.clone();
        }
        if peer.document.version() != before {
            self.model.check(
                &self.peers[to].document,
                &format!(
                    "replica {to} after merging {:?} from replica {from}",
                    message.mode
                ),
            )?;
        }
        Ok(())
    }

    /// Wipes a device and restores it from the server (a snapshot, or the
    /// whole history as updates): what it had not shared is gone.
    fn reinstall(&mut self, replica: usize) -> Result<(), String> {
        let server = &self.peers[SERVER].document;
        let epoch = self.peers[replica].epoch + 1;
        let document = if epoch % 2 == 1 {
            GraphDocument::from_snapshot(self.graph_id, &server.snapshot())
                .map_err(|error| format!("restoring replica {replica} from a snapshot: {error}"))?
        } else {
            let mut document = GraphDocument::empty(self.graph_id);
            document
                .merge(&server.updates_since(&Version::default()))
                .map_err(|error| format!("restoring replica {replica} from updates: {error}"))?;
            document
        };
        if document.version() != server.version() {
            return Err(format!(
                "replica {replica} restored to another version than the server's"
            ));
        }
        let mut peer = Peer::new(document, self.replicas(), epoch);
        peer.sent_messages = self.peers[replica].sent_messages;
        self.peers[replica] = peer;
        self.reinstalls += 1;
        self.model.check(
            &self.peers[replica].document,
            &format!("replica {replica} after reinstalling"),
        )?;
        Ok(())
    }

    fn note_acknowledgements(&mut self) {
        let server = self.peers[SERVER].document.version();
        for edit in &mut self.model.edits {
            if !edit.acknowledged && covered_by(&edit.version, &server) {
                edit.acknowledged = true;
            }
        }
    }

    fn converged(&self) -> bool {
        let version = self.peers[SERVER].document.version();
        self.peers
            .iter()
            .all(|peer| peer.document.version() == version && !peer.owes_nack.contains(&true))
    }

    /// Heals every partition and delivers everything: what is in flight, then
    /// rounds of everyone sending everyone what it lacks.
    fn heal(&mut self) -> Result<(), String> {
        self.acknowledged_before_heal = self
            .model
            .edits
            .iter()
            .filter(|edit| edit.acknowledged)
            .count();
        self.groups.fill(0);
        for _ in 0..HEAL_ROUNDS {
            for message in std::mem::take(&mut self.network) {
                self.deliver(message)?;
                self.note_acknowledgements();
            }
            if self.converged() {
                return Ok(());
            }
            for from in 0..self.replicas() {
                for to in 0..self.replicas() {
                    if from != to {
                        self.send(from, to, Mode::SinceAnnounced);
                    }
                }
            }
        }
        Err(format!(
            "replicas did not converge within {HEAL_ROUNDS} rounds after healing: \
             operations each lacks of the others' (summed over the others): {:?}",
            self.peers
                .iter()
                .map(|peer| {
                    self.peers
                        .iter()
                        .map(|other| {
                            other
                                .document
                                .version()
                                .operations_missing_from(&peer.document.version())
                        })
                        .sum::<u64>()
                })
                .collect::<Vec<_>>()
        ))
    }

    fn check_final(&self) -> Result<(), String> {
        let version = self.peers[SERVER].document.version();
        let graph = self.graph(SERVER)?;
        for (replica, peer) in self.peers.iter().enumerate() {
            if peer.document.version() != version {
                return Err(format!(
                    "replica {replica} ended at another version than the server"
                ));
            }
            let own = self.graph(replica)?;
            if own != graph {
                return Err(format!(
                    "replica {replica} converged to another graph than the server:\n{own:#?}\nserver:\n{graph:#?}"
                ));
            }
            self.model
                .check(&peer.document, &format!("replica {replica} at the end"))?;
        }
        // Every edit the server acknowledged, and every edit of a device that
        // kept its data, is in the converged document.
        for edit in &self.model.edits {
            let survived = covered_by(&edit.version, &version);
            if edit.acknowledged && !survived {
                return Err(format!(
                    "acknowledged edit of replica {} lost: {}",
                    edit.replica, edit.what
                ));
            }
            if edit.epoch == self.peers[edit.replica].epoch && !survived {
                return Err(format!(
                    "edit of replica {} lost although it kept its data: {}",
                    edit.replica, edit.what
                ));
            }
        }
        // The whole history survives a snapshot round trip.
        let restored =
            GraphDocument::from_snapshot(self.graph_id, &self.peers[SERVER].document.snapshot())
                .map_err(|error| format!("the converged snapshot does not load: {error}"))?;
        if restored.version() != version || self.graph_id != restored.id() {
            return Err("the converged snapshot has another version".into());
        }
        if restored.to_graph().ok().as_ref() != Some(&graph) {
            return Err("the converged snapshot holds another graph".into());
        }
        self.record_coverage(&version, &graph)
    }

    fn record_coverage(&self, version: &Version, graph: &Graph) -> Result<(), String> {
        // Concurrent moves of one node, one of which left an axis as it was
        // (Loro writes nothing for a field set to the value it holds), end
        // with the axes of different moves: a position no replica chose.
        count(
            &COVERAGE.merged_positions,
            graph
                .nodes
                .values()
                .filter(|node| !self.model.positions[&node.id].contains(&node.position))
                .count(),
        );
        let model = &self.model;
        let known = model.known(version);
        let expected = model.expected(&known)?;
        count(&COVERAGE.cases, 1);
        count(
            &COVERAGE.edges_to_deleted_nodes,
            expected.hidden_edges.len(),
        );
        count(&COVERAGE.gaps_refused, self.gaps_refused);
        count(&COVERAGE.reinstalls, self.reinstalls);
        count(&COVERAGE.edits, model.edits.len());
        count(&COVERAGE.acknowledged_edits, self.acknowledged_before_heal);
        count(
            &COVERAGE.edits_lost_with_a_device,
            known.iter().filter(|seen| !**seen).count(),
        );
        // Deletes that raced a move or relabel of the same node.
        let delete_vs_edit = model
            .writes
            .iter()
            .filter_map(|(register, writes)| match register {
                Register::NodeLive(id) => Some((id, writes)),
                _ => None,
            })
            .map(|(id, deletes)| {
                let changes = [
                    Register::Label(*id),
                    Register::Coordinate(*id, 0),
                    Register::Coordinate(*id, 1),
                    Register::Coordinate(*id, 2),
                ]
                .iter()
                .filter_map(|register| model.writes.get(register))
                .flatten()
                .collect::<Vec<_>>();
                deletes
                    .iter()
                    .filter(|(edit, value)| *value == Value::Deleted && known[*edit])
                    .filter(|(delete, _)| {
                        changes.iter().any(|(change, _)| {
                            known[*change]
                                && !model.before(*change, *delete)
                                && !model.before(*delete, *change)
                        })
                    })
                    .count()
            })
            .sum();
        count(&COVERAGE.delete_vs_edit, delete_vs_edit);
        Ok(())
    }
}

fn remove_node(graph: &Graph, id: NodeId) -> Planned {
    let GraphEdit::RemoveNode { node, edges } =
        GraphEdit::remove_node(graph, id).expect("the node was picked from this graph")
    else {
        unreachable!("GraphEdit::remove_node builds a RemoveNode");
    };
    Planned::RemoveNode { node, edges }
}

fn run_case(case: &Case) -> Result<(), String> {
    let mut world = World::new(case)?;
    for (index, step) in case.steps.iter().enumerate() {
        world
            .step(step)
            .map_err(|problem| format!("step {index} {step:?}: {problem}"))?;
    }
    world
        .heal()
        .map_err(|problem| format!("after healing: {problem}"))?;
    world.check_final()
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim().replace('_', "");
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text} is not a number")))
}

#[test]
fn convergence_under_random_partitions() {
    let cases = env_number("ORRERY_CONVERGENCE_CASES")
        .map(|cases| u32::try_from(cases).expect("ORRERY_CONVERGENCE_CASES fits in 32 bits"))
        .unwrap_or(DEFAULT_CASES);
    let seed = env_number("ORRERY_CONVERGENCE_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (now.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
    });
    eprintln!(
        "convergence: {cases} cases, seed {seed:#x} (ORRERY_CONVERGENCE_SEED={seed:#x} repeats this run)"
    );
    let mut config = Config::with_cases(cases);
    config.failure_persistence = None;
    let mut rng_seed = [0u8; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed));
    let started = std::time::Instant::now();
    match runner.run(&case(), |case| run_case(&case).map_err(TestCaseError::fail)) {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => panic!(
            "convergence property failed (ORRERY_CONVERGENCE_SEED={seed:#x} repeats this run)\n\
             {reason}\nminimal case:\n{minimal:#?}"
        ),
        Err(TestError::Abort(reason)) => {
            panic!("the run was aborted (seed {seed:#x}): {reason}")
        }
    }
    let read = |counter: &AtomicUsize| counter.load(Ordering::Relaxed);
    eprintln!(
        "convergence: {} cases in {:.1} s: {} edits ({} acknowledged before the end, {} lost with \
         a reinstalled device), {} deletes racing a move or relabel, {} edges left pointing at a \
         deleted node, {} updates refused for a gap, {} reinstalls, {} converged positions \
         mixing the axes of concurrent moves",
        read(&COVERAGE.cases),
        started.elapsed().as_secs_f64(),
        read(&COVERAGE.edits),
        read(&COVERAGE.acknowledged_edits),
        read(&COVERAGE.edits_lost_with_a_device),
        read(&COVERAGE.delete_vs_edit),
        read(&COVERAGE.edges_to_deleted_nodes),
        read(&COVERAGE.gaps_refused),
        read(&COVERAGE.reinstalls),
        read(&COVERAGE.merged_positions),
    );
    if cases >= 200 {
        // The schedule generator must actually produce the hard cases.
        for (what, counter) in [
            ("deletes racing an edit", &COVERAGE.delete_vs_edit),
            ("edges to a deleted node", &COVERAGE.edges_to_deleted_nodes),
            ("updates refused for a gap", &COVERAGE.gaps_refused),
            ("reinstalled devices", &COVERAGE.reinstalls),
        ] {
            assert!(read(counter) > 0, "no case exercised {what}");
        }
    }
}
