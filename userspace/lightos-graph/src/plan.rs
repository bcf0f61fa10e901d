//! The memory planner: every value a run produces gets an offset in one arena, reusing the bytes
//! of values no later node reads (liveness over the topological order, first fit over the free
//! ranges). Ops that only reinterpret their input (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`,
//! `Identity`, inference `Dropout`) are views: their output shares the input's bytes, which then
//! live as long as either is read. A `Concat` whose output's slices are contiguous (every dimension
//! before its axis is 1: channels of one image) is planned in place: each input a node computes is
//! placed at its slice of the output, so its producer writes it there and the concatenation copies
//! nothing (an input that cannot be, a graph input, a weight, a view or another concatenation, is
//! copied as before). Graph inputs (fed by the caller), initializers (weights) and
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
    /// The value whose bytes it views, if it is a view, or the concatenation it is placed in.
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

/// Values placed inside a concatenation's output: the output and the byte offset of their slice.
type Slots = HashMap<String, (String, u64)>;

/// The inputs of `Concat` nodes that can be placed at their slice of the output (see the module's
/// doc): computed by a node of the graph that is neither a view nor a concatenation, not a graph
/// output, named once in one concatenation only, the output's slices contiguous.
fn concat_slots(graph: &Graph) -> Slots {
    let producer: HashMap<&str, &crate::ir::Node> = graph
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let outputs: Vec<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut slots = Slots::new();
    for n in graph.nodes.iter().filter(|n| n.op == "Concat") {
        let Some(out) = n.outputs.first().filter(|o| !o.is_empty()) else {
            continue;
        };
        let Some((dims, esize)) = graph
            .value(out)
            .and_then(|v| Some((known(v.shape.as_deref()?)?, v.dtype.size() as u64)))
        else {
            continue;
        };
        let rank = dims.len() as i64;
        let axis = n.int("axis", 0);
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) || dims[..axis as usize].iter().product::<u64>() != 1 {
            continue;
        }
        let inner: u64 = dims[axis as usize + 1..].iter().product();
        let mut at = 0u64;
        for input in n.inputs.iter().filter(|i| !i.is_empty()) {
            let Some(extent) = graph
                .value(input)
                .filter(|v| v.dtype.size() as u64 == esize)
                .and_then(|v| known(v.shape.as_deref()?))
                .and_then(|d| d.get(axis as usize).copied())
            else {
                break; // an unknown slice: the rest cannot be placed either
            };
            let computed = producer.get(input.as_str()).is_some_and(|p| {
                p.op != "Concat"
                    && !is_view(&p.op)
                    && !p
                        .inputs
                        .iter()
                        .all(|s| s.is_empty() || graph.initializers.contains_key(s))
            });
            let once = n.inputs.iter().filter(|i| *i == input).count() == 1;
            if computed && once && !outputs.contains(&input.as_str()) && !slots.contains_key(input)
            {
                slots.insert(input.clone(), (out.clone(), at * inner * esize));
            }
            at += extent;
        }
    }
    slots
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
    // Concatenation inputs placed in their output: their byte offset in it, and their own size.
    let slots = concat_slots(graph);
    let mut within: HashMap<String, (u64, u64)> = HashMap::new();
    // The buffers each node's step brings to life, in order.
    let mut births: BTreeMap<usize, Vec<String>> = BTreeMap::new();
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
            if let Some(r) = viewed {
                // A view of a value placed in a concatenation: the same slice.
                if let Some(&w) = n.input(0).and_then(|i| within.get(i)) {
                    within.insert(out.clone(), w);
                }
                root.insert(out.clone(), r);
                continue;
            }
            // Its own buffer, or (a concatenation's input placed in it) its concatenation's, which
            // comes to life with its first such input; the concatenation then adds no buffer.
            let (buffer, buffer_bytes) = match slots.get(out) {
                Some((whole, at)) => {
                    within.insert(out.clone(), (*at, bytes));
                    let v = graph.value(whole).ok_or_else(|| unknown(n, whole))?;
                    let dims = v.shape.as_deref().and_then(known);
                    let dims = dims.ok_or_else(|| unknown(n, whole))?;
                    (
                        whole.clone(),
                        dims.iter().product::<u64>() * v.dtype.size() as u64,
                    )
                }
                None => (out.clone(), bytes),
            };
            root.insert(out.clone(), buffer.clone());
            if !size.contains_key(&buffer) {
                naive += buffer_bytes;
                size.insert(buffer.clone(), buffer_bytes);
                born.insert(buffer.clone(), i);
                dies.insert(buffer.clone(), i);
                births.entry(i).or_default().push(buffer.clone());
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
    for i in 0..graph.nodes.len() {
        for out in births.remove(&i).unwrap_or_default() {
            let len = size[&out].next_multiple_of(ALIGN).max(ALIGN);
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
            offset.insert(out, at);
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
        let (at, bytes) = within.get(v).copied().unwrap_or((0, size[r]));
        values.insert(
            v.clone(),
            Placement {
                offset: o + at,
                size: bytes,
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
