//! Topological order: every node after the producers of its inputs, with the checks that make a
//! graph well-formed (each value produced once, every input known, no cycle). Used by both loaders.

use crate::{
    ir::{Graph, Node},
    GraphError, Result,
};
use std::collections::HashMap;

/// Orders `nodes` so that each comes after the producers of its inputs (Kahn's algorithm, stable).
pub(crate) fn sort(nodes: Vec<Node>, graph: &Graph) -> Result<Vec<Node>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for out in n.outputs.iter().filter(|o| !o.is_empty()) {
            let given =
                graph.initializers.contains_key(out) || graph.inputs.iter().any(|v| &v.name == out);
            if given || producer.insert(out, i).is_some() {
                return Err(GraphError::Duplicate {
                    node: n.name.clone(),
                    value: out.clone(),
                });
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for input in n.inputs.iter().filter(|s| !s.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    waiting[i] += 1;
                    consumers[p].push(i);
                }
                None if graph.initializers.contains_key(input)
                    || graph.inputs.iter().any(|v| &v.name == input) => {}
                None => {
                    return Err(GraphError::UnknownValue {
                        node: n.name.clone(),
                        value: input.clone(),
                    })
                }
            }
        }
    }
    let mut ready: std::collections::VecDeque<usize> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &c in &consumers[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        return Err(GraphError::Cycle {
            node: nodes[stuck].name.clone(),
        });
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
