//! `lightos model inspect`: what a model is before it runs: its inputs and outputs, op counts,
//! parameters and FLOPs, from the graph engine (lightos-graph) without opening the device.

use lightos_graph::{
    inspect::{self, Summary},
    ir::{shape_text, ValueInfo},
    onnx, shape,
};
use std::path::Path;

/// Loads `path`, infers its shapes and prints its summary as text or JSON.
pub fn inspect(path: &Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = onnx::load(path)?;
    shape::infer(&mut graph)?;
    let summary = inspect::summarize(&graph);
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", text(path, &summary));
    }
    Ok(())
}

fn value(v: &ValueInfo) -> String {
    let shape = v.shape.as_deref().map_or_else(|| "[?]".into(), shape_text);
    format!("{} {}{}", v.name, v.dtype.name(), shape)
}

fn text(path: &Path, s: &Summary) -> String {
    let mut out = format!(
        "model        {} (graph {:?}, opset {})\n",
        path.display(),
        s.name,
        s.opset
    );
    for v in &s.inputs {
        out += &format!("input        {}\n", value(v));
    }
    for v in &s.outputs {
        out += &format!("output       {}\n", value(v));
    }
    out += &format!(
        "parameters   {} in {} initializers ({:.1} MB)\n",
        s.parameters,
        s.initializers,
        s.parameter_bytes as f64 / 1e6
    );
    out += &format!("flops        {:.3} G per run", s.flops as f64 / 1e9);
    if s.flops_unknown > 0 {
        out += &format!(" (+{} nodes whose shapes are unknown)", s.flops_unknown);
    }
    out += &format!("\nnodes        {}\n", s.nodes);
    let mut ops: Vec<_> = s.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, n) in ops {
        out += &format!("  {op:<22} {n}\n");
    }
    out
}
