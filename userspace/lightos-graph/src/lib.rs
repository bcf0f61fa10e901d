//! `lightos-graph`: models, not primitives. An IR for neural networks ([`ir`]: typed tensors,
//! shapes with symbolic dimensions, initializers that may be pages of the memory-mapped model
//! file), the ONNX loader ([`onnx`]: opsets 9 to 28, every unsupported op or attribute refused
//! with its node and opset), shape inference ([`shape`]) and the summary `lightos model inspect`
//! prints ([`inspect`]); graph passes ([`passes`]: constant folding, identity and dropout removal,
//! batch-norm folding, ReLU fusion, dead code), each switchable off; the memory planner ([`plan`]:
//! buffers reused by liveness, views for reshapes); lowering onto the ABI ([`lower`]: which
//! primitive each node becomes); compilation ([`compile`]: the graph as `/dev/lightos` primitives
//! over planned memory, with their dependencies, for a backend's capabilities) and the engines that
//! run a compiled program ([`engine`]: through the kernel, or in process on the CPU backend's
//! kernels); placement of the matrix products by the PowerGovernor ([`placement`]); a model compiled for
//! where it runs with its engine ([`session`]); synthetic weights ([`weights`]); the native format ([`native`]: the IR with its
//! weights in one safetensors file, mapped on load).
//!
//! ```no_run
//! let mut graph = lightos_graph::onnx::load(std::path::Path::new("resnet50.onnx"))?;
//! lightos_graph::shape::infer(&mut graph)?;
//! let summary = lightos_graph::inspect::summarize(&graph);
//! println!("{} nodes, {} FLOPs", summary.nodes, summary.flops);
//! # Ok::<(), lightos_graph::GraphError>(())
//! ```

pub mod compile;
pub mod engine;
pub mod error;
pub mod inspect;
pub mod ir;
pub mod lower;
pub mod native;
pub mod onnx;
pub mod passes;
pub mod placement;
pub mod plan;
pub mod session;
pub mod shape;
mod topo;
pub mod weights;

pub use error::{GraphError, Result};

/// Loads a model: the native format for a `.lgraph` file ([`native::load`]), ONNX otherwise
/// ([`onnx::load`]).
pub fn load(path: &std::path::Path) -> Result<ir::Graph> {
    if path.extension().is_some_and(|e| e == "lgraph") {
        native::load(path)
    } else {
        onnx::load(path)
    }
}
