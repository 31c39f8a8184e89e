//! Random edit sequences through the one command stack: undoing everything
//! gives back the original graph, redoing everything gives the edited one.

use orrery_domain::{
    Edge, EditHistory, Graph, GraphEdit, Node, NodeKind, NodeMove, Position, sample_graph,
};
use proptest::prelude::*;

/// What the user does, in terms of whatever the graph holds at that moment.
#[derive(Debug, Clone)]
enum Intent {
    Add {
        kind: usize,
        label: String,
        at: (f32, f32, f32),
    },
    Remove {
        pick: usize,
    },
    Move {
        picks: Vec<usize>,
        by: (f32, f32, f32),
    },
    Relabel {
        pick: usize,
        label: String,
    },
    Connect {
        from: usize,
        to: usize,
    },
    Disconnect {
        pick: usize,
    },
    Rename {
        name: String,
    },
    Together(Vec<Intent>),
}

fn simple_intent() -> impl Strategy<Value = Intent> {
    let coordinate = -50.0f32..50.0;
    prop_oneof![
        (
            0usize..5,
            "[a-z ]{0,12}",
            (coordinate.clone(), coordinate.clone(), coordinate.clone())
        )
            .prop_map(|(kind, label, at)| Intent::Add { kind, label, at }),
        any::<usize>().prop_map(|pick| Intent::Remove { pick }),
        (
            proptest::collection::vec(any::<usize>(), 1..4),
            (coordinate.clone(), coordinate.clone(), coordinate)
        )
            .prop_map(|(picks, by)| Intent::Move { picks, by }),
        (any::<usize>(), "[A-Za-z0-9 ]{0,20}")
            .prop_map(|(pick, label)| Intent::Relabel { pick, label }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Intent::Connect { from, to }),
        any::<usize>().prop_map(|pick| Intent::Disconnect { pick }),
        "[A-Za-z][A-Za-z ]{0,15}".prop_map(|name| Intent::Rename { name }),
    ]
}

fn intent() -> impl Strategy<Value = Intent> {
    prop_oneof![
        4 => simple_intent(),
        1 => proptest::collection::vec(simple_intent(), 2..4).prop_map(Intent::Together),
    ]
}

/// Turns an intent into a concrete edit against the graph as it is now.
/// Batches are built on a scratch copy, since later steps see earlier ones.
fn edit_for(graph: &Graph, intent: &Intent) -> Option<GraphEdit> {
    let node_at = |pick: usize| graph.nodes.values().nth(pick % graph.nodes.len().max(1));
    Some(match intent {
        Intent::Add { kind, label, at } => GraphEdit::AddNode(Node::new(
            NodeKind::ALL[*kind],
            label.clone(),
            Position::new(at.0, at.1, at.2),
        )),
        Intent::Remove { pick } => GraphEdit::remove_node(graph, node_at(*pick)?.id).ok()?,
        Intent::Move { picks, by } => {
            let mut moves: Vec<NodeMove> = Vec::new();
            for pick in picks {
                let node = node_at(*pick)?;
                if moves.iter().any(|step| step.id == node.id) {
                    continue;
                }
                let from = node.position;
                moves.push(NodeMove {
                    id: node.id,
                    from,
                    to: Position::new(from.x + by.0, from.y + by.1, from.z + by.2),
                });
            }
            GraphEdit::MoveNodes(moves)
        }
        Intent::Relabel { pick, label } => {
            let node = node_at(*pick)?;
            GraphEdit::RelabelNode {
                id: node.id,
                from: node.label.clone(),
                to: label.clone(),
            }
        }
        Intent::Connect { from, to } => {
            GraphEdit::AddEdge(Edge::new(node_at(*from)?.id, node_at(*to)?.id))
        }
        Intent::Disconnect { pick } => {
            let edge = graph.edges.values().nth(pick % graph.edges.len().max(1))?;
            GraphEdit::RemoveEdge(edge.clone())
        }
        Intent::Rename { name } => GraphEdit::RenameGraph {
            from: graph.name.clone(),
            to: name.clone(),
        },
        Intent::Together(intents) => {
            let mut scratch = graph.clone();
            let mut steps = Vec::new();
            for intent in intents {
                if let Some(step) = edit_for(&scratch, intent)
                    && step.apply(&mut scratch).is_ok()
                {
                    steps.push(step);
                }
            }
            GraphEdit::Batch(steps)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn undo_redo_roundtrip_property(
        size in 0usize..12,
        seed in any::<u64>(),
        intents in proptest::collection::vec(intent(), 1..40),
    ) {
        let original = sample_graph("Property", size, seed);
        let mut graph = original.clone();
        let mut history = EditHistory::default();
        let mut applied = 0;
        for intent in &intents {
            if let Some(edit) = edit_for(&graph, intent) {
                let before = graph.clone();
                match history.apply(&mut graph, edit) {
                    Ok(_) => applied += 1,
                    // A refused edit leaves the graph untouched.
                    Err(_) => prop_assert_eq!(&graph, &before),
                }
            }
        }
        prop_assert_eq!(graph.validate(), Ok(()));
        let edited = graph.clone();

        for _ in 0..applied {
            prop_assert!(history.undo(&mut graph).unwrap().is_some());
        }
        prop_assert!(!history.can_undo());
        prop_assert_eq!(&graph, &original);

        for _ in 0..applied {
            prop_assert!(history.redo(&mut graph).unwrap().is_some());
        }
        prop_assert!(!history.can_redo());
        prop_assert_eq!(&graph, &edited);
    }
}

#[test]
fn a_new_edit_clears_redo() {
    let mut graph = sample_graph("Redo", 3, 1);
    let mut history = EditHistory::default();
    let node = *graph.nodes.keys().next().unwrap();
    let rename = GraphEdit::RenameGraph {
        from: graph.name.clone(),
        to: "First".into(),
    };
    history.apply(&mut graph, rename).unwrap();
    history.undo(&mut graph).unwrap();
    assert!(history.can_redo());
    let relabel = GraphEdit::RelabelNode {
        id: node,
        from: graph.nodes[&node].label.clone(),
        to: "x".into(),
    };
    history.apply(&mut graph, relabel).unwrap();
    assert!(!history.can_redo());
    assert_eq!(history.redo(&mut graph).unwrap(), None);
    assert_eq!(graph.name, "Redo");
}

#[test]
fn removing_a_node_without_its_edges_is_refused() {
    let mut graph = sample_graph("Edges", 3, 2);
    let hub = graph.edges.values().next().unwrap().from;
    let bare = GraphEdit::RemoveNode {
        node: graph.nodes[&hub].clone(),
        edges: Vec::new(),
    };
    let before = graph.clone();
    assert!(bare.apply(&mut graph).is_err());
    assert_eq!(graph, before);
}
