//! `lightos.Context`: buffers and single primitives. With `/dev/lightos` it is a kernel context:
//! `ctx.buffer(...)` creates buffer objects mapped into this process and `ctx.run(op, inputs, out)`
//! submits one primitive on them and waits; without it, buffers are this process's memory and the
//! CPU backend's kernels run the primitive here.

use crate::{
    error::{error, invalid},
    tensor::{Buffer, ElemType, Memory, Tensor},
};
use lightos_cpu::{exec, Gemm};
use lightos_runtime::{BufferFlags, JobStatus, Placement, Primitive, Queue};
use lightos_uapi as uapi;
use nix::errno::Errno;
use pyo3::prelude::*;
use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

/// Contexts get distinct ids, so a tensor of another context is refused by `run`.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long one wait lasts before Python's signal handlers get a look.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Where a context's primitives run.
enum Engine {
    /// Jobs of the kernel, on one queue.
    Kernel {
        ctx: lightos_runtime::Context,
        queue: Queue,
    },
    /// The CPU backend's kernels in this process.
    Local { gemm: Gemm },
}

struct Open {
    engine: Engine,
    /// The buffers made here: their handles go when the context closes.
    buffers: Vec<Weak<Memory>>,
}

/// A LightOS context: buffers, and primitives run on them.
#[pyclass(module = "lightos", frozen)]
pub(crate) struct Context {
    id: u64,
    /// Where it runs, in words.
    #[pyo3(get)]
    device: String,
    open: Mutex<Option<Open>>,
    is_closed: AtomicBool,
}

/// The ops `run` takes by name: op, its function parameter, inputs.
fn op_by_name(name: &str) -> Option<(u16, u64, usize)> {
    Some(match name {
        "matmul" => (uapi::OP_MATMUL, 0, 2),
        "add" => (uapi::OP_ADD, 0, 2),
        "mul" => (uapi::OP_MUL, 0, 2),
        "relu" => (uapi::OP_RELU, 0, 1),
        "gelu" => (uapi::OP_GELU, 0, 1),
        "softmax" => (uapi::OP_SOFTMAX, 0, 1),
        "exp" => (uapi::OP_UNARY, uapi::UNARY_EXP, 1),
        "tanh" => (uapi::OP_UNARY, uapi::UNARY_TANH, 1),
        "sigmoid" => (uapi::OP_UNARY, uapi::UNARY_SIGMOID, 1),
        "sqrt" => (uapi::OP_UNARY, uapi::UNARY_SQRT, 1),
        "erf" => (uapi::OP_UNARY, uapi::UNARY_ERF, 1),
        "reciprocal" => (uapi::OP_UNARY, uapi::UNARY_RECIPROCAL, 1),
        "neg" => (uapi::OP_UNARY, uapi::UNARY_NEG, 1),
        "sub" => (uapi::OP_BINARY, uapi::BINARY_SUB, 2),
        "div" => (uapi::OP_BINARY, uapi::BINARY_DIV, 2),
        "max" => (uapi::OP_BINARY, uapi::BINARY_MAX, 2),
        "min" => (uapi::OP_BINARY, uapi::BINARY_MIN, 2),
        "pow" => (uapi::OP_BINARY, uapi::BINARY_POW, 2),
        _ => return None,
    })
}

const OPS: &str = "matmul, add, mul, relu, gelu, softmax, exp, tanh, sigmoid, sqrt, erf, \
                   reciprocal, neg, sub, div, max, min, pow";

fn closed_error() -> PyErr {
    error(
        "ENODEV: the context is closed",
        "open a new lightos.Context",
    )
}

impl Context {
    /// Runs `f` on the open context without the GIL: the lock is taken with the GIL released, so a
    /// thread waiting for it never holds the GIL a job's waiter needs back.
    fn with_open<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Open) -> PyResult<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.open.lock().map_err(|_| {
                error(
                    "a call panicked: the context's lock is poisoned",
                    "open a new Context",
                )
            })?;
            f(guard.as_mut().ok_or_else(closed_error)?)
        })
    }

    /// The context `from_dlpack` copies into when given none: the kernel's routing, or this
    /// process without the module.
    pub(crate) fn open_default(py: Python<'_>) -> PyResult<Context> {
        Context::new(py, "auto", "/dev/lightos")
    }

    /// A zeroed buffer holding `shape` of `dtype`.
    pub(crate) fn alloc<'py>(
        &self,
        py: Python<'py>,
        shape: Vec<u64>,
        dtype: ElemType,
    ) -> PyResult<Bound<'py, Buffer>> {
        let bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n > 0 && n <= isize::MAX as u64)
            .ok_or_else(|| {
                invalid(
                    format!(
                        "a buffer of {shape:?} {} is empty or too large",
                        dtype.name()
                    ),
                    "ask for at least one element",
                )
            })? as usize;
        let mem = self.with_open(py, |open| {
            let mem = match &open.engine {
                Engine::Kernel { ctx, .. } => ctx
                    .create_buffer(bytes, BufferFlags::empty(), Placement::Any)
                    .and_then(|b| Memory::kernel(b, self.id))
                    .map_err(|e| {
                        error(e, "see the kernel's limits in docs/ABI.md (buffers, bytes)")
                    })?,
                Engine::Local { .. } => Memory::local(bytes, self.id)
                    .map_err(|e| error(format!("ENOMEM: {e}"), "ask for less memory"))?,
            };
            open.buffers.retain(|w| w.strong_count() > 0);
            open.buffers.push(Arc::downgrade(&mem));
            Ok(mem)
        })?;
        Buffer::create(py, mem, shape, dtype)
    }
}

/// The ABI tensor of `t` (its handle in the kernel; 0 in process).
fn abi_tensor(t: &Tensor, handle: u32) -> uapi::Tensor {
    let mut a = uapi::Tensor {
        buffer: handle,
        ndim: t.shape.len() as u32,
        offset: t.offset as u64,
        ..Default::default()
    };
    for (d, s) in a.shape.iter_mut().zip(&t.shape) {
        *d = *s;
    }
    a
}

/// The checks the kernel makes that the CPU backend's kernels rely on, for the in-process path:
/// one float dtype, and shapes that agree.
fn check_local(op: u16, operands: &[&Tensor]) -> PyResult<()> {
    let n = operands.len() - 1;
    let (inputs, out) = (&operands[..n], operands[n]);
    let dims = |t: &Tensor| t.shape.clone();
    let ok = match op {
        uapi::OP_MATMUL => {
            let (a, b, o) = (dims(inputs[0]), dims(inputs[1]), dims(out));
            a.len() == 2 && b.len() == 2 && a[1] == b[0] && o == [a[0], b[1]]
        }
        _ => operands.iter().all(|t| t.shape == inputs[0].shape),
    };
    if ok {
        return Ok(());
    }
    let shapes: Vec<Vec<u64>> = operands.iter().map(|t| dims(t)).collect();
    Err(invalid(
        format!("shapes {shapes:?} do not fit the op (inputs, then the output)"),
        "matmul takes [M,K]·[K,N] → [M,N]; the element-wise ops and softmax one shape for all",
    ))
}

/// The bytes each input is read from: its memory, or a copy where it shares the output's pages.
fn local_inputs(operands: &[&Tensor]) -> Vec<Vec<u8>> {
    let n = operands.len() - 1;
    operands[..n]
        .iter()
        .filter(|t| Arc::ptr_eq(&t.mem, &operands[n].mem))
        // SAFETY: nothing in this process writes the memory while the context's lock is held.
        .map(|t| unsafe { t.mem.read() }.to_vec())
        .collect()
}

#[pymethods]
impl Context {
    /// Opens a context. With `node` (`/dev/lightos`) present, a kernel context whose primitives
    /// go to `device` (`"auto"`: the kernel's routing; or a backend's name such as `"cpu0"`,
    /// `"photonic0"`: every op it runs routed there); `device="local"` or no `node`: this process.
    #[new]
    #[pyo3(signature = (device = "auto", node = "/dev/lightos"))]
    fn new(py: Python<'_>, device: &str, node: &str) -> PyResult<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(node);
        let (engine, description) = if device == "local" || !path.exists() {
            if device != "local" && device != "auto" {
                return Err(error(
                    format!("ENOENT: no {node}, so no backend named '{device}'"),
                    "load the module (insmod lightos_core.ko), or use device=\"local\"",
                ));
            }
            let gemm = Gemm::new(2).map_err(|e| error(e, "the CPU backend could not start"))?;
            let why = if device == "local" {
                "asked for"
            } else {
                "no /dev/lightos"
            };
            (
                Engine::Local { gemm },
                format!("local (this process: {why})"),
            )
        } else {
            let hint = "lightos.devices() lists the backends; start one with lightosd";
            py.detach(|| -> PyResult<_> {
                let (ctx, description) = lightos_graph::session::kernel_context(path, device)
                    .map_err(|e| error(e, hint))?;
                let queue = ctx
                    .create_queue(1, Duration::ZERO)
                    .map_err(|e| error(e, hint))?;
                Ok((Engine::Kernel { ctx, queue }, description))
            })?
        };
        Ok(Context {
            id,
            device: description,
            open: Mutex::new(Some(Open {
                engine,
                buffers: Vec::new(),
            })),
            is_closed: AtomicBool::new(false),
        })
    }

    /// A buffer: `nbytes` bytes (viewed as uint8), or room for `shape` of `dtype` (float32 by
    /// default), zeroed. Kernel buffers are whole pages, mapped into this process:
    /// `numpy.asarray(buf)` is a view of the pages the backend reads and writes.
    #[pyo3(signature = (nbytes = None, *, shape = None, dtype = None))]
    fn buffer<'py>(
        &self,
        py: Python<'py>,
        nbytes: Option<usize>,
        shape: Option<Vec<u64>>,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Buffer>> {
        let (shape, dtype) = match (nbytes, shape) {
            (Some(n), None) if dtype.is_none() => (vec![n as u64], ElemType::U8),
            (None, Some(s)) => (
                s,
                dtype
                    .map(ElemType::parse)
                    .transpose()?
                    .unwrap_or(ElemType::F32),
            ),
            _ => {
                return Err(invalid(
                    "give nbytes, or shape (and dtype)",
                    "ctx.buffer(4096) or ctx.buffer(shape=(64, 64), dtype='float32')",
                ))
            }
        };
        self.alloc(py, shape, dtype)
    }

    /// Runs one primitive, `op` (matmul, add, mul, relu, gelu, softmax, the unary exp … neg and the
    /// binary sub … pow) on `inputs` into `out` (tensors or buffers of this context; one float
    /// dtype), and waits for it; returns `out`. Through the kernel the reason it gives for a
    /// rejection is the exception's; Ctrl-C stops the wait (the job still completes).
    #[pyo3(signature = (op, inputs, out, *, axis = None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        op: &str,
        inputs: Vec<Bound<'py, Tensor>>,
        out: Bound<'py, Tensor>,
        axis: Option<i64>,
    ) -> PyResult<Bound<'py, Tensor>> {
        let (code, function, arity) = op_by_name(op)
            .ok_or_else(|| invalid(format!("no op named '{op}'"), &format!("the ops: {OPS}")))?;
        if inputs.len() != arity {
            return Err(invalid(
                format!("{op} takes {arity} input(s), not {}", inputs.len()),
                "pass the inputs as a list, the output as out",
            ));
        }
        let operands: Vec<&Tensor> = inputs.iter().chain([&out]).map(|t| t.get()).collect();
        if let Some(t) = operands.iter().find(|t| t.mem.owner != self.id) {
            return Err(invalid(
                format!("a tensor at {:#x} belongs to another context", t.mem.addr() + t.offset),
                "make its buffer with this context (or copy it in with lightos.from_dlpack(x, ctx))",
            ));
        }
        let dtype = operands[0].dtype;
        let Some(abi_dtype) = dtype
            .abi()
            .filter(|_| operands.iter().all(|t| t.dtype == dtype))
        else {
            return Err(invalid(
                format!(
                    "{op} needs one float dtype for every operand, got {:?}",
                    operands.iter().map(|t| t.dtype.name()).collect::<Vec<_>>()
                ),
                "use float32, float16 or bfloat16 tensors",
            ));
        };
        let mut param0 = function;
        if let Some(a) = axis {
            let ndim = operands[0].shape.len() as i64;
            if code != uapi::OP_SOFTMAX || a < -ndim || a >= ndim {
                return Err(invalid(
                    format!("axis={a} for {op} of {ndim} dimensions"),
                    "axis is softmax's only, within -ndim..ndim",
                ));
            }
            param0 = (a.rem_euclid(ndim) + 1) as u64;
        }
        self.with_open(py, |open| match &open.engine {
            Engine::Kernel { queue, .. } => {
                let mut abi = Vec::with_capacity(operands.len());
                for t in &operands {
                    let handle = t
                        .mem
                        .handle
                        .lock()
                        .ok()
                        .and_then(|h| h.as_ref().map(|b| b.handle()));
                    let handle = handle.ok_or_else(closed_error)?;
                    abi.push(abi_tensor(t, handle));
                }
                let mut prim = exec::primitive(code, abi_dtype, 0, &abi);
                prim.params[0] = param0;
                let submitted = queue.submit(&[Primitive::from_abi(prim)]).map_err(|e| {
                    error(
                        e,
                        "the reason names the operand at fault; docs/ABI.md has the rules",
                    )
                })?;
                wait(queue, submitted.last_seq)
            }
            Engine::Local { gemm } => {
                check_local(code, &operands)?;
                let abi: Vec<uapi::Tensor> = operands.iter().map(|t| abi_tensor(t, 0)).collect();
                let mut prim = exec::primitive(code, abi_dtype, 0, &abi);
                prim.params[0] = param0;
                let copies = local_inputs(&operands);
                let n = operands.len() - 1;
                let mut copy = copies.iter();
                let slices: Vec<&[u8]> = operands[..n]
                    .iter()
                    .map(|t| match Arc::ptr_eq(&t.mem, &operands[n].mem) {
                        true => copy.next().map_or(&[][..], Vec::as_slice),
                        // SAFETY: read while the context's lock is held; the output's pages are
                        // the only ones written, and inputs sharing them were copied above.
                        false => unsafe { t.mem.read() },
                    })
                    .collect();
                // SAFETY: the only mutable slice of the output's memory while the kernel runs;
                // inputs on the same pages are the copies above.
                let dst = unsafe { operands[n].mem.write() };
                exec::execute(gemm, &prim, &slices, dst)
                    .map_err(|e| error(format!("EINVAL: {e}"), "check the operands' shapes"))
            }
        })?;
        Ok(out)
    }

    /// Destroys the context's buffer handles and closes it. NumPy views of its buffers stay
    /// valid (the mappings keep their pages); `run` on them raises.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let open = py.detach(|| self.open.lock().map(|mut o| o.take()).map_err(|_| ()));
        let open = open.map_err(|()| closed_error())?;
        self.is_closed.store(true, Ordering::Release);
        if let Some(open) = open {
            for mem in open.buffers.iter().filter_map(Weak::upgrade) {
                if let Ok(mut h) = mem.handle.lock() {
                    h.take();
                }
            }
        }
        Ok(())
    }

    /// Whether `close` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Py<PyAny>,
        _v: Py<PyAny>,
        _tb: Py<PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Context(device={:?}, closed={})",
            self.device,
            self.closed()
        )
    }
}

/// Waits for job `seq` (the GIL released), in slices so Ctrl-C (a raising signal handler) is
/// seen; the job's status other than OK is an error.
fn wait(queue: &Queue, seq: u64) -> PyResult<()> {
    loop {
        match queue.wait(seq, Some(SIGNAL_POLL)) {
            Ok(c) if c.status == JobStatus::Ok => return Ok(()),
            Ok(c) => {
                return Err(error(
                    format!("EIO: the job ended with status {:?}", c.status),
                    "lightos.devices() shows the backends and their state",
                ))
            }
            Err(e) if e.errno() == Some(Errno::ETIMEDOUT) => {
                Python::attach(|py| py.check_signals())?
            }
            Err(e) => return Err(error(e, "the queue's wait failed")),
        }
    }
}
