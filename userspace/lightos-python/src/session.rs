//! `lightos.InferenceSession`: a model loaded, optimized and compiled for where it runs, called
//! like onnxruntime's: `get_inputs()`, `get_outputs()`, `run(output_names, input_feed)` with NumPy
//! arrays. The graph is compiled when every input's shape is known: at construction for a model
//! with fixed shapes, else at the first `run` (and again when the feeds' shapes change).

use crate::error::{error, invalid};
use lightos_graph::{
    ir::{self, DType, Dim, Graph},
    passes,
    session::{Session, Where},
    GraphError,
};
use numpy::{PyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::{
    prelude::*,
    types::{PyBytes, PyDict, PyList},
};
use std::{path::PathBuf, sync::Mutex};

/// One input or output of a model: its name, shape (ints, and strings for symbolic dimensions)
/// and type (`tensor(float)`, `tensor(int64)`), as onnxruntime's `NodeArg`.
#[pyclass(module = "lightos", frozen, get_all)]
pub(crate) struct NodeArg {
    name: String,
    shape: Vec<Py<PyAny>>,
    r#type: String,
}

#[pymethods]
impl NodeArg {
    fn __repr__(&self, py: Python<'_>) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.bind(py).to_string()).collect();
        format!(
            "NodeArg(name={:?}, type={:?}, shape=[{}])",
            self.name,
            self.r#type,
            dims.join(", ")
        )
    }
}

fn node_arg(py: Python<'_>, v: &ir::ValueInfo) -> PyResult<NodeArg> {
    let shape = v
        .shape
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|d| -> PyResult<Py<PyAny>> {
            Ok(match d {
                Dim::Known(n) => (*n).into_pyobject(py)?.into_any().unbind(),
                Dim::Sym(s) => s.as_str().into_pyobject(py)?.into_any().unbind(),
            })
        })
        .collect::<PyResult<_>>()?;
    let r#type = match v.dtype {
        DType::F32 => "tensor(float)".to_string(),
        DType::I64 => "tensor(int64)".to_string(),
        other => format!("tensor({})", other.name()),
    };
    Ok(NodeArg {
        name: v.name.clone(),
        shape,
        r#type,
    })
}

/// `out`'s entries as float32 arrays: NumPy arrays as they are, anything else (a LightOS tensor or
/// buffer) through `numpy.asarray`, which views its memory.
fn out_arrays<'py>(
    py: Python<'py>,
    out: Vec<Bound<'py, PyAny>>,
) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
    let asarray = py.import("numpy")?.getattr("asarray")?;
    out.into_iter()
        .enumerate()
        .map(|(k, o)| {
            let o = match o.cast::<PyArrayDyn<f32>>() {
                Ok(a) => return Ok(a.clone()),
                Err(_) => asarray.call1((o,))?,
            };
            o.cast_into::<PyArrayDyn<f32>>().map_err(|_| {
                invalid(
                    format!("out[{k}] is not a float32 array"),
                    "pass float32 NumPy arrays or lightos tensors",
                )
            })
        })
        .collect()
}

/// A compiled session and the input shapes it was compiled for.
struct Compiled {
    session: Session,
    dims: Vec<Vec<u64>>,
}

/// An onnxruntime-style inference session over LightOS.
#[pyclass(module = "lightos")]
pub(crate) struct InferenceSession {
    /// The optimized graph, input shapes as the model gives them.
    graph: Graph,
    node: PathBuf,
    device_request: String,
    threads: usize,
    /// The compiled session; `None` before the first compilation or after `close()`.
    compiled: Mutex<Option<Compiled>>,
    closed: std::sync::atomic::AtomicBool,
}

/// Byte arrays (feeds or outputs) with their dims, in the model's order.
type Arrays = (Vec<Vec<u8>>, Vec<Vec<u64>>);

/// Feeds checked against the model: the bytes of each input in the model's order, with its dims.
fn feeds(graph: &Graph, input_feed: &Bound<'_, PyDict>) -> PyResult<Arrays> {
    let names: Vec<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
    for key in input_feed.keys() {
        let k: String = key.extract()?;
        if !names.contains(&k.as_str()) {
            return Err(invalid(
                format!("feed '{k}' is not an input of the model"),
                &format!("its inputs are {}", names.join(", ")),
            ));
        }
    }
    let mut bytes = Vec::with_capacity(names.len());
    let mut dims = Vec::with_capacity(names.len());
    for v in &graph.inputs {
        let Some(a) = input_feed.get_item(&v.name)? else {
            return Err(invalid(
                format!("input '{}' is not fed", v.name),
                "give every input in input_feed (session.get_inputs() lists them)",
            ));
        };
        let (b, d) = match v.dtype {
            DType::I64 => array_bytes::<i64>(&a, &v.name, "int64")?,
            _ => array_bytes::<f32>(&a, &v.name, "float32")?,
        };
        let want = v.shape.as_deref().unwrap_or_default();
        if !ir::fits(want, &d) {
            return Err(invalid(
                format!(
                    "input '{}' has shape {d:?}, the model takes {}",
                    v.name,
                    ir::shape_text(want)
                ),
                "reshape the array (symbolic dimensions take any size)",
            ));
        }
        bytes.push(b);
        dims.push(d);
    }
    Ok((bytes, dims))
}

/// A NumPy array's elements as little-endian bytes in C order (a non-contiguous array is read in
/// its logical order: a copy, as any feed is copied into the session's input buffer).
fn array_bytes<T: numpy::Element + bytemuck::Pod>(
    a: &Bound<'_, PyAny>,
    name: &str,
    dtype: &str,
) -> PyResult<(Vec<u8>, Vec<u64>)> {
    let arr: PyReadonlyArrayDyn<'_, T> = a.extract().map_err(|_| {
        let got = a
            .getattr("dtype")
            .map(|d| d.to_string())
            .unwrap_or_else(|_| a.get_type().to_string());
        invalid(
            format!("input '{name}' is {got}, the model takes {dtype}"),
            &format!("pass a numpy array of dtype {dtype} (np.asarray(x, dtype=np.{dtype}))"),
        )
    })?;
    let dims: Vec<u64> = arr.shape().iter().map(|&d| d as u64).collect();
    // The ABI is little-endian, as is every machine LightOS runs on: a contiguous array's bytes
    // are the feed (one copy); a strided one is gathered in logical order.
    // `as_slice` takes a Fortran-ordered array too (contiguous, in the other order): C order only.
    let c_order = arr.is_c_contiguous();
    let out = match arr.as_slice() {
        Ok(s) if c_order => bytemuck::cast_slice::<T, u8>(s).to_vec(),
        _ => {
            let v: Vec<T> = arr.as_array().iter().copied().collect();
            bytemuck::cast_slice::<T, u8>(&v).to_vec()
        }
    };
    Ok((out, dims))
}

impl InferenceSession {
    /// The graph with its inputs bound to `dims`, shapes inferred.
    fn bound(&self, dims: &[Vec<u64>]) -> PyResult<Graph> {
        lightos_graph::session::bind(&self.graph, dims)
            .map_err(|e| error(e, "the feeds' shapes do not fit the model"))
    }

    /// Compiles for `dims` and starts the engine.
    fn compile(&self, dims: Vec<Vec<u64>>) -> PyResult<Compiled> {
        let g = self.bound(&dims)?;
        let at = Where {
            node: &self.node,
            device: &self.device_request,
            threads: self.threads,
            policy: lightos_graph::placement::default_policy(),
            pack_weights_once: true,
        };
        let session = Session::start(&g, at, |_| None).map_err(|e| {
            error(
                e,
                "device='local' runs without the kernel; lightos.devices() lists the backends",
            )
        })?;
        Ok(Compiled { session, dims })
    }
}

#[pymethods]
impl InferenceSession {
    /// A session for `path_or_bytes` (an .onnx or .lgraph path, or an ONNX model's bytes) on
    /// `device`: "auto" (the kernel when /dev/lightos exists, else this process), "local", a
    /// backend's name ("cpu0", "photonic0", …) or "governor"; `passes` like the CLI's
    /// (`all`, `all,-fuse`, `none`, …); `threads` for the in-process engine.
    #[new]
    #[pyo3(signature = (path_or_bytes, device = "auto", passes = "all", threads = 2, node = "/dev/lightos"))]
    fn new(
        py: Python<'_>,
        path_or_bytes: &Bound<'_, PyAny>,
        device: &str,
        passes: &str,
        threads: usize,
        node: &str,
    ) -> PyResult<Self> {
        let on = passes::selection(passes)
            .map_err(|e| invalid(e, "passes: all, none, or a list such as all,-fuse"))?;
        let graph = if let Ok(b) = path_or_bytes.cast::<PyBytes>() {
            let bytes = b.as_bytes().to_vec();
            lightos_graph::onnx::load_bytes(bytes)
        } else {
            let path: PathBuf = path_or_bytes.extract()?;
            lightos_graph::load(&path)
        }
        .map_err(|e| {
            error(
                e,
                "a valid ONNX model (opset 9 or later) or an .lgraph file",
            )
        })?;
        let graph = lightos_graph::session::prepare(graph, |p| on.contains(p)).map_err(|e| {
            error(
                e,
                "the model's shapes must infer; switch a failing pass off with passes=\"all,-NAME\"",
            )
        })?;
        let s = Self {
            graph,
            node: PathBuf::from(node),
            device_request: device.to_string(),
            threads,
            compiled: Mutex::new(None),
            closed: false.into(),
        };
        // Fixed shapes: compile now, so that what cannot run says so here.
        let fixed: Option<Vec<Vec<u64>>> = s
            .graph
            .inputs
            .iter()
            .map(|v| v.shape.as_deref().and_then(ir::known))
            .collect();
        if let Some(dims) = fixed {
            let c = py.detach(|| s.compile(dims))?;
            *s.compiled
                .lock()
                .map_err(|_| error("the session's lock is poisoned", "open a new session"))? =
                Some(c);
        }
        Ok(s)
    }

    /// The model's inputs.
    fn get_inputs(&self, py: Python<'_>) -> PyResult<Vec<NodeArg>> {
        self.graph.inputs.iter().map(|v| node_arg(py, v)).collect()
    }

    /// The model's outputs.
    fn get_outputs(&self, py: Python<'_>) -> PyResult<Vec<NodeArg>> {
        self.graph.outputs.iter().map(|v| node_arg(py, v)).collect()
    }

    /// Where it runs, in words (`None` until compiled).
    #[getter]
    fn device(&self) -> PyResult<Option<String>> {
        let c = self
            .compiled
            .lock()
            .map_err(|_| error("poisoned", "open a new session"))?;
        Ok(c.as_ref().map(|c| c.session.device.clone()))
    }

    /// Runs the model once on `input_feed` ({name: numpy array}); returns the outputs named in
    /// `output_names` (all when None), in that order, as float32 numpy arrays. The GIL is released
    /// while the primitives run; calls from several threads take turns. Ctrl-C (any signal whose
    /// handler raises) stops the run between primitives and raises here.
    ///
    /// `out`, if given, holds one caller-provided float32 C-contiguous array per output returned,
    /// of the output's shape (or a float32 `lightos.Tensor`/`Buffer`, written through its NumPy
    /// view): the results are written into them and they are returned.
    #[pyo3(signature = (output_names, input_feed, out = None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        output_names: Option<Vec<String>>,
        input_feed: &Bound<'py, PyDict>,
        out: Option<Vec<Bound<'py, PyAny>>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = out.map(|o| out_arrays(py, o)).transpose()?;
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(error(
                "the session is closed",
                "open a new InferenceSession",
            ));
        }
        let all: Vec<&str> = self.graph.outputs.iter().map(|o| o.name.as_str()).collect();
        let wanted: Vec<usize> = match &output_names {
            None => (0..all.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    all.iter().position(|o| o == n).ok_or_else(|| {
                        invalid(
                            format!("'{n}' is not an output of the model"),
                            &format!("its outputs are {}", all.join(", ")),
                        )
                    })
                })
                .collect::<PyResult<_>>()?,
        };
        let (bytes, dims) = feeds(&self.graph, input_feed)?;
        // Ctrl-C: the run asks between steps (in process) or while it waits (through the kernel);
        // the signal's exception (KeyboardInterrupt) is raised once the jobs in flight ended.
        let signal: Mutex<Option<PyErr>> = Mutex::new(None);
        let stop = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    if let Ok(mut s) = signal.lock() {
                        s.get_or_insert(e);
                    }
                    true
                }
            })
        };
        let results = py.detach(|| -> PyResult<Arrays> {
            let mut guard = self.compiled.lock().map_err(|_| {
                error(
                    "a run panicked: the session's lock is poisoned",
                    "open a new session",
                )
            })?;
            if guard.as_ref().is_none_or(|c| c.dims != dims) {
                *guard = Some(self.compile(dims.clone())?);
            }
            let c = guard
                .as_mut()
                .ok_or_else(|| error("not compiled", "open a new session"))?;
            let feeds: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
            let out = c.session.engine.run_until(&feeds, &stop).map_err(|e| {
                let raised = signal.lock().ok().and_then(|mut s| s.take());
                match (e, raised) {
                    (GraphError::Interrupted { .. }, Some(signal)) => signal,
                    (e, _) => error(e, "lightos.devices() shows the backends and their state"),
                }
            })?;
            let shapes = c
                .session
                .engine
                .program()
                .outputs
                .iter()
                .map(|o| o.dims.clone())
                .collect();
            Ok((out, shapes))
        })?;
        let (results_out, shapes) = results;
        let list = PyList::empty(py);
        if let Some(given) = &out {
            if given.len() != wanted.len() {
                return Err(invalid(
                    format!(
                        "out holds {} arrays for {} outputs",
                        given.len(),
                        wanted.len()
                    ),
                    "give one float32 array per output asked for, or out=None",
                ));
            }
        }
        for (k, i) in wanted.into_iter().enumerate() {
            let values: Vec<f32> = results_out[i]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let dims: Vec<usize> = shapes[i].iter().map(|&d| d as usize).collect();
            match out.as_ref().map(|o| &o[k]) {
                Some(dst) => {
                    let name = &self.graph.outputs[i].name;
                    if dst.shape() != dims.as_slice() {
                        return Err(invalid(
                            format!(
                                "out[{k}] has shape {:?}, output {name} is {dims:?}",
                                dst.shape()
                            ),
                            "allocate it with the output's shape (session.get_outputs())",
                        ));
                    }
                    // C order only: a Fortran-ordered array is contiguous too, but in the
                    // other order.
                    if !dst.is_c_contiguous() {
                        return Err(invalid(
                            format!("out[{k}] is not C-contiguous"),
                            "allocate it with np.empty(shape, np.float32)",
                        ));
                    }
                    let mut w = dst.try_readwrite().map_err(|e| {
                        invalid(
                            format!("out[{k}] is not writable: {e}"),
                            "pass a writable array",
                        )
                    })?;
                    let slice = w.as_slice_mut().map_err(|_| {
                        invalid(
                            format!("out[{k}] is not C-contiguous"),
                            "np.ascontiguousarray it",
                        )
                    })?;
                    slice.copy_from_slice(&values);
                    drop(w);
                    list.append(dst)?;
                }
                None => {
                    let a: Bound<'py, PyArrayDyn<f32>> =
                        PyArray::from_vec(py, values).reshape(dims)?;
                    list.append(a)?;
                }
            }
        }
        Ok(list)
    }

    /// Each primitive of the last run, in order: `node` and `op` (the graph node it ran, part
    /// of), `primitive` (the ABI op), `device` (the backend it was routed to; `local` in process,
    /// `kernel` where the kernel's routing chose) and `time_us` (the device's own time through the
    /// kernel, wall time in process). Empty before the first run.
    fn profile<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let c = self
            .compiled
            .lock()
            .map_err(|_| error("poisoned", "open a new session"))?;
        let Some(c) = c.as_ref() else {
            return Ok(Vec::new());
        };
        c.session
            .profile()
            .into_iter()
            .map(|p| {
                let d = PyDict::new(py);
                d.set_item("node", p.node)?;
                d.set_item("op", p.op)?;
                d.set_item("primitive", p.primitive)?;
                d.set_item("device", p.device)?;
                d.set_item("time_us", p.ns as f64 / 1e3)?;
                Ok(d)
            })
            .collect()
    }

    /// Releases the session's buffers (the kernel's, with /dev/lightos); later calls fail.
    fn close(&self) -> PyResult<()> {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        *self
            .compiled
            .lock()
            .map_err(|_| error("poisoned", "nothing to do"))? = None;
        Ok(())
    }

    fn __repr__(&self) -> String {
        let inputs: Vec<&str> = self.graph.inputs.iter().map(|v| v.name.as_str()).collect();
        format!(
            "InferenceSession(graph={:?}, inputs=[{}], device={:?})",
            self.graph.name,
            inputs.join(", "),
            self.device_request
        )
    }
}
