//! Synthetic weights: a model's float weights replaced by seeded random values, for running a
//! network whose file carries none worth running (the ONNX model zoo's light networks fill every
//! weight with 0.02, so every class scores the same) and for comparing two engines on outputs that
//! differ from class to class. Reproducible: the same seed gives the same weights everywhere.

use crate::ir::{DType, Graph, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` values uniform in [-1, 1) from `seed`.
fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Replaces every f32 initializer of `graph` (run the `constants` pass first, so that fills are
/// initializers) with seeded values: He-scaled for weights of two or more dimensions
/// (`±√(6/fan_in)`, fan-in the product of all but the first dimension, or the larger of a
/// matrix's two), `1 ± 0.1` for a batch normalization's scale and variance, `±0.1` otherwise.
pub fn randomize(graph: &mut Graph, seed: u64) {
    let bn = |k: usize| -> Vec<String> {
        graph
            .nodes
            .iter()
            .filter(|n| n.op == "BatchNormalization")
            .filter_map(|n| n.input(k).map(str::to_string))
            .collect()
    };
    let (scales, variances) = (bn(1), bn(4));
    for (i, (name, t)) in graph.initializers.iter_mut().enumerate() {
        if t.dtype != DType::F32 {
            continue;
        }
        let n = t.elements() as usize;
        let u = uniform(n, seed.wrapping_add(i as u64));
        let d = &t.dims;
        let values: Vec<f32> = if scales.contains(name) || variances.contains(name) {
            u.iter().map(|x| 1.0 + 0.1 * x).collect()
        } else if d.len() >= 2 {
            let fan_in = if d.len() == 2 {
                d[0].max(d[1])
            } else {
                d[1..].iter().product()
            };
            let a = (6.0 / fan_in.max(1) as f32).sqrt();
            u.iter().map(|x| a * x).collect()
        } else {
            u.iter().map(|x| 0.1 * x).collect()
        };
        *t = Tensor::from_floats(t.dims.clone(), &values);
    }
}

/// Removes a softmax that ends the graph (its producer then writes the graph's output): logits
/// compare better than probabilities, which saturate. Returns whether it did.
pub fn drop_final_softmax(graph: &mut Graph) -> bool {
    let Some(last) = graph.nodes.last() else {
        return false;
    };
    let Some(out) = graph.outputs.first().map(|o| o.name.clone()) else {
        return false;
    };
    if last.op != "Softmax" || last.outputs.first() != Some(&out) {
        return false;
    }
    let logits = last.inputs[0].clone();
    graph.nodes.pop();
    for o in graph.nodes.iter_mut().flat_map(|n| n.outputs.iter_mut()) {
        if *o == logits {
            *o = out.clone();
        }
    }
    graph.values.remove(&logits);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Node, ValueInfo};

    #[test]
    fn uniform_values_are_in_range_and_reproducible() {
        let v = uniform(10_000, 3);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert_eq!(v, uniform(10_000, 3));
        assert_ne!(v, uniform(10_000, 4));
    }

    #[test]
    fn a_final_softmax_is_dropped_and_its_producer_writes_the_output() {
        let node = |op: &str, i: &str, o: &str| Node {
            name: op.into(),
            op: op.into(),
            inputs: vec![i.into()],
            outputs: vec![o.into()],
            attrs: Default::default(),
        };
        let mut g = Graph {
            nodes: vec![node("Relu", "x", "y"), node("Softmax", "y", "p")],
            outputs: vec![ValueInfo {
                name: "p".into(),
                dtype: DType::F32,
                shape: None,
            }],
            ..Default::default()
        };
        assert!(drop_final_softmax(&mut g));
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].outputs, ["p"]);
        assert!(!drop_final_softmax(&mut g));
    }
}
