// SPDX-License-Identifier: GPL-2.0

//! Backends: what the dispatch stage hands jobs to, and the module-wide registry of them.
//!
//! A backend is a userspace executor ([`crate::sched::executor`]) or a device driven by a kernel
//! driver (the photonic NPU, [`crate::photonic`]). Each declares the ops and dtypes it runs and
//! the ops it runs bit-reproducibly; the policy stage routes by those declarations.

use crate::{sched::{account::Counters, job::Job}, uapi};
use kernel::{prelude::*, sync::Arc, task::Kuid, uaccess::UserSliceWriter};

/// What the interception chain needs from a backend.
pub(crate) trait Backend: Send + Sync {
    /// Its identifier, unique while the module is loaded (never 0).
    fn id(&self) -> u32;
    /// Its NUL-padded name.
    fn name(&self) -> &[u8; uapi::BACKEND_NAME_LEN];
    /// A `BACKEND_KIND_*`.
    fn kind(&self) -> u32;
    /// Ops it runs (bit `op`).
    fn ops(&self) -> u64;
    /// Ops it runs bit-reproducibly (bit `op`).
    fn deterministic_ops(&self) -> u64;
    /// Dtypes it accepts (bit `dtype`).
    fn dtypes(&self) -> u32;
    /// Whether a client running as `client` may have its jobs run here (see
    /// [`crate::sched::trust`]); kernel devices are trusted by every client.
    fn trusted_by(&self, _client: Kuid) -> bool {
        true
    }
    /// Whether the policy may choose it for a primitive no routing rule sends to it by name
    /// (`false` for the null device, whose results mean nothing).
    fn routed_by_default(&self) -> bool {
        true
    }
    /// Its counters (shared with the fences of the jobs it runs, which count their end in them).
    fn counters(&self) -> &Arc<Counters>;
    /// `(queued, running)` jobs now.
    fn load(&self) -> (u32, u32);
    /// Makes room for `n` more jobs of queue priority `priority` before they are admitted, so that
    /// as many [`Backend::enqueue`] calls cannot fail for lack of memory. `ENODEV` once the backend
    /// is gone, `ENOMEM`.
    fn reserve(&self, priority: u32, n: usize) -> Result;
    /// Gives back `n` slots [`Backend::reserve`] made and no job used (admission failed).
    fn unreserve(&self, priority: u32, n: usize);
    /// Takes `job`, into reserved room, without waking the backend; `ENODEV` once the backend is
    /// gone (the caller then fails the job).
    fn enqueue(&self, job: Arc<Job>) -> Result;
    /// Wakes the backend after one or more [`Backend::enqueue`] calls (one wake-up per batch).
    fn kick(&self);
    /// Its thermal guard's state and statistics, for devices that have one.
    fn thermal(&self) -> Option<uapi::ThermalInfo> {
        None
    }
    /// Applies the power controls of a checked `POWER_SET` request; `EOPNOTSUPP` for backends
    /// without any.
    fn set_power(&self, _req: &uapi::PowerSet) -> Result {
        Err(crate::errno::eopnotsupp())
    }
}

/// Whether `backend` runs `op` on inputs of `dtype` producing `out_dtype`.
pub(crate) fn supports(backend: &dyn Backend, op: u16, dtype: u8, out_dtype: u8) -> bool {
    let op_ok = op < 64 && backend.ops() & (1u64 << op) != 0;
    let dtype_ok = |d: u8| d < 32 && backend.dtypes() & (1u32 << d) != 0;
    op_ok && dtype_ok(dtype) && dtype_ok(out_dtype)
}

/// Whether `backend` declares `op` bit-reproducible.
pub(crate) fn deterministic(backend: &dyn Backend, op: u16) -> bool {
    op < 64 && backend.deterministic_ops() & (1u64 << op) != 0
}

/// Backend identifiers are never reused while the module is loaded.
static NEXT_BACKEND_ID: kernel::sync::atomic::Atomic<u32> = kernel::sync::atomic::Atomic::new(1);

/// A fresh backend identifier.
pub(crate) fn next_id() -> u32 {
    NEXT_BACKEND_ID.fetch_add(1, kernel::sync::atomic::Relaxed)
}

kernel::sync::global_lock! {
    // SAFETY: initialised by `init` in module init, before `/dev/lightos` is registered.
    unsafe(uninit) static BACKENDS: Mutex<KVec<Arc<dyn Backend>>> = KVec::new();
}

/// Initialises the registry; called once from module init.
pub(crate) fn init() {
    // SAFETY: called exactly once, from module init, before any other use of `BACKENDS`.
    unsafe { BACKENDS.init() };
}

/// Frees the registry's storage; called from module exit, when no file (so no backend) is left.
/// The static itself is never dropped, so without this its vector's buffer would leak per unload.
pub(crate) fn release() {
    let old = core::mem::take(&mut *BACKENDS.lock());
    drop(old);
}

/// Adds `backend`. `EEXIST` when its name is taken, `ENOSPC` beyond [`uapi::MAX_EXECUTORS`].
pub(crate) fn register(backend: Arc<dyn Backend>) -> Result {
    let mut list = BACKENDS.lock();
    if list.iter().any(|b| b.name() == backend.name()) {
        return Err(EEXIST);
    }
    if list.len() >= uapi::MAX_EXECUTORS as usize {
        return Err(ENOSPC);
    }
    list.push(backend, GFP_KERNEL)?;
    Ok(())
}

/// Removes the backend with identifier `id`, if registered.
pub(crate) fn unregister(id: u32) {
    let mut list = BACKENDS.lock();
    let removed = list.iter().position(|b| b.id() == id).and_then(|i| list.remove(i).ok());
    drop(list);
    drop(removed);
}

/// Calls `f` with the registered backends, in registration order, under the registry lock.
pub(crate) fn with_backends<R>(f: impl FnOnce(&[Arc<dyn Backend>]) -> R) -> R {
    let list = BACKENDS.lock();
    f(&list)
}

/// References to every registered backend (taken under the lock, used after it).
pub(crate) fn all() -> Result<KVec<Arc<dyn Backend>>> {
    with_backends(|list| {
        let mut out = KVec::with_capacity(list.len(), GFP_KERNEL)?;
        for b in list {
            out.push(b.clone(), GFP_KERNEL)?;
        }
        Ok(out)
    })
}

/// Writes `QUERY_BACKENDS`'s result ([`uapi::QueryBackends`]) entry by entry, so the large struct is
/// never built on the kernel stack.
pub(crate) fn write_snapshot(w: &mut UserSliceWriter) -> Result {
    let list = all()?;
    let count = list.len().min(uapi::MAX_EXECUTORS as usize);
    w.write(&(count as u32))?;
    w.write(&0u32)?;
    for i in 0..uapi::MAX_EXECUTORS as usize {
        let info = list.get(i).map_or_else(BackendInfo::empty, |b| BackendInfo::of(&**b));
        w.write(&info.0)?;
    }
    Ok(())
}

/// Writes `QUERY_THERMAL`'s result ([`uapi::QueryThermal`]): every backend with a thermal guard,
/// then zeroed entries, one at a time; `last_event_seq` is the event log's newest sequence number.
pub(crate) fn write_thermal(w: &mut UserSliceWriter, last_event_seq: u64) -> Result {
    let list = all()?;
    let mut guarded = KVec::with_capacity(uapi::MAX_THERMAL_DEVICES, GFP_KERNEL)?;
    for info in list.iter().filter_map(|b| b.thermal()).take(uapi::MAX_THERMAL_DEVICES) {
        guarded.push(info, GFP_KERNEL)?;
    }
    w.write(&(guarded.len() as u32))?;
    w.write(&0u32)?;
    w.write(&last_event_seq)?;
    for i in 0..uapi::MAX_THERMAL_DEVICES {
        match guarded.get(i) {
            Some(info) => w.write(info)?,
            None => w.write_slice(&[0u8; size_of::<uapi::ThermalInfo>()])?,
        }
    }
    Ok(())
}

/// A backend's description, as one entry of `QUERY_BACKENDS`.
struct BackendInfo(uapi::BackendInfo);

impl BackendInfo {
    fn empty() -> Self {
        Self(uapi::BackendInfo {
            name: [0; uapi::BACKEND_NAME_LEN],
            backend_id: 0,
            kind: 0,
            ops: 0,
            deterministic_ops: 0,
            dtypes: 0,
            queued: 0,
            running: 0,
            pad: 0,
            stats: uapi::OpStats::default(),
        })
    }

    fn of(b: &dyn Backend) -> Self {
        let (queued, running) = b.load();
        Self(uapi::BackendInfo {
            name: *b.name(),
            backend_id: b.id(),
            kind: b.kind(),
            ops: b.ops(),
            deterministic_ops: b.deterministic_ops(),
            dtypes: b.dtypes(),
            queued,
            running,
            pad: 0,
            stats: b.counters().snapshot(),
        })
    }
}
