//! The memory planner: every value a run produces gets an offset in one arena, reusing the bytes
//! of values no later node reads (liveness over the topological order, first fit over the free
//! ranges). Ops that only reinterpret their input (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`,
//! `Identity`, inference `Dropout`) are views: their output shares the input's bytes, which then
//! live as long as either is read. Graph inputs (fed by the caller), initializers (weights) and
//! the outputs of nodes that read only constants (fills too large to fold, materialised once per
//! run like weights) are not in the arena. The plan reports its peak beside the naive sum of every
//! arena value's size.

use crate::{
    ir::{known, Graph},
    GraphError, Result,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Offsets are multiples of this (a cache line, and every dtype's alignment).
pub const ALIGN: u64 = 64;

/// Where one value lives in the arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Byte offset in the arena.
    pub offset: u64,
    /// Bytes.
    pub size: u64,
    /// The node index that produces it, and the last node index that reads it (or the last node,
    /// for a graph output).
    pub live: (usize, usize),
    /// The value whose bytes it views, if it is a view.
    pub view_of: Option<String>,
}

/// A graph's memory plan.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Placement of each value the run produces.
    pub values: BTreeMap<String, Placement>,
    /// Arena bytes: the peak of what is live at once, as placed.
    pub peak: u64,
    /// Every arena value in its own buffer (views included once).
    pub naive: u64,
    /// Bytes of values computed from constants only (outside the arena).
    pub constants: u64,
}

/// Whether `op`'s first output is its first input's bytes reinterpreted.
fn is_view(op: &str) -> bool {
    matches!(
        op,
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout"
    )
}

/// Plans `graph` (shapes inferred, every produced value's shape known: bind symbolic dimensions
/// first). `Shape` errors name a value whose size is unknown.
pub fn plan(graph: &Graph) -> Result<Plan> {
    let last = graph.nodes.len().saturating_sub(1);
    // The buffer (root value) each produced value lives in, and each root's size and liveness.
    let mut root: HashMap<String, String> = HashMap::new();
    let mut size: HashMap<String, u64> = HashMap::new();
    let mut born: HashMap<String, usize> = HashMap::new();
    let mut dies: HashMap<String, usize> = HashMap::new();
    let mut naive = 0u64;
    let mut constants = 0u64;
    for (i, n) in graph.nodes.iter().enumerate() {
        let constant = n
            .inputs
            .iter()
            .all(|s| s.is_empty() || graph.initializers.contains_key(s));
        for (k, out) in n.outputs.iter().enumerate().filter(|(_, o)| !o.is_empty()) {
            let v = graph.value(out).ok_or_else(|| unknown(n, out))?;
            let dims = v
                .shape
                .as_deref()
                .and_then(known)
                .ok_or_else(|| unknown(n, out))?;
            let bytes = dims.iter().product::<u64>() * v.dtype.size() as u64;
            if constant {
                constants += bytes;
                continue;
            }
            let viewed = (k == 0 && is_view(&n.op))
                .then(|| n.input(0))
                .flatten()
                .and_then(|i| root.get(i).cloned());
            match viewed {
                Some(r) => {
                    root.insert(out.clone(), r);
                }
                None => {
                    naive += bytes;
                    root.insert(out.clone(), out.clone());
                    size.insert(out.clone(), bytes);
                    born.insert(out.clone(), i);
                    dies.insert(out.clone(), i);
                }
            }
        }
        for input in n.inputs.iter().filter(|s| !s.is_empty()) {
            if let Some(r) = root.get(input) {
                dies.insert(r.clone(), i);
            }
        }
    }
    for o in &graph.outputs {
        if let Some(r) = root.get(&o.name) {
            dies.insert(r.clone(), last);
        }
    }
    // First fit: allocate each node's new buffers, then free those whose last reader it was.
    let mut free: Vec<(u64, u64)> = Vec::new(); // (offset, len), sorted, coalesced
    let mut end = 0u64;
    let mut offset: HashMap<String, u64> = HashMap::new();
    let mut dying: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (r, &d) in &dies {
        dying.entry(d).or_default().push(r.clone());
    }
    for (i, n) in graph.nodes.iter().enumerate() {
        for out in n
            .outputs
            .iter()
            .filter(|o| size.contains_key(*o) && born.get(*o) == Some(&i))
        {
            let len = size[out].next_multiple_of(ALIGN).max(ALIGN);
            let slot = free.iter().position(|&(_, l)| l >= len);
            let at = match slot {
                Some(s) => {
                    let (o, l) = free[s];
                    if l == len {
                        free.remove(s);
                    } else {
                        free[s] = (o + len, l - len);
                    }
                    o
                }
                None => {
                    let o = end;
                    end += len;
                    o
                }
            };
            offset.insert(out.clone(), at);
        }
        for r in dying.remove(&i).unwrap_or_default() {
            let (Some(&o), Some(&s)) = (offset.get(&r), size.get(&r)) else {
                continue;
            };
            release(&mut free, o, s.next_multiple_of(ALIGN).max(ALIGN));
        }
    }
    let mut values = BTreeMap::new();
    for (v, r) in &root {
        let Some(&o) = offset.get(r) else { continue };
        values.insert(
            v.clone(),
            Placement {
                offset: o,
                size: size[r],
                live: (born[r], dies[r]),
                view_of: (v != r).then(|| r.clone()),
            },
        );
    }
    Ok(Plan {
        values,
        peak: end,
        naive,
        constants,
    })
}

/// Returns `[offset, offset + len)` to the free list, merging with its neighbours.
fn release(free: &mut Vec<(u64, u64)>, offset: u64, len: u64) {
    let at = free.partition_point(|&(o, _)| o < offset);
    free.insert(at, (offset, len));
    if at + 1 < free.len() && free[at].0 + free[at].1 == free[at + 1].0 {
        free[at].1 += free[at + 1].1;
        free.remove(at + 1);
    }
    if at > 0 && free[at - 1].0 + free[at - 1].1 == free[at].0 {
        free[at - 1].1 += free[at].1;
        free.remove(at);
    }
}

fn unknown(n: &crate::ir::Node, value: &str) -> GraphError {
    GraphError::Shape {
        node: n.name.clone(),
        op: n.op.clone(),
        reason: format!(
            "output {value} has no known size (bind its symbolic dimensions before planning)"
        ),
    }
}
