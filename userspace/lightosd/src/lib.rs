//! `lightosd`: registers with `/dev/lightos` as an executor backend and runs the jobs the kernel
//! routes to it on one of two backends:
//! - the CPU backend ([`lightos_cpu`]): every op of the ABI in every dtype it allows, with the
//!   cache-blocked multithreaded GEMM; every op bit-reproducible whatever the thread count;
//! - the CUDA backend ([`lightos_cuda`]): MATMUL and ATTENTION through cuBLAS and the
//!   element-wise, softmax, layernorm and quantization ops as NVRTC kernels on an NVIDIA GPU, declared bit-reproducible
//!   run to run (cuBLAS on one compute stream: its guarantee for one GPU model and toolkit).
//!
//! SPIKE_ENCODE jobs run on `lightos_snn`'s encoder on either. A [`Server`] is the
//! [`JobHandler`] that `lightos_runtime::Executor::serve` drives: the daemon's, `lightos
//! executor`'s (the [`CORE_OPS`] on one thread) and the VM tests' executors.
//!
//! Killing the daemon is safe: the kernel fails its in-flight jobs with `DEVICE_LOST`, and clients
//! may resubmit them to another backend.

use lightos_cpu::Gemm;
use lightos_cuda::CudaDevice;
use lightos_runtime::{DType, ExecutorSpec, FetchedJob, JobHandler, Op, Outcome, Primitive};
use lightos_snn::encode_job;
use lightos_uapi as uapi;

/// The registration of a backend called `name` running `ops` in `dtypes` (ABI op numbers,
/// `1 << DTYPE_*`), all declared deterministic, plus SPIKE_ENCODE (the spiking engine's encoder).
fn spec_of(name: &str, ops: &[u16], dtypes: u32) -> ExecutorSpec {
    let ops = ops
        .iter()
        .filter_map(|&op| Op::from_raw(op))
        .chain([Op::SpikeEncode])
        .fold(0, |m, op| m | op.bit());
    ExecutorSpec {
        name: name.to_string(),
        ops,
        deterministic_ops: ops,
        dtypes: dtypes | DType::SpikeEvent.bit(),
    }
}

/// The registration of a CPU backend called `name`.
pub fn spec(name: &str) -> ExecutorSpec {
    spec_of(name, &lightos_cpu::exec::OPS, lightos_cpu::exec::DTYPES)
}

/// The core set: COPY, ADD, MUL, RELU, GELU, SOFTMAX, LAYERNORM, MATMUL on f32 and SPIKE_ENCODE.
pub const CORE_OPS: [Op; 9] = [
    Op::Copy,
    Op::Add,
    Op::Mul,
    Op::Relu,
    Op::Gelu,
    Op::Softmax,
    Op::LayerNorm,
    Op::Matmul,
    Op::SpikeEncode,
];

/// The registration of a CPU backend called `name` that runs only the [`CORE_OPS`] on f32, all
/// declared deterministic: what `lightos executor` serves, and the test executors.
pub fn core_spec(name: &str) -> ExecutorSpec {
    let ops: Vec<u16> = CORE_OPS.iter().map(|&op| op as u16).collect();
    spec_of(name, &ops, DType::F32.bit())
}

/// What one `lightosd` process computes on.
pub enum Backend {
    /// The CPU backend's engine.
    Cpu(Gemm),
    /// An opened GPU.
    Cuda(Box<CudaDevice>),
}

impl Backend {
    /// The registration of this backend under `name`.
    pub fn spec(&self, name: &str) -> ExecutorSpec {
        match self {
            Backend::Cpu(_) => spec(name),
            Backend::Cuda(_) => spec_of(name, &lightos_cuda::exec::OPS, lightos_cuda::exec::DTYPES),
        }
    }

    /// One line on what it runs on, for the daemon's log.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu(g) => format!(
                "CPU, {} threads, kernels {}, blocks {:?}",
                g.threads(),
                g.kernels(),
                g.blocking()
            ),
            Backend::Cuda(d) => {
                let i = d.info();
                format!(
                    "CUDA device {}: {}, {} MiB, compute capability {}.{}",
                    i.ordinal,
                    i.name,
                    i.memory >> 20,
                    i.capability.0,
                    i.capability.1
                )
            }
        }
    }

    /// Runs primitive `p` on its operands' bytes and returns the spike events it staged (0 but
    /// for SPIKE_ENCODE, which goes to the spiking engine's encoder); the error says why it was
    /// refused.
    pub fn execute(
        &self,
        p: &uapi::Primitive,
        inputs: &[&[u8]],
        out: &mut [u8],
    ) -> std::result::Result<u32, String> {
        if p.op == uapi::OP_SPIKE_ENCODE {
            return encode_job::execute(p, inputs, out);
        }
        let done = match self {
            Backend::Cpu(g) => {
                lightos_cpu::exec::execute(g, p, inputs, out).map_err(|e| e.to_string())
            }
            Backend::Cuda(d) => {
                lightos_cuda::exec::execute(d.as_ref(), p, inputs, out).map_err(|e| e.to_string())
            }
        };
        done.map(|()| 0)
    }
}

/// Which served jobs a [`Server`] logs on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// None.
    Quiet,
    /// Refused ones, with the reason.
    Refused,
    /// Every job.
    Every,
}

/// A backend serving jobs ([`JobHandler`]): it runs the ops and dtypes of the registration it
/// was given and refuses any other job as `Invalid` (an executor may declare more than it
/// serves); it logs as told.
pub struct Server {
    backend: Backend,
    ops: u64,
    dtypes: u32,
    log: Log,
}

impl Server {
    /// `backend` serving what `serves` declares, quietly.
    pub fn new(backend: Backend, serves: &ExecutorSpec) -> Server {
        Server {
            backend,
            ops: serves.ops,
            dtypes: serves.dtypes,
            log: Log::Quiet,
        }
    }

    /// The CPU backend on one thread serving the [`CORE_OPS`] on f32 ([`core_spec`]).
    pub fn core_cpu() -> lightos_cpu::Result<Server> {
        Ok(Server::new(Backend::Cpu(Gemm::new(1)?), &core_spec("")))
    }

    /// Logs `log` jobs on stderr.
    pub fn log(mut self, log: Log) -> Server {
        self.log = log;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Why this server does not run `p`, if it does not.
    fn refusal(&self, p: &Primitive) -> Option<String> {
        let p = p.abi();
        let Some(op) = Op::from_raw(p.op).filter(|op| self.ops & op.bit() != 0) else {
            return Some(format!("op {} is not served here", p.op));
        };
        [p.dtype, p.output_dtype()]
            .into_iter()
            .find(|&d| d >= 32 || self.dtypes & (1 << d) == 0)
            .map(|d| format!("{op:?} in dtype {d} is not served here"))
    }
}

impl JobHandler for Server {
    fn run(&mut self, p: &Primitive, inputs: &[&[u8]], output: &mut [u8]) -> Outcome {
        if let Some(why) = self.refusal(p) {
            return Outcome::refused(why);
        }
        match self.backend.execute(p.abi(), inputs, output) {
            Ok(produced) => Outcome::produced(produced),
            Err(why) => Outcome::refused(why),
        }
    }

    fn finished(&mut self, job: &FetchedJob, outcome: &Outcome) {
        match (&outcome.error, self.log) {
            (Some(why), Log::Refused | Log::Every) => eprintln!(
                "lightosd: job {} (op {}) refused: {why}",
                job.job_id,
                job.prim.abi().op
            ),
            (None, Log::Every) => eprintln!(
                "lightosd: job {} (op {}) {:?}",
                job.job_id,
                job.prim.abi().op,
                outcome.status
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prim(op: u16, dtype: u8) -> Primitive {
        Primitive::from_abi(uapi::Primitive {
            op,
            dtype,
            n_inputs: 1,
            ..Default::default()
        })
    }

    #[test]
    fn core_spec_declares_f32_and_every_core_op_deterministic() {
        let s = core_spec("cpu0");
        assert_eq!(s.ops, s.deterministic_ops);
        assert_eq!(s.ops.count_ones() as usize, CORE_OPS.len());
        assert_eq!(
            s.dtypes,
            1 << uapi::DTYPE_F32 | 1 << uapi::DTYPE_SPIKE_EVENT
        );
    }

    #[test]
    fn the_cpu_spec_adds_spike_encode_to_every_op_lightos_cpu_runs() {
        let s = spec("cpu0");
        assert_eq!(
            s.ops.count_ones() as usize,
            lightos_cpu::exec::OPS.len() + 1
        );
        assert_ne!(s.ops & Op::SpikeEncode.bit(), 0);
        assert_eq!(s.ops, s.deterministic_ops);
    }

    #[test]
    fn a_server_refuses_what_it_does_not_serve_with_a_reason() {
        let mut core = Server::core_cpu().unwrap();
        let conv = prim(uapi::OP_CONV2D, uapi::DTYPE_F32);
        let out = core.run(&conv, &[&[]], &mut []);
        assert_eq!(out.status, lightos_runtime::JobStatus::Invalid);
        assert!(out.error.unwrap().contains("not served"));
        let relu_f16 = prim(uapi::OP_RELU, uapi::DTYPE_F16);
        let out = core.run(&relu_f16, &[&[]], &mut []);
        assert!(
            out.error.unwrap().contains("dtype"),
            "f16 is not in the core set"
        );
    }

    #[test]
    fn a_core_server_computes_through_lightos_cpu() {
        let mut core = Server::core_cpu().unwrap();
        let t = |offset: u64| {
            let mut t = uapi::Tensor {
                ndim: 1,
                offset,
                ..Default::default()
            };
            t.shape[0] = 4;
            t
        };
        let p =
            lightos_cpu::exec::primitive(uapi::OP_ADD, uapi::DTYPE_F32, 0, &[t(0), t(16), t(0)]);
        let x: Vec<u8> = [1f32, 2., 3., 4., 10., 20., 30., 40.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = vec![0u8; 16];
        assert_eq!(
            core.run(&Primitive::from_abi(p), &[&x, &x], &mut out),
            Outcome::ok()
        );
        let got: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [11.0, 22.0, 33.0, 44.0]);
    }
}
