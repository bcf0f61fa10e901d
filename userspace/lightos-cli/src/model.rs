//! `lightos model inspect | optimize`: what a model is before it runs (its inputs and outputs, op
//! counts, parameters and FLOPs) and what the graph passes make of it, from the graph engine
//! (lightos-graph) without opening the device.

use lightos_graph::{
    inspect::{self, Summary},
    ir::{shape_text, ValueInfo},
    native, passes, shape,
};
use std::path::Path;

/// Runs the passes `spec` selects on `path` (see `lightos_graph::passes::selection`), prints what
/// each changed, and writes the result in the native format to `output` when given.
pub fn optimize(
    path: &Path,
    spec: &str,
    output: Option<&Path>,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let on = passes::selection(spec)?;
    let mut graph = lightos_graph::load(path)?;
    shape::infer(&mut graph)?;
    let before = graph.nodes.len();
    let reports = passes::optimize(&mut graph, |p| on.contains(p))?;
    if let Some(out) = output {
        native::save(&graph, out)?;
    }
    // The memory plan of the result (what the passes did to the peak); none while a dimension is
    // symbolic.
    let plan = lightos_graph::plan::plan(&graph).ok();
    if json {
        let doc = serde_json::json!({
            "model": path.display().to_string(),
            "nodes_before": before,
            "nodes_after": graph.nodes.len(),
            "passes": reports,
            "output": output.map(|o| o.display().to_string()),
            "memory": plan.as_ref().map(|p| serde_json::json!({"peak": p.peak, "naive": p.naive})),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("model        {} ({before} nodes)", path.display());
    for r in &reports {
        if !r.ran {
            println!("pass {:<12} off", r.pass);
            continue;
        }
        println!(
            "pass {:<12} {} changes, {} nodes removed",
            r.pass,
            r.changes.len(),
            r.removed
        );
        for c in r.changes.iter().take(5) {
            println!("    {c}");
        }
        if r.changes.len() > 5 {
            println!("    … and {} more", r.changes.len() - 5);
        }
    }
    println!("result       {} nodes", graph.nodes.len());
    if let Some(p) = &plan {
        println!(
            "memory       {:.1} MB of activations at peak (naive {:.1} MB)",
            p.peak as f64 / 1e6,
            p.naive as f64 / 1e6
        );
    }
    if let Some(out) = output {
        println!("written      {} (native format)", out.display());
    }
    Ok(())
}

/// Loads `path`, infers its shapes and prints its summary as text or JSON.
pub fn inspect(path: &Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = lightos_graph::load(path)?;
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
    if let Some(m) = s.memory {
        out += &format!(
            "\nmemory       {:.1} MB of activations at peak (naive {:.1} MB; {:.1} MB computed from constants)",
            m.peak as f64 / 1e6,
            m.naive as f64 / 1e6,
            m.constants as f64 / 1e6
        );
    }
    out += &format!("\nnodes        {}\n", s.nodes);
    let mut ops: Vec<_> = s.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, n) in ops {
        out += &format!("  {op:<22} {n}\n");
    }
    // Where each node would run: the primitive it becomes on today's ABI, or what is missing.
    out += "lowering     (onto /dev/lightos's ABI today)\n";
    for (k, n) in &s.lowering {
        out += &format!("  {k:<22} {n}\n");
    }
    out
}
