//! A loaded model: its graph (optimized once), a bounded queue of requests, and instance threads
//! that take requests off it in dynamic batches (up to `max_batch` rows, waiting at most
//! `max_queue_delay_ms` for the batch to fill), run them on an engine of the graph engine (a job
//! of `/dev/lightos` per primitive, or in process without it) and reply to each request with its
//! share of the outputs. An engine is compiled per batch shape and kept; one that failed (an
//! executor gone) is dropped so that the next batch compiles afresh and the model comes back with
//! its backend. A model with `device = "governor"` is placed by the PowerGovernor at each compile,
//! and a batch its device failed is placed anew and run once more (off a device in shutdown).

use crate::{
    activity::{Activity, ChosenBy},
    batch::{self, Tensor},
    config::ModelConfig,
};
use lightos_graph::{
    ir::{DType, Dim, Graph},
    passes,
    placement::Policy,
    session::{self, Session, Where},
};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// An input or output: name, element type, dimensions (`None`: symbolic, any size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its name in the graph.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its dimensions.
    pub dims: Vec<Option<u64>>,
}

/// Why a request failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    /// The queue is full (HTTP 429).
    #[error("the queue of model '{0}' is full ({1} requests waiting): retry later")]
    QueueFull(String, usize),
    /// Not started before its deadline (HTTP 504).
    #[error("the request waited {0} ms, past its deadline, and was not run")]
    Deadline(u128),
    /// The inputs do not fit the model (HTTP 400).
    #[error("{0}")]
    Input(String),
    /// The run failed: the device, the engine (HTTP 503).
    #[error("{0}")]
    Run(String),
    /// The model is being unloaded (HTTP 503).
    #[error("model '{0}' is unloading")]
    Unloading(String),
}

/// A request's outputs and what its run cost.
#[derive(Debug)]
pub struct Reply {
    /// Its share of each output.
    pub outputs: Vec<Tensor>,
    /// Rows of the run it was part of (all requests together).
    pub batch_rows: u64,
    /// Requests in that run.
    pub batch_requests: usize,
    /// Time from arrival to the start of its run.
    pub queued: Duration,
    /// The run's time.
    pub compute: Duration,
}

struct Job {
    inputs: Vec<Tensor>,
    arrived: Instant,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<Reply, RunError>>,
}

/// A model being served.
pub struct Model {
    /// Its name (the repository directory's).
    pub name: String,
    /// The version served.
    pub version: String,
    /// The model file.
    pub path: PathBuf,
    /// Its config.
    pub config: ModelConfig,
    /// Whether requests are batched (every input's first dimension is symbolic and
    /// `max_batch` > 1).
    pub batching: bool,
    /// Inputs, in the graph's order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in the graph's order.
    pub outputs: Vec<TensorSpec>,
    /// Where it runs, in words (the first engine's).
    pub device: String,
    queue: Mutex<Option<SyncSender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Where models run: the kernel's node, an in-process engine's threads, the governor's policy,
/// and where each engine placed is recorded.
#[derive(Clone, Debug)]
pub struct Placement {
    /// `/dev/lightos`.
    pub node: PathBuf,
    /// Threads of an in-process engine.
    pub threads: usize,
    /// The PowerGovernor's policy, for models with `device = "governor"`.
    pub policy: Policy,
    /// Where every engine's placement (and its reason) is recorded.
    pub activity: Arc<Activity>,
}

fn spec(v: &lightos_graph::ir::ValueInfo) -> TensorSpec {
    TensorSpec {
        name: v.name.clone(),
        dtype: v.dtype,
        dims: v
            .shape
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|d| match d {
                Dim::Known(n) => Some(*n),
                Dim::Sym(_) => None,
            })
            .collect(),
    }
}

impl Model {
    /// Loads `path` as model `name` (version `version`) with `config`: the graph is read and
    /// optimized, one engine is compiled (batch 1) so that a model that cannot run fails here,
    /// and the instance threads start.
    pub fn load(
        name: &str,
        version: &str,
        path: &Path,
        config: ModelConfig,
        at: &Placement,
    ) -> Result<Arc<Model>, String> {
        let on = passes::selection(&config.passes).map_err(|e| format!("passes: {e}"))?;
        let graph = lightos_graph::load(path)
            .and_then(|g| session::prepare(g, |p| on.contains(p)))
            .map_err(|e| e.to_string())?;
        let inputs: Vec<TensorSpec> = graph.inputs.iter().map(spec).collect();
        let outputs: Vec<TensorSpec> = graph.outputs.iter().map(spec).collect();
        if let Some(i) = inputs
            .iter()
            .find(|i| !matches!(i.dtype, DType::F32 | DType::I64) || i.dims.is_empty())
        {
            return Err(format!(
                "input {} is {} of rank {}: the agent serves float32 and int64 tensors of rank 1 or more",
                i.name,
                i.dtype.name(),
                i.dims.len()
            ));
        }
        let batching = config.max_batch > 1 && inputs.iter().all(|i| i.dims[0].is_none());
        // The first engine: batch 1 (symbolic dimensions after the first must be fixed by then).
        let dims: Option<Vec<Vec<u64>>> = inputs
            .iter()
            .map(|i| {
                i.dims
                    .iter()
                    .enumerate()
                    .map(|(k, d)| d.or((k == 0).then_some(1)))
                    .collect()
            })
            .collect();
        let mut first = HashMap::new();
        let mut device = format!("{} (compiled at the first request)", config.device);
        if let Some(dims) = dims {
            let s = start(name, &graph, &dims, &config.device, at)?;
            device = s.device.clone();
            first.insert(dims, s);
        }
        let (tx, rx) = mpsc::sync_channel::<Job>(config.queue);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Instance {
            name: name.to_string(),
            graph,
            config: config.clone(),
            at: at.clone(),
            batching,
            rx,
        });
        let mut workers = Vec::with_capacity(config.instances);
        let mut first = Some(first);
        for k in 0..config.instances {
            let inst = Arc::clone(&shared);
            let cache = first.take().unwrap_or_default();
            let thread = std::thread::Builder::new()
                .name(format!("{name}#{k}"))
                .spawn(move || inst.serve(cache))
                .map_err(|e| format!("starting an instance thread: {e}"))?;
            workers.push(thread);
        }
        Ok(Arc::new(Model {
            name: name.to_string(),
            version: version.to_string(),
            path: path.to_path_buf(),
            config,
            batching,
            inputs,
            outputs,
            device,
            queue: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
        }))
    }

    /// Checks `inputs` (in the model's input order) against the model and queues them; the
    /// receiver gets the reply.
    pub fn submit(
        &self,
        inputs: Vec<Tensor>,
        deadline: Option<Instant>,
    ) -> Result<oneshot::Receiver<Result<Reply, RunError>>, RunError> {
        self.check(&inputs)?;
        let (reply, rx) = oneshot::channel();
        let job = Job {
            inputs,
            arrived: Instant::now(),
            deadline,
            reply,
        };
        let queue = self
            .queue
            .lock()
            .map_err(|_| RunError::Unloading(self.name.clone()))?;
        let Some(q) = queue.as_ref() else {
            return Err(RunError::Unloading(self.name.clone()));
        };
        match q.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => {
                Err(RunError::QueueFull(self.name.clone(), self.config.queue))
            }
            Err(TrySendError::Disconnected(_)) => Err(RunError::Unloading(self.name.clone())),
        }
    }

    fn check(&self, inputs: &[Tensor]) -> Result<(), RunError> {
        if inputs.len() != self.inputs.len() {
            return Err(RunError::Input(format!(
                "{} inputs given, model '{}' takes {}",
                inputs.len(),
                self.name,
                self.inputs.len()
            )));
        }
        for (t, s) in inputs.iter().zip(&self.inputs) {
            let fits = t.dims.len() == s.dims.len()
                && t.dims
                    .iter()
                    .zip(&s.dims)
                    .all(|(&d, &w)| w.is_none_or(|w| w == d));
            if !fits {
                return Err(RunError::Input(format!(
                    "input {} has shape {:?}; the model's is {}",
                    s.name,
                    t.dims,
                    dims_text(&s.dims)
                )));
            }
            // Checked: the shape is the client's.
            let want = t.dims.iter().try_fold(s.dtype.size(), |n, &d| {
                n.checked_mul(usize::try_from(d).ok()?)
            });
            if want != Some(t.bytes.len()) {
                let want = want.map_or("more than this machine can address".into(), |w| {
                    w.to_string()
                });
                return Err(RunError::Input(format!(
                    "input {} holds {} bytes; shape {:?} of {} needs {want}",
                    s.name,
                    t.bytes.len(),
                    t.dims,
                    s.dtype.name()
                )));
            }
        }
        if self.batching && batch::rows(inputs).is_none() {
            return Err(RunError::Input(
                "the inputs' first dimensions (the batch) differ".into(),
            ));
        }
        Ok(())
    }

    /// Stops taking requests, lets the queued ones finish, and waits for the instance threads.
    pub fn unload(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        let workers = self.workers.lock().map(|mut w| std::mem::take(&mut *w));
        for w in workers.unwrap_or_default() {
            let _ = w.join();
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        self.unload();
    }
}

/// `dims` as the protocol writes shapes: -1 for a symbolic dimension.
pub fn dims_text(dims: &[Option<u64>]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("-1".to_string(), |n| n.to_string()))
        .collect();
    format!("[{}]", d.join(", "))
}

/// Compiles `graph` for the input shapes `dims` on `device` and starts its engine, recording
/// where it went and why (or why it failed) in `at.activity`.
pub(crate) fn start(
    model: &str,
    graph: &Graph,
    dims: &[Vec<u64>],
    device: &str,
    at: &Placement,
) -> Result<Session, String> {
    let started = session::bind(graph, dims).and_then(|g| {
        let w = Where {
            node: &at.node,
            device,
            threads: at.threads,
            policy: at.policy,
            pack_weights_once: true,
        };
        Session::start(&g, w, |_| None)
    });
    let shape = dims
        .iter()
        .map(|d| format!("{d:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (place, by, reason) = match &started {
        Ok(s) => {
            let (by, reason) = match (&s.placement, device) {
                (Some(p), _) => (
                    ChosenBy::Governor,
                    format!(
                        "PowerGovernor ({}) put the matrix products on {} (of {}): {}",
                        at.policy,
                        p.backend,
                        p.candidates.join(", "),
                        p.reason
                    ),
                ),
                (None, "auto") if at.node.exists() => (
                    ChosenBy::Auto,
                    "device = \"auto\": the kernel routes each op".to_string(),
                ),
                (None, "auto") => (
                    ChosenBy::Auto,
                    format!(
                        "device = \"auto\" without {}: this process runs every op",
                        at.node.display()
                    ),
                ),
                (None, d) => (
                    ChosenBy::Config,
                    format!("the model's config: device = \"{d}\""),
                ),
            };
            (s.device.clone(), by, reason)
        }
        Err(e) => (device.to_string(), ChosenBy::Failed, e.to_string()),
    };
    at.activity.placed(model, shape, place, by, reason);
    started.map_err(|e| e.to_string())
}

/// What the instance threads of one model share.
struct Instance {
    name: String,
    graph: Graph,
    config: ModelConfig,
    at: Placement,
    batching: bool,
    rx: Arc<Mutex<Receiver<Job>>>,
}

impl Instance {
    /// A failed compile or run, saying which model and where.
    fn failed(&self, e: impl std::fmt::Display) -> RunError {
        RunError::Run(format!(
            "model '{}' on {}: {e}",
            self.name, self.config.device
        ))
    }

    /// An instance thread: batches until the queue closes.
    fn serve(&self, mut cache: HashMap<Vec<Vec<u64>>, Session>) {
        let mut held: Option<Job> = None;
        loop {
            let Some(jobs) = self.next_batch(&mut held) else {
                return;
            };
            self.run(jobs, &mut cache);
        }
    }

    /// The next batch: a first request (`held` over from the last batch, or waited for), then
    /// compatible ones until `max_batch` rows or the delay passes. An incompatible request ends
    /// the batch and starts the next. `None` once the queue is closed and empty.
    fn next_batch(&self, held: &mut Option<Job>) -> Option<Vec<Job>> {
        let rx = self.rx.lock().ok()?;
        let first = match held.take() {
            Some(j) => j,
            None => rx.recv().ok()?,
        };
        let mut rows = batch::rows(&first.inputs).unwrap_or(1);
        let mut jobs = vec![first];
        if !self.batching {
            return Some(jobs);
        }
        let until = Instant::now() + Duration::from_millis(self.config.max_queue_delay_ms);
        while rows < self.config.max_batch as u64 {
            let left = until.saturating_duration_since(Instant::now());
            let next = match rx.recv_timeout(left) {
                Ok(j) => j,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            let n = batch::rows(&next.inputs).unwrap_or(1);
            if !batch::compatible(&jobs[0].inputs, &next.inputs)
                || rows + n > self.config.max_batch as u64
            {
                *held = Some(next);
                break;
            }
            rows += n;
            jobs.push(next);
        }
        Some(jobs)
    }

    /// Runs one batch and replies to each of its requests.
    fn run(&self, jobs: Vec<Job>, cache: &mut HashMap<Vec<Vec<u64>>, Session>) {
        let started = Instant::now();
        let (jobs, late): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.deadline.is_none_or(|d| started <= d));
        for j in late {
            let waited = started.duration_since(j.arrived).as_millis();
            let _ = j.reply.send(Err(RunError::Deadline(waited)));
        }
        if jobs.is_empty() {
            return;
        }
        let rows: Vec<u64> = jobs
            .iter()
            .map(|j| batch::rows(&j.inputs).unwrap_or(1))
            .collect();
        let inputs: Vec<&[Tensor]> = jobs.iter().map(|j| j.inputs.as_slice()).collect();
        let joined = if jobs.len() == 1 {
            jobs[0].inputs.clone()
        } else {
            batch::join(&inputs)
        };
        let result = self.compute(&joined, cache).and_then(|outputs| {
            if jobs.len() == 1 {
                return Ok(vec![outputs]);
            }
            batch::split(&outputs, &rows).ok_or_else(|| {
                RunError::Run(format!(
                    "model '{}' does not batch along its outputs' first dimension: set max_batch = 1",
                    self.name
                ))
            })
        });
        let compute = started.elapsed();
        let total: u64 = rows.iter().sum();
        let n = jobs.len();
        match result {
            Ok(per_request) => {
                for (j, outputs) in jobs.into_iter().zip(per_request) {
                    let _ = j.reply.send(Ok(Reply {
                        outputs,
                        batch_rows: total,
                        batch_requests: n,
                        queued: started.duration_since(j.arrived),
                        compute,
                    }));
                }
            }
            Err(e) => {
                for j in jobs {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// One run of the engine compiled for `inputs`' shapes (compiled now if new). A model the
    /// PowerGovernor places gets one more try when its device fails the run (a thermal shutdown,
    /// an executor gone): placed anew, the governor sees that device's state and moves the batch.
    fn compute(
        &self,
        inputs: &[Tensor],
        cache: &mut HashMap<Vec<Vec<u64>>, Session>,
    ) -> Result<Vec<Tensor>, RunError> {
        match self.attempt(inputs, cache) {
            Err(RunError::Run(first)) if self.config.device == "governor" => {
                self.attempt(inputs, cache).map_err(|e| match e {
                    RunError::Run(again) => {
                        RunError::Run(format!("{first}; placed anew, it failed again: {again}"))
                    }
                    other => other,
                })
            }
            other => other,
        }
    }

    /// [`Instance::compute`]'s one try.
    fn attempt(
        &self,
        inputs: &[Tensor],
        cache: &mut HashMap<Vec<Vec<u64>>, Session>,
    ) -> Result<Vec<Tensor>, RunError> {
        let dims: Vec<Vec<u64>> = inputs.iter().map(|t| t.dims.clone()).collect();
        if !cache.contains_key(&dims) {
            let s = start(
                &self.name,
                &self.graph,
                &dims,
                &self.config.device,
                &self.at,
            )
            .map_err(|e| self.failed(e))?;
            cache.insert(dims.clone(), s);
        }
        let Some(s) = cache.get_mut(&dims) else {
            return Err(RunError::Run("no engine".into()));
        };
        let feeds: Vec<&[u8]> = inputs.iter().map(|t| t.bytes.as_slice()).collect();
        match s.engine.run(&feeds) {
            Ok(out) => Ok(out
                .into_iter()
                .zip(&s.engine.program().outputs)
                .map(|(bytes, o)| Tensor {
                    dims: o.dims.clone(),
                    bytes,
                })
                .collect()),
            Err(e) => {
                // An engine whose backend failed is not reused: the next batch compiles anew.
                cache.remove(&dims);
                Err(self.failed(e))
            }
        }
    }
}
