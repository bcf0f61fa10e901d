//! Compilation: an optimized graph with every shape known becomes a [`Program`] — the
//! `/dev/lightos` primitives that run it, in order, with the dependencies between them, over a few
//! memory spaces: the arena the memory planner laid out ([`crate::plan`]), one space per graph
//! input, and the weights (initializers and constant fills, packed into spaces no larger than one
//! buffer may be). Every op of the graph becomes primitives or a view; nothing is computed here but
//! constants derived from weights (a batch normalization's per-channel scale and shift, weights
//! re-laid out for a split matrix product). An engine ([`crate::engine`]) maps the spaces to
//! buffers and submits the primitives.

pub mod layout;
mod ops;

use crate::{
    ir::{known, DType, Graph, Node},
    plan::{self, Plan},
    GraphError, Result,
};
use layout::View;
use lightos_uapi as uapi;
use serde::Serialize;
use std::collections::HashMap;

/// The largest weight space; a weight larger than this is split by its consumer (a matrix
/// product's columns) or refused.
pub const WEIGHT_SPACE: u64 = uapi::MAX_BUFFER_SIZE / 2;

/// What a memory space holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    /// The planned arena: every value a run produces.
    Arena,
    /// Graph input `name`, written by the caller before each run.
    Feed(String),
    /// Weights: written once, read-only to jobs.
    Weights,
    /// Working storage of lowered ops (a convolution's columns), zeroed once when created; each
    /// region is only ever written at the same positions, so what is never written stays zero.
    Scratch,
}

/// How the compiler lowers ops the target backend lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Convolutions as column copies (`COPY`, im2col) and a `MATMUL` (plus `ADD` for the bias and
    /// `RELU`), for a device that runs only matrix products (photonic0); grouped convolutions
    /// stay `CONV2D`s.
    pub conv_as_matmul: bool,
    /// MATMULs without the bias and ReLU epilogue (ABI 1.11), which a device may not run
    /// (photonic0): the bias as an ADD, the ReLU as a RELU.
    pub plain_matmul: bool,
}

impl Options {
    /// What a device that runs MATMUL alone (no CONV2D, no epilogue) needs: photonic0.
    pub fn matmul_only() -> Self {
        Self {
            conv_as_matmul: true,
            plain_matmul: true,
        }
    }
}

/// One memory space: an engine's buffer.
#[derive(Clone, Debug)]
pub struct Space {
    /// What it holds.
    pub kind: SpaceKind,
    /// Bytes.
    pub size: u64,
    /// Its contents when they are known before a run (weights); empty otherwise.
    pub data: Vec<u8>,
}

/// Where a graph input or output lives.
#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    /// The value's name.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its dimensions.
    pub dims: Vec<u64>,
    /// The space holding it.
    pub space: u32,
    /// Byte offset there.
    pub offset: u64,
}

impl Binding {
    /// Bytes.
    pub fn bytes(&self) -> u64 {
        self.dims.iter().product::<u64>() * self.dtype.size() as u64
    }
}

/// One primitive of the program.
#[derive(Clone, Debug)]
pub struct Step {
    /// The graph node it runs (part of).
    pub node: String,
    /// The node's op.
    pub op: String,
    /// The primitive; each operand's `buffer` is a space index until an engine maps it.
    pub prim: uapi::Primitive,
    /// Earlier steps it must wait for (what it reads was written there, or what it writes was
    /// read or written there), transitively reduced; at most [`uapi::MAX_DEPS`].
    pub deps: Vec<usize>,
}

/// A compiled graph.
#[derive(Clone, Debug)]
pub struct Program {
    /// The memory spaces; space 0 is the arena.
    pub spaces: Vec<Space>,
    /// The primitives, in an order that respects their dependencies.
    pub steps: Vec<Step>,
    /// The graph's inputs.
    pub inputs: Vec<Binding>,
    /// The graph's outputs.
    pub outputs: Vec<Binding>,
    /// The memory plan of the arena.
    pub plan: Plan,
}

impl Program {
    /// Bytes of every weight space.
    pub fn weight_bytes(&self) -> u64 {
        self.spaces
            .iter()
            .filter(|s| s.kind == SpaceKind::Weights)
            .map(|s| s.size)
            .sum()
    }
}

/// Compiles `graph` (optimized or not; shapes inferred with every dimension known).
pub fn compile(graph: &Graph) -> Result<Program> {
    compile_with(graph, Options::default())
}

/// Compiles `graph` with `options`.
pub fn compile_with(graph: &Graph, options: Options) -> Result<Program> {
    let plan = plan::plan(graph)?;
    let mut b = Builder {
        graph,
        locs: HashMap::new(),
        spaces: vec![Space {
            kind: SpaceKind::Arena,
            size: plan.peak.max(plan::ALIGN),
            data: Vec::new(),
        }],
        weights: None,
        pending: HashMap::new(),
        scratch: HashMap::new(),
        options,
        steps: Vec::new(),
        plan: &plan,
    };
    let mut inputs = Vec::new();
    for input in &graph.inputs {
        let dims = dims_of(graph, &input.name, "graph input")?;
        if !(input.dtype == DType::I64 && only_indices(graph, &input.name)) {
            f32_only(input.dtype, &input.name)?;
        }
        let space = b.spaces.len() as u32;
        let bytes = dims.iter().product::<u64>() * input.dtype.size() as u64;
        b.spaces.push(Space {
            kind: SpaceKind::Feed(input.name.clone()),
            size: bytes.max(plan::ALIGN),
            data: Vec::new(),
        });
        b.locs
            .insert(input.name.clone(), View::dense(space, 0, &dims));
        inputs.push(Binding {
            name: input.name.clone(),
            dtype: input.dtype,
            dims,
            space,
            offset: 0,
        });
    }
    for node in &graph.nodes {
        ops::lower(&mut b, node)?;
    }
    let mut outputs = Vec::new();
    for output in &graph.outputs {
        let v = b.loc(&output.name, "graph output")?;
        if v.space != 0 || v.strides != layout::contiguous(&v.dims) {
            return Err(GraphError::Lower {
                node: output.name.clone(),
                op: "output".into(),
                reason: "a graph output that is an input or a weight is not run".into(),
            });
        }
        let dtype = graph.value(&output.name).map_or(DType::F32, |v| v.dtype);
        outputs.push(Binding {
            name: output.name.clone(),
            dtype,
            dims: v.dims.clone(),
            space: v.space,
            offset: v.offset,
        });
    }
    let mut steps = b.steps;
    link(&mut steps, &b.spaces)?;
    Ok(Program {
        spaces: b.spaces,
        steps,
        inputs,
        outputs,
        plan,
    })
}

/// The compiler's state while it walks the nodes.
pub(crate) struct Builder<'g> {
    pub(crate) graph: &'g Graph,
    pub(crate) plan: &'g Plan,
    /// Where each value computed so far (or placed weight) lives.
    pub(crate) locs: HashMap<String, View>,
    pub(crate) spaces: Vec<Space>,
    /// The weight space being filled.
    weights: Option<u32>,
    /// Constant fills and reshaped constants, placed when a primitive first reads them (a matrix
    /// product may split one instead).
    pub(crate) pending: HashMap<String, (Vec<u64>, Vec<u8>)>,
    /// Scratch regions by what they hold (one per convolution geometry), with their views.
    pub(crate) scratch: HashMap<String, View>,
    pub(crate) options: Options,
    pub(crate) steps: Vec<Step>,
}

impl Builder<'_> {
    /// Where value `name` lives: computed, fed, or an initializer (placed on first use).
    pub(crate) fn loc(&mut self, name: &str, node: &str) -> Result<View> {
        if let Some(v) = self.locs.get(name) {
            return Ok(v.clone());
        }
        if let Some((dims, bytes)) = self.pending.remove(name) {
            let v = self.place(name, &dims, &bytes)?;
            self.locs.insert(name.into(), v.clone());
            return Ok(v);
        }
        let Some(t) = self.graph.initializers.get(name) else {
            return Err(GraphError::UnknownValue {
                node: node.into(),
                value: name.into(),
            });
        };
        f32_only(t.dtype, name)?;
        let data = t.data.clone();
        let v = self.place(name, &t.dims.clone(), &data)?;
        self.locs.insert(name.into(), v.clone());
        Ok(v)
    }

    /// Places `bytes` (f32 elements of `dims`) in a weight space; `name` names it in errors.
    pub(crate) fn place(&mut self, name: &str, dims: &[u64], bytes: &[u8]) -> Result<View> {
        let len = bytes.len() as u64;
        if len > WEIGHT_SPACE {
            return Err(GraphError::Tensor {
                tensor: name.into(),
                reason: format!(
                    "{len} bytes: a weight space holds at most {WEIGHT_SPACE} (only a matrix \
                     product's weights are split)"
                ),
            });
        }
        let fits = self.weights.filter(|&s| {
            let at = self.spaces[s as usize].size.next_multiple_of(plan::ALIGN);
            at + len <= WEIGHT_SPACE
        });
        let space = match fits {
            Some(s) => s,
            None => {
                self.spaces.push(Space {
                    kind: SpaceKind::Weights,
                    size: 0,
                    data: Vec::new(),
                });
                let s = self.spaces.len() as u32 - 1;
                self.weights = Some(s);
                s
            }
        };
        let sp = &mut self.spaces[space as usize];
        let at = sp.size.next_multiple_of(plan::ALIGN);
        sp.data.resize(at as usize, 0);
        sp.data.extend_from_slice(bytes);
        sp.size = sp.data.len() as u64;
        Ok(View::dense(space, at, dims))
    }

    /// The scratch region `key` of `dims` (f32), created zeroed on first use in a scratch space
    /// no larger than a weight space.
    pub(crate) fn scratch(&mut self, key: &str, dims: &[u64]) -> Result<View> {
        if let Some(v) = self.scratch.get(key) {
            return Ok(v.clone());
        }
        let len = dims.iter().product::<u64>() * 4;
        let fits = |s: &Space| s.kind == SpaceKind::Scratch && s.size + len <= WEIGHT_SPACE;
        let space = match self.spaces.iter().rposition(fits) {
            Some(s) => s,
            None if len <= WEIGHT_SPACE => {
                self.spaces.push(Space {
                    kind: SpaceKind::Scratch,
                    size: 0,
                    data: Vec::new(),
                });
                self.spaces.len() - 1
            }
            None => {
                return Err(GraphError::Tensor {
                    tensor: key.into(),
                    reason: format!("{len} bytes of scratch: a space holds at most {WEIGHT_SPACE}"),
                })
            }
        };
        let sp = &mut self.spaces[space];
        let at = sp.size.next_multiple_of(plan::ALIGN);
        sp.size = at + len;
        let v = View::dense(space as u32, at, dims);
        self.scratch.insert(key.into(), v.clone());
        Ok(v)
    }

    /// The arena view of value `name`, produced by `node`, as the plan placed it.
    pub(crate) fn arena(&mut self, name: &str, node: &Node) -> Result<View> {
        let dims = dims_of(self.graph, name, &node.name)?;
        let p = self
            .plan
            .values
            .get(name)
            .ok_or_else(|| GraphError::Lower {
                node: node.name.clone(),
                op: node.op.clone(),
                reason: format!("output {name} has no place in the memory plan"),
            })?;
        let v = View::dense(0, p.offset, &dims);
        self.locs.insert(name.into(), v.clone());
        Ok(v)
    }

    /// Appends a primitive of `op` over `operands` (inputs, then the output) for `node`.
    pub(crate) fn emit(
        &mut self,
        node: &Node,
        op: u16,
        operands: &[View],
        params: [u64; 4],
    ) -> Result<()> {
        let mut prim = uapi::Primitive {
            op,
            dtype: uapi::DTYPE_F32,
            n_inputs: (operands.len() - 1) as u8,
            params,
            ..Default::default()
        };
        // A scalar broadcast (every stride 0) gets a leading dimension of one, so that it is not
        // read as contiguous; operands of one shape (element-wise ops) all get it, or the kernel
        // sees shapes that differ.
        let scalar = |v: &View| {
            v.strides.iter().all(|&s| s == 0) && v.strides != layout::contiguous(&v.dims)
        };
        let same = operands.iter().all(|v| v.dims == operands[0].dims);
        let widened: Vec<View>;
        let operands = if same && operands.iter().any(scalar) {
            widened = operands
                .iter()
                .map(|v| {
                    let mut w = v.clone();
                    w.dims.insert(0, 1);
                    w.strides.insert(0, v.elements().max(1));
                    w
                })
                .collect();
            &widened[..]
        } else {
            operands
        };
        for (slot, v) in prim.operands.iter_mut().zip(operands) {
            *slot = layout::tensor(v).ok_or_else(|| GraphError::Lower {
                node: node.name.clone(),
                op: node.op.clone(),
                reason: format!(
                    "an operand of {} dimensions {:?} does not fit the ABI's {}",
                    v.dims.len(),
                    v.dims,
                    uapi::MAX_DIMS
                ),
            })?;
        }
        self.steps.push(Step {
            node: node.name.clone(),
            op: node.op.clone(),
            prim,
            deps: Vec::new(),
        });
        Ok(())
    }
}

/// The known dimensions of `value`.
pub(crate) fn dims_of(graph: &Graph, value: &str, node: &str) -> Result<Vec<u64>> {
    graph
        .value(value)
        .and_then(|v| v.shape)
        .and_then(|s| known(&s))
        .ok_or_else(|| GraphError::Shape {
            node: node.into(),
            op: String::new(),
            reason: format!("{value} has no known shape (bind its symbolic dimensions first)"),
        })
}

/// The number of rows an index input picks from: the smallest size, along the gathered axis, of
/// the data of every `Gather` reading it (0 when none does). Valid indices are below it.
pub fn index_bound(graph: &Graph, value: &str) -> u64 {
    graph
        .nodes
        .iter()
        .filter(|n| n.op == "Gather" && n.input(1) == Some(value))
        .filter_map(|n| {
            let dims = dims_of(graph, n.input(0)?, &n.name).ok()?;
            let axis = n.int("axis", 0);
            let axis = if axis < 0 {
                axis + dims.len() as i64
            } else {
                axis
            };
            dims.get(usize::try_from(axis).ok()?).copied()
        })
        .min()
        .unwrap_or(0)
}

/// Whether every reader of `value` reads it as a `Gather`'s indices.
fn only_indices(graph: &Graph, value: &str) -> bool {
    graph.nodes.iter().all(|n| {
        n.inputs
            .iter()
            .enumerate()
            .all(|(i, v)| v != value || (n.op == "Gather" && i == 1))
    })
}

fn f32_only(dtype: DType, value: &str) -> Result<()> {
    if dtype == DType::F32 {
        Ok(())
    } else {
        Err(GraphError::Tensor {
            tensor: value.into(),
            reason: format!(
                "{}: the graph runs f32 values (and i64 indices of a Gather) only",
                dtype.name()
            ),
        })
    }
}

/// Fills in each step's dependencies: the last earlier step that wrote bytes it reads
/// (read after write), and every earlier step that read or wrote bytes it writes since they were
/// last written (write after read, write after write); then drops those another dependency
/// already implies.
fn link(steps: &mut [Step], spaces: &[Space]) -> Result<()> {
    let weights: Vec<bool> = spaces
        .iter()
        .map(|s| s.kind == SpaceKind::Weights)
        .collect();
    let range = |p: &uapi::Primitive, i: usize| {
        let (a, b) = layout::operand_extent(p, i);
        (p.operands[i].buffer, a, b)
    };
    let overlaps = |x: Range, y: Range| x.0 == y.0 && x.1 < y.2 && y.1 < x.2;
    /// A byte range of a space: (space, start, end).
    type Range = (u32, u64, u64);
    let io: Vec<(Vec<Range>, Range)> = steps
        .iter()
        .map(|s| {
            let n = s.prim.n_inputs as usize;
            let reads = (0..n)
                .filter(|&i| !weights[s.prim.operands[i].buffer as usize])
                .map(|i| range(&s.prim, i))
                .collect();
            (reads, range(&s.prim, n))
        })
        .collect();
    // Ancestors as bit sets, for the transitive reduction.
    let words = steps.len().div_ceil(64);
    let mut ancestors: Vec<Vec<u64>> = Vec::with_capacity(steps.len());
    for i in 0..steps.len() {
        let (reads, write) = &io[i];
        let mut direct: Vec<usize> = Vec::new();
        for j in (0..i).rev() {
            let (jr, jw) = &io[j];
            let raw = reads.iter().any(|&r| overlaps(r, *jw));
            let war = jr.iter().any(|&r| overlaps(r, *write)) || overlaps(*jw, *write);
            if raw || war {
                direct.push(j);
            }
        }
        // Keep only the dependencies no other kept one already reaches.
        direct.sort_unstable_by(|a, b| b.cmp(a));
        let mut set = vec![0u64; words];
        let mut kept = Vec::new();
        for &j in &direct {
            if set[j / 64] >> (j % 64) & 1 == 1 {
                continue;
            }
            kept.push(j);
            set[j / 64] |= 1 << (j % 64);
            for (w, a) in set.iter_mut().zip(&ancestors[j]) {
                *w |= a;
            }
        }
        if kept.len() > uapi::MAX_DEPS as usize {
            return Err(GraphError::Lower {
                node: steps[i].node.clone(),
                op: steps[i].op.clone(),
                reason: format!(
                    "{} dependencies, the ABI takes {}",
                    kept.len(),
                    uapi::MAX_DEPS
                ),
            });
        }
        kept.sort_unstable();
        steps[i].deps = kept;
        ancestors.push(set);
    }
    Ok(())
}
