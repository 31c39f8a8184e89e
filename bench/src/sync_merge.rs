//! `sync-merge`: the same edit trace through Loro and Automerge.
//!
//! Both libraries model a graph the way `orrery-sync` does: a root map of
//! nodes, each node a map with x/y/z. Every edit is its own commit (as every
//! canvas edit is). Phases timed per library: `apply` (replaying the trace on
//! the replicas), `merge` (each replica takes in every other replica's updates
//! since the shared base), `total`. Convergence is checked, not assumed.

use std::collections::HashMap;
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use loro::{Container, ExportMode, LoroDoc, LoroMap, ValueOrContainer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The trace's shape.
pub struct Options {
    /// Node moves in the trace.
    pub moves: usize,
    /// Node adds plus removes in the trace.
    pub churn: usize,
    /// Replicas the trace is spread over.
    pub replicas: usize,
    /// Nodes every replica starts with.
    pub base_nodes: usize,
    /// Repetitions; medians are reported.
    pub runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            moves: 100_000,
            churn: 10_000,
            replicas: 3,
            base_nodes: 1_000,
            runs: 3,
        }
    }
}

enum Edit {
    Move {
        replica: usize,
        node: String,
        to: [f64; 3],
    },
    Add {
        replica: usize,
        node: String,
    },
    Remove {
        replica: usize,
        node: String,
    },
}

/// A deterministic trace: edits round-robin over the replicas; each replica
/// only touches nodes it can see (the base ones and its own additions).
fn trace(options: &Options) -> Vec<Edit> {
    let mut random = StdRng::seed_from_u64(0x0055_EED5);
    let mut visible: Vec<Vec<String>> = (0..options.replicas)
        .map(|_| {
            (0..options.base_nodes)
                .map(|index| format!("base-{index}"))
                .collect()
        })
        .collect();
    let total = options.moves + options.churn;
    let mut churn_left = options.churn;
    let mut edits = Vec::with_capacity(total);
    for index in 0..total {
        let replica = index % options.replicas;
        let remaining = total - index;
        let churn_now = churn_left > 0 && random.random_range(0..remaining) < churn_left;
        let nodes = &mut visible[replica];
        if churn_now {
            churn_left -= 1;
            if random.random_bool(0.5) || nodes.len() < 2 {
                let node = format!("r{replica}-{index}");
                nodes.push(node.clone());
                edits.push(Edit::Add { replica, node });
            } else {
                let position = random.random_range(0..nodes.len());
                let node = nodes.swap_remove(position);
                edits.push(Edit::Remove { replica, node });
            }
        } else {
            let node = nodes[random.random_range(0..nodes.len())].clone();
            let to = [random.random(), random.random(), random.random()];
            edits.push(Edit::Move { replica, node, to });
        }
    }
    edits
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Timing {
    apply_ms: f64,
    merge_ms: f64,
    update_bytes: usize,
    nodes_after: usize,
}

fn loro_run(options: &Options, edits: &[Edit]) -> anyhow::Result<Timing> {
    let base = LoroDoc::new();
    let nodes = base.get_map("nodes");
    for index in 0..options.base_nodes {
        let node = nodes.insert_container(&format!("base-{index}"), LoroMap::new())?;
        for axis in ["x", "y", "z"] {
            node.insert(axis, 0.0)?;
        }
    }
    base.commit();
    let base_version = base.oplog_vv();
    let replicas: Vec<LoroDoc> = (0..options.replicas)
        .map(|index| {
            let replica = base.fork();
            replica
                .set_peer_id(index as u64 + 1)
                .expect("distinct peer ids");
            replica
        })
        .collect();

    let started = Instant::now();
    for edit in edits {
        match edit {
            Edit::Move { replica, node, to } => {
                let doc = &replicas[*replica];
                if let Some(ValueOrContainer::Container(Container::Map(map))) =
                    doc.get_map("nodes").get(node)
                {
                    map.insert("x", to[0])?;
                    map.insert("y", to[1])?;
                    map.insert("z", to[2])?;
                }
                doc.commit();
            }
            Edit::Add { replica, node } => {
                let doc = &replicas[*replica];
                let map = doc
                    .get_map("nodes")
                    .insert_container(node, LoroMap::new())?;
                for axis in ["x", "y", "z"] {
                    map.insert(axis, 0.0)?;
                }
                doc.commit();
            }
            Edit::Remove { replica, node } => {
                let doc = &replicas[*replica];
                doc.get_map("nodes").delete(node)?;
                doc.commit();
            }
        }
    }
    let apply_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let updates: Vec<Vec<u8>> = replicas
        .iter()
        .map(|replica| replica.export(ExportMode::updates(&base_version)))
        .collect::<Result<_, _>>()?;
    for (index, replica) in replicas.iter().enumerate() {
        let others: Vec<Vec<u8>> = updates
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, bytes)| bytes.clone())
            .collect();
        replica.import_batch(&others)?;
    }
    let merge_ms = started.elapsed().as_secs_f64() * 1000.0;

    let first = replicas[0].get_deep_value();
    anyhow::ensure!(
        replicas
            .iter()
            .all(|replica| replica.get_deep_value() == first),
        "Loro replicas did not converge"
    );
    Ok(Timing {
        apply_ms,
        merge_ms,
        update_bytes: updates.iter().map(Vec::len).sum(),
        nodes_after: replicas[0].get_map("nodes").len(),
    })
}

fn automerge_run(options: &Options, edits: &[Edit]) -> anyhow::Result<Timing> {
    let mut base = AutoCommit::new();
    let nodes = base.put_object(ROOT, "nodes", ObjType::Map)?;
    for index in 0..options.base_nodes {
        let node = base.put_object(&nodes, format!("base-{index}"), ObjType::Map)?;
        for axis in ["x", "y", "z"] {
            base.put(&node, axis, 0.0)?;
        }
    }
    base.commit();
    let base_heads = base.get_heads();
    let mut replicas: Vec<AutoCommit> = (0..options.replicas).map(|_| base.fork()).collect();
    // Object ids of the nodes each replica can see.
    let base_objects: HashMap<String, automerge::ObjId> = (0..options.base_nodes)
        .map(|index| {
            let key = format!("base-{index}");
            let (_, id) = automerge::ReadDoc::get(&base, &nodes, key.as_str())
                .expect("base node exists")
                .expect("base node exists");
            (key, id)
        })
        .collect();
    let mut objects: Vec<HashMap<String, automerge::ObjId>> = (0..options.replicas)
        .map(|_| base_objects.clone())
        .collect();

    let started = Instant::now();
    for edit in edits {
        match edit {
            Edit::Move { replica, node, to } => {
                let doc = &mut replicas[*replica];
                if let Some(object) = objects[*replica].get(node) {
                    doc.put(object, "x", to[0])?;
                    doc.put(object, "y", to[1])?;
                    doc.put(object, "z", to[2])?;
                }
                doc.commit();
            }
            Edit::Add { replica, node } => {
                let doc = &mut replicas[*replica];
                let object = doc.put_object(&nodes, node.as_str(), ObjType::Map)?;
                for axis in ["x", "y", "z"] {
                    doc.put(&object, axis, 0.0)?;
                }
                doc.commit();
                objects[*replica].insert(node.clone(), object);
            }
            Edit::Remove { replica, node } => {
                let doc = &mut replicas[*replica];
                doc.delete(&nodes, node.as_str())?;
                doc.commit();
                objects[*replica].remove(node);
            }
        }
    }
    let apply_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let updates: Vec<Vec<u8>> = replicas
        .iter_mut()
        .map(|replica| replica.save_after(&base_heads))
        .collect();
    for (index, replica) in replicas.iter_mut().enumerate() {
        for (other, bytes) in updates.iter().enumerate() {
            if other != index {
                replica.load_incremental(bytes)?;
            }
        }
    }
    let merge_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut heads: Vec<Vec<automerge::ChangeHash>> = replicas
        .iter_mut()
        .map(|replica| {
            let mut heads = replica.get_heads();
            heads.sort();
            heads
        })
        .collect();
    heads.dedup();
    anyhow::ensure!(heads.len() == 1, "Automerge replicas did not converge");
    Ok(Timing {
        apply_ms,
        merge_ms,
        update_bytes: updates.iter().map(Vec::len).sum(),
        nodes_after: automerge::ReadDoc::length(&replicas[0], &nodes),
    })
}

fn summarise(runs: &[Timing]) -> Value {
    let apply = median(runs.iter().map(|run| run.apply_ms).collect());
    let merge = median(runs.iter().map(|run| run.merge_ms).collect());
    let total = median(runs.iter().map(|run| run.apply_ms + run.merge_ms).collect());
    json!({
        "apply_ms_median": (apply * 10.0).round() / 10.0,
        "merge_ms_median": (merge * 10.0).round() / 10.0,
        "total_ms_median": (total * 10.0).round() / 10.0,
        "update_bytes": runs[0].update_bytes,
        "nodes_after_merge": runs[0].nodes_after,
    })
}

/// Runs the benchmark and returns its JSON line.
pub fn run(options: &Options) -> anyhow::Result<Value> {
    let edits = trace(options);
    let mut loro_runs = Vec::new();
    let mut automerge_runs = Vec::new();
    for _ in 0..options.runs {
        loro_runs.push(loro_run(options, &edits)?);
        automerge_runs.push(automerge_run(options, &edits)?);
    }
    anyhow::ensure!(
        loro_runs[0].nodes_after == automerge_runs[0].nodes_after,
        "the libraries disagree on the merged node count"
    );
    let loro = summarise(&loro_runs);
    let automerge = summarise(&automerge_runs);
    let loro_total = loro["total_ms_median"].as_f64().unwrap_or(f64::MAX);
    let automerge_total = automerge["total_ms_median"].as_f64().unwrap_or(f64::MAX);
    Ok(json!({
        "bench": "sync-merge",
        "moves": options.moves,
        "churn": options.churn,
        "replicas": options.replicas,
        "base_nodes": options.base_nodes,
        "runs": options.runs,
        "loro": loro,
        "automerge": automerge,
        "faster": if loro_total <= automerge_total { "loro" } else { "automerge" },
        "speedup": ((loro_total.max(automerge_total) / loro_total.min(automerge_total)) * 100.0).round() / 100.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_trace_converges_in_both_libraries() {
        let options = Options {
            moves: 300,
            churn: 60,
            replicas: 3,
            base_nodes: 20,
            runs: 1,
        };
        let result = run(&options).unwrap();
        assert_eq!(
            result["loro"]["nodes_after_merge"],
            result["automerge"]["nodes_after_merge"]
        );
        assert!(result["loro"]["update_bytes"].as_u64().unwrap() > 0);
    }
}
