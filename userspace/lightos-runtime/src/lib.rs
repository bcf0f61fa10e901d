//! `liblightos-runtime`: the userspace face of `/dev/lightos`.
//!
//! Every ioctl of the ABI is wrapped here behind a safe API with typed errors; the rest of the runtime,
//! the CLI and applications never call `ioctl` themselves.

pub mod accel;
mod buffer;
mod context;
mod error;
mod executor;
mod executor_batch;
mod info;
pub mod pagemap;
mod primitive;
mod query;
mod queue;
mod rings;
pub mod spike;
mod sys;
pub mod thermal;
pub mod tolerance;

use lightos_uapi as uapi;

pub use buffer::{Buffer, BufferFlags, MappedBuffer, Placement};
pub use context::{Context, DEFAULT_DEVICE_PATH};
pub use error::{Error, Result};
pub use executor::{
    Executor, ExecutorSpec, FetchedJob, JobHandler, OperandMap, Outcome, ServeUntil,
};
pub use info::ModuleInfo;
pub use primitive::{
    dtype_names, op_names, BinaryFn, ConvParams, DType, JobStatus, LrnParams, Op, PoolMode,
    PoolParams, Primitive, PrimitiveBuilder, ReduceKind, UnaryFn,
};
pub use query::{
    BackendInfo, BackendKind, ContextStats, OpStats, PerOp, Quota, QuotaUsage, SpikeQueueStats,
    Stats,
};
pub use queue::{deadline_ns, monotonic_ns, Completion, Queue, Submitted};
pub use rings::{Batch, Cqe, Dep, Entered, Event, Rings};
