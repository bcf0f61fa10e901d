//! The in-process engine: each step on the CPU backend's kernels, called directly.

use super::{read_outputs, step_error, write_feeds, Engine};
use crate::{
    compile::{layout, Program, SpaceKind},
    GraphError, Result,
};
use lightos_cpu::{exec, Gemm};

/// Runs a program in this process (no kernel, no jobs).
pub struct InProcess {
    program: Program,
    gemm: Gemm,
    /// One byte vector per space; the weights moved out of the program.
    spaces: Vec<Vec<u8>>,
    /// Each step's wall time in the last run.
    step_ns: Vec<u64>,
    /// Per step, its constant operands prepared by the CPU backend at its first run (a
    /// convolution's filter packed once), when [`InProcess::pack_weights_once`] is on.
    prepared: Vec<Prepare>,
}

/// What a step has prepared.
enum Prepare {
    /// Not looked at yet.
    Pending,
    /// Nothing to prepare (or preparing is off): every run is [`exec::execute`].
    Nothing,
    /// Runs with [`exec::execute_prepared`].
    Ready(exec::Prepared),
}

impl InProcess {
    /// An engine for `program` whose kernels use `threads` threads.
    pub fn new(mut program: Program, threads: usize) -> Result<Self> {
        check_elementwise_shapes(&program)?;
        let gemm = Gemm::new(threads.max(1)).map_err(|e| GraphError::Run {
            what: "the CPU backend".into(),
            reason: e.to_string(),
        })?;
        let spaces = program
            .spaces
            .iter_mut()
            .map(|s| match s.kind {
                SpaceKind::Weights => std::mem::take(&mut s.data),
                _ => vec![0u8; s.size as usize],
            })
            .collect();
        let step_ns = vec![0; program.steps.len()];
        let prepared = (0..program.steps.len()).map(|_| Prepare::Pending).collect();
        Ok(Self {
            program,
            gemm,
            spaces,
            step_ns,
            prepared,
        })
    }

    /// Whether each convolution's filter (a weight of the model) is packed once, at its first
    /// run, as onnxruntime does when it creates a session (on by default), or on every run as
    /// `/dev/lightos`'s CPU backend does today (whose buffers the user may rewrite between jobs):
    /// the same bits either way.
    pub fn pack_weights_once(mut self, on: bool) -> Self {
        let state = || {
            if on {
                Prepare::Pending
            } else {
                Prepare::Nothing
            }
        };
        self.prepared = (0..self.program.steps.len()).map(|_| state()).collect();
        self
    }

    /// Runs step `index`: its operands as slices of their spaces, the output's exclusive; an input
    /// overlapping the output (an in-place ADD) is read from a copy.
    fn step(&mut self, index: usize) -> Result<()> {
        let mut prim = self.program.steps[index].prim;
        let n = usize::from(prim.n_inputs);
        let ranges: Vec<(usize, usize, usize)> = (0..=n)
            .map(|i| {
                let (a, b) = layout::operand_extent(&prim, i);
                (prim.operands[i].buffer as usize, a as usize, b as usize)
            })
            .collect();
        for (i, &(s, a, b)) in ranges.iter().enumerate() {
            if self.spaces.get(s).is_none_or(|v| b > v.len()) || a > b {
                return Err(step_error(
                    &self.program,
                    index,
                    format!("operand {i} past its space"),
                ));
            }
            prim.operands[i].offset -= a as u64;
        }
        let (os, oa, ob) = ranges[n];
        let copies: Vec<Option<Vec<u8>>> = ranges[..n]
            .iter()
            .map(|&(s, a, b)| (s == os && a < ob && oa < b).then(|| self.spaces[s][a..b].to_vec()))
            .collect();
        let bases: Vec<*mut u8> = self.spaces.iter_mut().map(|v| v.as_mut_ptr()).collect();
        // SAFETY: every range was checked to lie inside its space; the output's range is the only
        // mutable slice, and no input slice taken from `bases` overlaps it (overlapping inputs are
        // the copies above). `self.spaces` is not otherwise touched while these slices live.
        let out = unsafe { std::slice::from_raw_parts_mut(bases[os].add(oa), ob - oa) };
        let inputs: Vec<&[u8]> = ranges[..n]
            .iter()
            .zip(&copies)
            .map(|(&(s, a, b), copy)| match copy {
                Some(c) => c.as_slice(),
                // SAFETY: as above: inside space `s`, disjoint from `out`.
                None => unsafe { std::slice::from_raw_parts(bases[s].add(a), b - a) },
            })
            .collect();
        if matches!(self.prepared[index], Prepare::Pending) {
            // Only an operand the program holds as a weight is constant from run to run.
            let weights = (n > 1).then_some(ranges[1].0);
            let constant = weights.is_some_and(
                |s| matches!(self.program.spaces.get(s), Some(sp) if sp.kind == SpaceKind::Weights),
            );
            self.prepared[index] = match constant {
                true => match exec::prepare(&self.gemm, &prim, inputs[1]) {
                    Ok(Some(p)) => Prepare::Ready(p),
                    Ok(None) => Prepare::Nothing,
                    Err(e) => return Err(step_error(&self.program, index, e)),
                },
                false => Prepare::Nothing,
            };
        }
        match &self.prepared[index] {
            Prepare::Ready(p) => exec::execute_prepared(&self.gemm, &prim, &inputs, out, p),
            _ => exec::execute(&self.gemm, &prim, &inputs, out),
        }
        .map_err(|e| step_error(&self.program, index, e))
    }
}

/// The kernel's rule for element-wise ops (ADD, MUL, BINARY, UNARY, RELU, GELU): every operand of
/// one step has the same dimensions (broadcasting is a stride). The CPU backend's kernels do not
/// need it, so the in-process engine checks it here, and refuses what `/dev/lightos` would.
fn check_elementwise_shapes(program: &Program) -> Result<()> {
    use lightos_uapi as uapi;
    for (i, step) in program.steps.iter().enumerate() {
        let p = &step.prim;
        let elementwise = matches!(
            p.op,
            uapi::OP_ADD
                | uapi::OP_MUL
                | uapi::OP_BINARY
                | uapi::OP_UNARY
                | uapi::OP_RELU
                | uapi::OP_GELU
        );
        let n = usize::from(p.n_inputs);
        let dims = |t: &uapi::Tensor| t.shape[..(t.ndim as usize).min(uapi::MAX_DIMS)].to_vec();
        if elementwise
            && p.operands[..=n]
                .iter()
                .any(|t| dims(t) != dims(&p.operands[0]))
        {
            let all: Vec<Vec<u64>> = p.operands[..=n].iter().map(dims).collect();
            return Err(step_error(
                program,
                i,
                format!("operands of one element-wise op with different shapes {all:?}"),
            ));
        }
    }
    Ok(())
}

impl Engine for InProcess {
    fn run(&mut self, feeds: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        self.run_until(feeds, &|| false)
    }

    fn run_until(&mut self, feeds: &[&[u8]], stop: &dyn Fn() -> bool) -> Result<Vec<Vec<u8>>> {
        write_feeds(&self.program, feeds, &mut self.spaces)?;
        let total = self.program.steps.len();
        for i in 0..total {
            if i > 0 && stop() {
                return Err(GraphError::Interrupted { done: i, total });
            }
            let t = std::time::Instant::now();
            self.step(i)?;
            self.step_ns[i] = t.elapsed().as_nanos() as u64;
        }
        Ok(read_outputs(&self.program, &self.spaces))
    }

    fn program(&self) -> &Program {
        &self.program
    }

    fn step_ns(&self) -> &[u64] {
        &self.step_ns
    }
}
