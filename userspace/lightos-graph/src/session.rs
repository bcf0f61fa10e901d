//! A session: a model's graph (loaded, inputs bound, optimized) compiled for where it runs, with
//! the engine that runs it. What `lightos model run | bench` and the Python `InferenceSession`
//! share: where to run (`auto`, `local`, `governor` or a backend's name), the routes that send a
//! backend its ops, the lowering for a backend that runs only `MATMUL` (photonic0), the engine.

use crate::{
    compile::{self, Program},
    engine::{Device, Engine, InProcess},
    inspect,
    ir::Graph,
    placement::{self, Placement},
    GraphError, Result,
};
use lightos_governor::gpu::GpuTelemetry;
use lightos_runtime::{Context, Op};
use std::path::Path;

/// Where a session runs.
#[derive(Clone, Copy, Debug)]
pub struct Where<'a> {
    /// The device node (`/dev/lightos`).
    pub node: &'a Path,
    /// `auto` (the kernel when the node exists, its own routing; else local), `local` (the CPU
    /// backend in this process), `governor` (the MATMULs on the backend the PowerGovernor
    /// chooses) or a backend's name (every op it runs routed to it).
    pub device: &'a str,
    /// Threads of the in-process engine.
    pub threads: usize,
    /// The PowerGovernor's policy, for `governor`.
    pub policy: lightos_governor::Policy,
    /// Whether the in-process engine packs each convolution's filter once
    /// ([`InProcess::pack_weights_once`]; else on every run, as the kernel's CPU backend does).
    pub pack_weights_once: bool,
}

/// A compiled graph and its engine.
pub struct Session {
    /// The engine (its program: [`Engine::program`]).
    pub engine: Box<dyn Engine>,
    /// Where it runs, in words.
    pub device: String,
    /// The PowerGovernor's choice, with `governor`.
    pub placement: Option<Placement>,
    /// The backend each op is routed to (`None`: the kernel's choice, or this process).
    routed: Option<(String, u64)>,
}

/// One step of the last run: the node it ran (part of), the primitive, where, and for how long.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepProfile {
    /// The graph node.
    pub node: String,
    /// The node's op (`Conv`, `MatMul`, …).
    pub op: String,
    /// The ABI primitive (`matmul`, `copy`, …).
    pub primitive: String,
    /// The backend that ran it: the routed backend's name, `local` in process, or `kernel` where
    /// the kernel's own routing chose.
    pub device: String,
    /// Nanoseconds: the device's own count through the kernel, wall time in process.
    pub ns: u64,
}

/// The error for where a session cannot run.
fn target_error(reason: impl std::fmt::Display) -> GraphError {
    GraphError::Run {
        what: "device".into(),
        reason: reason.to_string(),
    }
}

/// A kernel context routing there, with the ops of the backend named (every op for `auto`).
struct Target {
    ctx: Context,
    ops: u64,
    description: String,
    /// The backend routed to (`None` for `auto`).
    backend: Option<String>,
}

/// A context that routes every op backend `want` runs to it (`auto`: the kernel's own routing).
fn kernel_target(node: &Path, want: &str) -> Result<Target> {
    let ctx = Context::open_path(node).map_err(target_error)?;
    let backends = ctx.backends().map_err(target_error)?;
    let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    if backends.is_empty() {
        return Err(target_error(
            "no backend is registered with the kernel: start one (`lightosd &`), or run locally",
        ));
    }
    if want == "auto" {
        let description = format!(
            "{} (the kernel's routing among {})",
            node.display(),
            names.join(", ")
        );
        return Ok(Target {
            ctx,
            ops: u64::MAX,
            description,
            backend: None,
        });
    }
    let Some(b) = backends.iter().find(|b| b.name == want) else {
        return Err(target_error(format!(
            "no backend named '{want}' (registered: {}; or local)",
            names.join(", ")
        )));
    };
    let mut routed = Vec::new();
    for op in Op::ALL.iter().filter(|op| b.ops & op.bit() != 0) {
        ctx.add_route(Some(*op), None, 0..=u64::MAX, b.id)
            .map_err(target_error)?;
        routed.push(format!("{op:?}").to_lowercase());
    }
    let description = format!(
        "{want} via {} (routed there: {}; other ops: the kernel's choice)",
        node.display(),
        routed.join(", ")
    );
    Ok(Target {
        ctx,
        ops: b.ops,
        description,
        backend: Some(want.to_string()),
    })
}

/// `graph` ready to compile: shapes inferred, then the passes `enabled` names run (every loader
/// of a model for running does this first: the CLI, the Python package, the agent).
pub fn prepare(mut graph: Graph, enabled: impl Fn(&str) -> bool) -> Result<Graph> {
    crate::shape::infer(&mut graph)?;
    crate::passes::optimize(&mut graph, enabled)?;
    Ok(graph)
}

/// `graph` with its inputs' shapes bound to `dims` (one list per input) and every shape inferred
/// again: what [`Session::start`] compiles for a model with symbolic dimensions.
pub fn bind(graph: &Graph, dims: &[Vec<u64>]) -> Result<Graph> {
    let mut g = graph.clone();
    for (v, d) in g.inputs.iter_mut().zip(dims) {
        v.shape = Some(d.iter().map(|&n| crate::ir::Dim::Known(n)).collect());
        // Inference reads inputs from the value table: bind them there too.
        g.values.insert(v.name.clone(), v.clone());
    }
    crate::shape::infer(&mut g)?;
    Ok(g)
}

/// A kernel context on `node` whose ops go to backend `want` (every op it runs routed there;
/// `auto`: the kernel's own routing), and where that is, in words. For clients that submit their
/// own primitives (the Python package's `Context`).
pub fn kernel_context(node: &Path, want: &str) -> Result<(Context, String)> {
    kernel_target(node, want).map(|t| (t.ctx, t.description))
}

impl Session {
    /// Compiles `graph` (optimized, every input's shape known) for `at` and starts its engine.
    /// `gpus` reads `cudaN` backends' sensors for the governor.
    pub fn start(
        graph: &Graph,
        at: Where<'_>,
        gpus: impl FnOnce(&[&str]) -> Option<Box<dyn GpuTelemetry>>,
    ) -> Result<Self> {
        let local = at.device == "local" || (at.device == "auto" && !at.node.exists());
        let mut placement = None;
        let target = if local {
            None
        } else if at.device == "governor" {
            let ctx = Context::open_path(at.node).map_err(target_error)?;
            let names: Vec<String> = ctx
                .backends()
                .map_err(target_error)?
                .into_iter()
                .map(|b| b.name)
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let flops = inspect::summarize(graph).flops;
            let p =
                placement::governed(ctx, flops, at.policy, gpus(&refs)).map_err(target_error)?;
            let t = kernel_target(at.node, &p.backend)?;
            placement = Some(p);
            Some(t)
        } else {
            Some(kernel_target(at.node, at.device)?)
        };
        // A backend that runs MATMUL but not CONV2D (photonic0) gets convolutions as matrix
        // products and MATMULs without the epilogue.
        let matmul_only = target
            .as_ref()
            .is_some_and(|t| t.ops & Op::Matmul.bit() != 0 && t.ops & Op::Conv2d.bit() == 0);
        let options = if matmul_only {
            compile::Options::matmul_only()
        } else {
            compile::Options::default()
        };
        let program: Program = compile::compile_with(graph, options)?;
        let threads = at.threads.max(1);
        let routed = match &target {
            None => Some(("local".to_string(), u64::MAX)),
            Some(t) => t.backend.clone().map(|b| (b, t.ops)),
        };
        let (engine, device): (Box<dyn Engine>, String) = match target {
            None if at.device == "local" => (
                Box::new(InProcess::new(program, threads)?.pack_weights_once(at.pack_weights_once)),
                format!("local (the CPU backend in this process, {threads} threads; no kernel)"),
            ),
            None => (
                Box::new(InProcess::new(program, threads)?.pack_weights_once(at.pack_weights_once)),
                format!(
                    "local ({} is absent: the CPU backend in this process)",
                    at.node.display()
                ),
            ),
            Some(t) => {
                let mut device = t.description;
                if matmul_only {
                    device +=
                        "; convolutions as column copies and MATMULs, epilogues as ADD and RELU";
                }
                (Box::new(Device::new(&t.ctx, program)?), device)
            }
        };
        Ok(Self {
            engine,
            device,
            placement,
            routed,
        })
    }

    /// Each step of the last run, in program order (empty before a run).
    pub fn profile(&self) -> Vec<StepProfile> {
        let program = self.engine.program();
        program
            .steps
            .iter()
            .zip(self.engine.step_ns())
            .map(|(step, &ns)| {
                let op = Op::from_raw(step.prim.op);
                let device = match (&self.routed, op) {
                    (Some((name, ops)), Some(op)) if ops & op.bit() != 0 => name.clone(),
                    _ => "kernel".to_string(),
                };
                StepProfile {
                    node: step.node.clone(),
                    op: step.op.clone(),
                    primitive: op.map_or("?".into(), |o| format!("{o:?}").to_lowercase()),
                    device,
                    ns,
                }
            })
            .collect()
    }
}
