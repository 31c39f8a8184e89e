//! orrery-domain: the pure types and rules every Orrery program shares.
//!
//! Graphs of agents (nodes, edges, positions) and their validation. No I/O, no
//! async, no storage or network: everything here is a plain value that the
//! store, the sync layer, the server and the canvas all agree on.

pub mod api_scope;
mod diff;
mod edit;
mod graph;
mod graph_file;
mod ids;
mod library;
pub mod marketplace;
pub mod policy;
mod ports;
pub mod revenue;
pub mod runs;
mod sample;
pub mod sign_in;
pub mod team;
pub mod templates;
pub mod text;
mod validator;

pub use diff::{GraphDiff, diff_graphs, restore_edit};
pub use edit::{EditHistory, GraphEdit, NodeMove};
pub use graph::{
    Edge, Graph, GraphError, MAX_EDGES_PER_GRAPH, MAX_LABEL_CHARS, MAX_NAME_CHARS,
    MAX_NODES_PER_GRAPH, MAX_PORT_CHARS, Node, NodeKind, Position, check_graph_name,
};
pub use graph_file::{
    GRAPH_FILE_FORMAT, GRAPH_FILE_VERSION, ImportError, MAX_GRAPH_FILE_BYTES, export_graph,
    import_graph,
};
pub use ids::{DocumentId, EdgeId, GraphId, IdError, MessageId, NodeId, PromptVersionId};
pub use library::{
    Agent, ChatMessage, ChatRole, DocumentKind, LibraryError, LibraryItem, MAX_DESCRIPTION_CHARS,
    MAX_LIST_ITEMS, MAX_MESSAGE_CHARS, MAX_MESSAGES_PER_SESSION, MAX_PARAMETERS_BYTES,
    MAX_PROMPT_CHARS, MAX_TITLE_CHARS, MAX_VERSIONS_PER_PROMPT, Prompt, PromptVersion, Session,
    VersionStatus, check_timestamp, resolve_active_version, timestamp_key,
};
pub use ports::{
    ConnectionError, Port, PortType, check_connection, check_graph_connections, check_ports,
    input_ports, matching_input, output_ports,
};
pub use sample::{sample_graph, sample_graph_with_edges};
pub use validator::{
    MAX_PATTERN_CHARS, MAX_SCHEMA_BYTES, MAX_VALIDATORS_PER_PROMPT, PromptValidator, Validator,
    ValidatorTarget, check_prompt_validators,
};
