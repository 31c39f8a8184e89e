//! Graphs as JSON files, for export and import.
//!
//! ```json
//! { "format": "orrery.graph", "version": 1,
//!   "name": "…",
//!   "nodes": [ { "id": "…", "kind": "agent", "label": "…", "position": { "x": 0, "y": 0, "z": 0 } } ],
//!   "edges": [ { "id": "…", "from": "…", "from_port": "out", "to": "…", "to_port": "in" } ] }
//! ```
//!
//! Import checks everything before anything is created: size, JSON syntax
//! (with line and column), format and version, duplicate ids, and the graph
//! model's own rules (kinds, names, positions, dangling edges, limits), then
//! the port rules (types that fit, no cycles; see [`crate::ports`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::graph::{Edge, Graph, GraphError, Node};
use crate::ids::GraphId;
use crate::ports::{ConnectionError, check_graph_connections};

/// What a graph file says it is.
pub const GRAPH_FILE_FORMAT: &str = "orrery.graph";
/// The version this build writes and reads.
pub const GRAPH_FILE_VERSION: u32 = 1;
/// The largest graph file accepted: room for the largest graph the model allows.
pub const MAX_GRAPH_FILE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphFile {
    format: String,
    version: u32,
    name: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// Why a file cannot be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The file is larger than any valid graph file.
    #[error("the file is {size} bytes; graph files are at most {limit} bytes")]
    TooLarge {
        /// The file's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, or not the shape of a graph file.
    #[error("not a valid graph file (line {line}, column {column}): {message}")]
    Malformed {
        /// Where the problem is.
        line: usize,
        /// Where the problem is.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// Some other kind of file, or a newer version.
    #[error(
        "this is not an Orrery graph file of version {GRAPH_FILE_VERSION} (found `{format}` version {version})"
    )]
    UnsupportedFormat {
        /// The format the file claims.
        format: String,
        /// The version it claims.
        version: u32,
    },
    /// Two nodes or two edges share an id.
    #[error("the file has two {what} with id {id}")]
    DuplicateId {
        /// "nodes" or "edges".
        what: &'static str,
        /// The id.
        id: String,
    },
    /// The graph breaks a rule of the model.
    #[error(transparent)]
    Invalid(#[from] GraphError),
    /// An edge joins ports whose types do not fit, or edges form a cycle.
    #[error(transparent)]
    Connections(#[from] ConnectionError),
}

/// The graph as a graph file (pretty JSON).
pub fn export_graph(graph: &Graph) -> String {
    let file = GraphFile {
        format: GRAPH_FILE_FORMAT.to_owned(),
        version: GRAPH_FILE_VERSION,
        name: graph.name.clone(),
        nodes: graph.nodes.values().cloned().collect(),
        edges: graph.edges.values().cloned().collect(),
    };
    serde_json::to_string_pretty(&file).expect("graphs always serialise")
}

/// A graph read from a graph file, with a fresh id; nothing is created if the
/// file is refused.
pub fn import_graph(bytes: &[u8]) -> Result<Graph, ImportError> {
    if bytes.len() > MAX_GRAPH_FILE_BYTES {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            limit: MAX_GRAPH_FILE_BYTES,
        });
    }
    let file: GraphFile =
        serde_json::from_slice(bytes).map_err(|error| ImportError::Malformed {
            line: error.line(),
            column: error.column(),
            message: error.to_string(),
        })?;
    if file.format != GRAPH_FILE_FORMAT || file.version != GRAPH_FILE_VERSION {
        return Err(ImportError::UnsupportedFormat {
            format: file.format.chars().take(40).collect(),
            version: file.version,
        });
    }
    let nodes = unique_by_id(file.nodes, "nodes", |node| node.id)?;
    let edges = unique_by_id(file.edges, "edges", |edge| edge.id)?;
    let graph = Graph {
        id: GraphId::new(),
        name: file.name,
        nodes,
        edges,
    };
    graph.validate()?;
    check_graph_connections(&graph)?;
    Ok(graph)
}

/// The items keyed by id, refusing the file if two share one.
fn unique_by_id<K: Ord + Copy + std::fmt::Display, T>(
    items: Vec<T>,
    what: &'static str,
    id_of: impl Fn(&T) -> K,
) -> Result<BTreeMap<K, T>, ImportError> {
    let mut unique = BTreeMap::new();
    for item in items {
        let id = id_of(&item);
        if unique.insert(id, item).is_some() {
            return Err(ImportError::DuplicateId {
                what,
                id: id.to_string(),
            });
        }
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_graph;

    #[test]
    fn export_then_import_gives_the_same_graph_under_a_new_id() {
        let graph = sample_graph("Round trip", 20, 4);
        let imported = import_graph(export_graph(&graph).as_bytes()).unwrap();
        assert_ne!(imported.id, graph.id);
        assert_eq!(
            Graph {
                id: graph.id,
                ..imported
            },
            graph
        );
    }

    #[test]
    fn each_invalid_file_is_refused_with_its_own_reason() {
        let graph = sample_graph("Source", 3, 1);
        let valid: serde_json::Value = serde_json::from_str(&export_graph(&graph)).unwrap();
        let with = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut file = valid.clone();
            change(&mut file);
            serde_json::to_vec(&file).unwrap()
        };
        let refused = |bytes: &[u8]| import_graph(bytes).unwrap_err().to_string();

        assert!(refused(b"{\"format\": \"orrery.graph\",\n  \"nodes\": [").contains("line 2"));
        assert!(refused(b"not json at all").contains("not a valid graph file"));
        assert!(
            refused(&with(&|file| file["nodes"][0]["kind"] = "wizard".into())).contains("wizard")
        );
        assert!(refused(&with(&|file| file["version"] = 9.into())).contains("version 9"));
        assert!(refused(&with(&|file| file["format"] = "photoshop".into())).contains("photoshop"));
        assert!(
            refused(&with(&|file| {
                let node = file["nodes"][0].clone();
                file["nodes"].as_array_mut().unwrap().push(node);
            }))
            .contains("two nodes")
        );
        assert!(
            refused(&with(&|file| {
                file["edges"][0]["to"] = crate::NodeId::new().to_string().into();
            }))
            .contains("not in the graph")
        );
        assert!(refused(&with(&|file| file["name"] = "".into())).contains("name"));
        assert!(
            refused(&with(&|file| file["nodes"][0]["position"]["x"] = 1e9.into()))
                .contains("position")
        );
        assert!(refused(&with(&|file| file["surprise"] = true.into())).contains("surprise"));
        let huge = vec![b' '; MAX_GRAPH_FILE_BYTES + 1];
        assert!(matches!(
            import_graph(&huge),
            Err(ImportError::TooLarge { .. })
        ));
    }

    #[test]
    fn import_refuses_incompatible_ports_and_cycles() {
        use crate::{Edge, Node, NodeKind, Position};
        let mut graph = Graph::new("Rules");
        let tool = graph.add_node(Node::new(NodeKind::Tool, "search", Position::default()));
        let output = graph.add_node(Node::new(NodeKind::Output, "report", Position::default()));
        graph.add_edge(Edge::new(tool, output)).unwrap();
        let refused = import_graph(export_graph(&graph).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "cannot connect tool “search” (out: tool) to output “report” (in: data): data input does not accept tool"
        );

        let mut graph = Graph::new("Loop");
        let first = graph.add_node(Node::new(NodeKind::Agent, "planner", Position::default()));
        let second = graph.add_node(Node::new(NodeKind::Agent, "critic", Position::default()));
        graph.add_edge(Edge::new(first, second)).unwrap();
        assert!(import_graph(export_graph(&graph).as_bytes()).is_ok());
        graph.add_edge(Edge::new(second, first)).unwrap();
        let refused = import_graph(export_graph(&graph).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("cycle"), "{refused}");
        assert!(
            refused.contains("planner") && refused.contains("critic"),
            "{refused}"
        );

        let mut graph = Graph::new("Wrong port");
        let input = graph.add_node(Node::new(NodeKind::Input, "question", Position::default()));
        let prompt = graph.add_node(Node::new(NodeKind::Prompt, "template", Position::default()));
        graph
            .add_edge(Edge {
                to_port: "vars".into(),
                ..Edge::new(input, prompt)
            })
            .unwrap();
        let refused = import_graph(export_graph(&graph).as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "prompt node “template” has no input port `vars` (it has in)"
        );
    }
}
