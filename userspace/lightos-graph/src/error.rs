//! What can go wrong loading or analysing a model: every error names the node, tensor or file at
//! fault, and nothing is half-loaded (a loader that fails returns no graph).

use std::path::PathBuf;

/// A `lightos-graph` error.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (truncated or corrupt protobuf).
    #[error("{what}: not a valid ONNX model ({reason})")]
    Decode {
        /// The file (or "model bytes").
        what: String,
        /// The protobuf decoder's reason.
        reason: String,
    },
    /// The model imports an opset of the default domain outside what this loader knows.
    #[error("opset {opset} of the default ONNX domain: this loader supports {min} to {max}")]
    Opset {
        /// The model's opset.
        opset: i64,
        /// The oldest supported.
        min: i64,
        /// The newest supported.
        max: i64,
    },
    /// A node runs an op (or an op version) this engine does not support.
    #[error("node {node}: op {op} (domain '{domain}', opset {opset}) is not supported")]
    UnsupportedOp {
        /// The node's name (or `#index` when it has none).
        node: String,
        /// Its op type.
        op: String,
        /// Its domain ("" for the default one).
        domain: String,
        /// The model's opset for that domain.
        opset: i64,
    },
    /// A node has an attribute this engine does not support (or an unsupported value of one).
    #[error("node {node} ({op}, opset {opset}): attribute {attr}: {reason}")]
    UnsupportedAttr {
        /// The node.
        node: String,
        /// Its op type.
        op: String,
        /// The model's opset.
        opset: i64,
        /// The attribute.
        attr: String,
        /// Why it is refused.
        reason: String,
    },
    /// A tensor (initializer, constant, input) is malformed.
    #[error("tensor {tensor}: {reason}")]
    Tensor {
        /// Its name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A node reads a value nothing produces.
    #[error(
        "node {node}: input {value} is not a graph input, an initializer or any node's output"
    )]
    UnknownValue {
        /// The node.
        node: String,
        /// The value it reads.
        value: String,
    },
    /// Two producers for one value.
    #[error("value {value} is produced twice (node {node} and an earlier producer)")]
    Duplicate {
        /// The second producer.
        node: String,
        /// The value.
        value: String,
    },
    /// The nodes form a cycle (a graph must be acyclic).
    #[error("the graph has a cycle through node {node}")]
    Cycle {
        /// A node on the cycle.
        node: String,
    },
    /// A node no primitive of the ABI runs (yet), with what is missing.
    #[error("node {node} ({op}): cannot run through /dev/lightos: {reason}")]
    Lower {
        /// The node.
        node: String,
        /// Its op type.
        op: String,
        /// What the ABI or this compiler lacks.
        reason: String,
    },
    /// A run's inputs do not match the graph, or an engine failed.
    #[error("{what}: {reason}")]
    Run {
        /// The input, node or engine at fault.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// A run stopped when its caller asked ([`crate::engine::Engine::run_until`]) after `done` of
    /// its `total` steps had ended; the jobs submitted before had all ended.
    #[error("interrupted after {done} of {total} steps")]
    Interrupted {
        /// Steps that ran.
        done: usize,
        /// Steps of the program.
        total: usize,
    },
    /// Shapes or dtypes that do not fit the op.
    #[error("node {node} ({op}): {reason}")]
    Shape {
        /// The node.
        node: String,
        /// Its op type.
        op: String,
        /// What does not fit.
        reason: String,
    },
}

/// `Result` with a [`GraphError`].
pub type Result<T, E = GraphError> = std::result::Result<T, E>;
