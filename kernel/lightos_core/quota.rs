// SPDX-License-Identifier: GPL-2.0

//! Per-uid quotas: buffer bytes, buffers, queues, in-flight jobs and spike queues, counted against
//! the effective uid that opened the context (docs/ABI.md, "Quotas").
//!
//! The limits are module parameters (`/sys/module/lightos_core/parameters/quota_*`, mode 0644: root
//! may change them at load or at any time; a lower limit refuses new objects and never frees live
//! ones). The kernel crate's `module!` `params:` are read-only after load (permission 0, set-once
//! storage), so the five parameters are registered here in the `__param` section with the C integer
//! parameter operations, each backed by an atomic that the charges read.
//!
//! A context opened with `CAP_SYS_ADMIN` is counted but not limited by quotas (the module-wide
//! limits still apply to it): an operator's tools must keep working when users have spent theirs.
//!
//! Every charge is held by the object it pays for ([`Charge`]: a buffer, a queue, a spike queue;
//! [`JobCharge`]: a job's fence) and given back when the object dies, so a buffer that outlives its
//! context through a job, an export or a mapping stays charged to its creator's uid. The table of
//! uids holds an entry while anything holds it (a context or a charge) and drops it at the next
//! open after the last holder went (a charge may drop where the table's mutex cannot be taken), so
//! it is bounded by the open contexts and the uids with live objects (at most 2 x `MAX_CONTEXTS`
//! entries; an open beyond that fails with `ENFILE`).

use crate::{
    errno,
    reason::{reject, Rejection},
    uapi,
};
use kernel::{
    bindings,
    module_param::KernelParam,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// Per-uid limit on bytes in live buffer objects.
static QUOTA_BUFFER_BYTES: Atomic<u64> = Atomic::new(256 << 20);
/// Per-uid limit on live buffer objects.
static QUOTA_BUFFERS: Atomic<u32> = Atomic::new(1024);
/// Per-uid limit on live submission queues.
static QUOTA_QUEUES: Atomic<u32> = Atomic::new(64);
/// Per-uid limit on jobs in flight (admitted and not yet ended).
static QUOTA_JOBS: Atomic<u32> = Atomic::new(4096);
/// Per-uid limit on live spike queues.
static QUOTA_SPIKE_QUEUES: Atomic<u32> = Atomic::new(64);

/// Registers `$value` as module parameter `$name` (mode 0644) with the C operations `$ops`.
macro_rules! quota_param {
    ($reg:ident, $name:literal, $value:ident, $ops:ident) => {
        #[used]
        #[link_section = "__param"]
        static $reg: KernelParam = KernelParam::new(bindings::kernel_param {
            name: kernel::str::as_char_ptr_in_const_context($name),
            // Only addresses are taken: the kernel builds `__this_module` at load and frees it
            // after the parameters are gone; the C operations are static.
            mod_: (&raw const bindings::__this_module).cast_mut(),
            ops: &raw const bindings::$ops,
            perm: 0o644,
            level: -1,
            flags: 0,
            // `Atomic<T>` has `T`'s layout, which the C operations write (under the module's
            // parameter lock) and the charges read atomically.
            __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
                arg: core::ptr::from_ref(&$value).cast_mut().cast(),
            },
        });
    };
}

quota_param!(PARAM_BUFFER_BYTES, c"quota_buffer_bytes", QUOTA_BUFFER_BYTES, param_ops_ullong);
quota_param!(PARAM_BUFFERS, c"quota_buffers", QUOTA_BUFFERS, param_ops_uint);
quota_param!(PARAM_QUEUES, c"quota_queues", QUOTA_QUEUES, param_ops_uint);
quota_param!(PARAM_JOBS, c"quota_jobs", QUOTA_JOBS, param_ops_uint);
quota_param!(PARAM_SPIKE_QUEUES, c"quota_spike_queues", QUOTA_SPIKE_QUEUES, param_ops_uint);

/// What a quota limits.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Bytes in live buffer objects.
    BufferBytes,
    /// Live buffer objects.
    Buffers,
    /// Live submission queues.
    Queues,
    /// Jobs in flight.
    Jobs,
    /// Live spike queues.
    SpikeQueues,
}

impl Kind {
    /// The limit now.
    fn limit(self) -> u64 {
        match self {
            Kind::BufferBytes => QUOTA_BUFFER_BYTES.load(Relaxed),
            Kind::Buffers => QUOTA_BUFFERS.load(Relaxed).into(),
            Kind::Queues => QUOTA_QUEUES.load(Relaxed).into(),
            Kind::Jobs => QUOTA_JOBS.load(Relaxed).into(),
            Kind::SpikeQueues => QUOTA_SPIKE_QUEUES.load(Relaxed).into(),
        }
    }

    /// Its name in reasons.
    fn name(self) -> &'static str {
        match self {
            Kind::BufferBytes => "buffer bytes",
            Kind::Buffers => "buffers",
            Kind::Queues => "queues",
            Kind::Jobs => "jobs in flight",
            Kind::SpikeQueues => "spike queues",
        }
    }
}

/// One uid's usage.
struct Usage {
    uid: u32,
    /// Contexts and charges holding this entry (see the module documentation).
    holders: Atomic<u32>,
    /// Indexed by [`Kind`].
    used: [Atomic<u64>; 5],
}

kernel::sync::global_lock! {
    // SAFETY: initialised by `init` in module init, before `/dev/lightos` is registered.
    unsafe(uninit) static TABLE: Mutex<KVec<Arc<Usage>>> = KVec::new();
}

/// Initialises the table; called once from module init.
pub(crate) fn init() {
    // SAFETY: called exactly once, from module init, before any other use of `TABLE`.
    unsafe { TABLE.init() };
}

/// Frees the table's storage; called from module exit, when no file or object is left.
pub(crate) fn release() {
    let old = core::mem::take(&mut *TABLE.lock());
    drop(old);
}

/// Drops the entries nothing holds. Called under the table's lock: a holder is only ever added
/// from an existing one or under this lock, so an entry seen with none stays unheld.
fn sweep(table: &mut KVec<Arc<Usage>>) {
    let mut i = 0;
    while i < table.len() {
        if table[i].holders.load(Relaxed) == 0 {
            let _ = table.remove(i);
        } else {
            i += 1;
        }
    }
}

/// A hold on one uid's usage: a context's (made at open), or a charge's.
pub(crate) struct Account {
    usage: Arc<Usage>,
    /// Opened with `CAP_SYS_ADMIN`: counted, not limited.
    exempt: bool,
}

impl Account {
    /// The account of the calling task's effective uid. `ENFILE` when the table is full.
    pub(crate) fn open() -> Result<Self> {
        let uid = crate::privilege::caller_uid().into_raw().val;
        let exempt = crate::privilege::capable_sys_admin();
        let mut table = TABLE.lock();
        sweep(&mut table);
        if let Some(usage) = table.iter().find(|u| u.uid == uid) {
            usage.holders.add(1, Relaxed);
            return Ok(Self { usage: usage.clone(), exempt });
        }
        // Each entry is held by a context or a live object; contexts are bounded, and so is this.
        if table.len() >= 2 * uapi::MAX_CONTEXTS as usize {
            return Err(ENFILE);
        }
        let usage = Arc::new(
            Usage {
                uid,
                holders: Atomic::new(1),
                used: [const { Atomic::new(0) }; 5],
            },
            GFP_KERNEL,
        )?;
        table.push(usage.clone(), GFP_KERNEL)?;
        Ok(Self { usage, exempt })
    }

    /// Another hold on the same entry.
    fn hold(&self) -> Self {
        self.usage.holders.add(1, Relaxed);
        Self { usage: self.usage.clone(), exempt: self.exempt }
    }

    /// Counts `amount` of `kind`; `EDQUOT` with the reason when it would exceed the quota.
    fn take(&self, kind: Kind, amount: u64) -> Result<(), Rejection> {
        let used = &self.usage.used[kind as usize];
        let before = used.fetch_add(amount, Relaxed);
        let limit = kind.limit();
        if !self.exempt && before.checked_add(amount).is_none_or(|total| total > limit) {
            used.fetch_sub(amount, Relaxed);
            return Err(reject!(
                errno::edquot(),
                "uid {}: {} {before} + {amount} > quota {limit}",
                self.usage.uid,
                kind.name()
            ));
        }
        Ok(())
    }

    /// Gives back `amount` of `kind`.
    fn give(&self, kind: Kind, amount: u64) {
        self.usage.used[kind as usize].fetch_sub(amount, Relaxed);
    }

    /// Charges `amount` of `kind`, given back when the charge drops.
    pub(crate) fn charge(&self, kind: Kind, amount: u64) -> Result<Charge, Rejection> {
        self.take(kind, amount)?;
        Ok(Charge { account: self.hold(), kind, amount })
    }

    /// Charges `count` jobs in flight, handed to their fences one by one ([`JobBatch::take`]).
    pub(crate) fn charge_jobs(&self, count: usize) -> Result<JobBatch, Rejection> {
        self.take(Kind::Jobs, count as u64)?;
        Ok(JobBatch { account: self.hold(), left: count })
    }

    /// The quotas and this uid's usage, as `QUERY_QUOTA` reports them.
    pub(crate) fn snapshot(&self) -> uapi::QueryQuota {
        let used = |kind: Kind| self.usage.used[kind as usize].load(Relaxed);
        uapi::QueryQuota {
            uid: self.usage.uid,
            exempt: u32::from(self.exempt),
            buffer_bytes_quota: Kind::BufferBytes.limit(),
            buffer_bytes: used(Kind::BufferBytes),
            buffers_quota: Kind::Buffers.limit(),
            buffers: used(Kind::Buffers),
            queues_quota: Kind::Queues.limit(),
            queues: used(Kind::Queues),
            jobs_quota: Kind::Jobs.limit(),
            jobs: used(Kind::Jobs),
            spike_queues_quota: Kind::SpikeQueues.limit(),
            spike_queues: used(Kind::SpikeQueues),
            reserved: [0; 4],
        }
    }
}

/// Writes `quota uid N buffer_bytes N buffers N queues N jobs N spike_queues N`, one line per uid
/// that holds anything (debugfs).
pub(crate) fn write_usage(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    for u in TABLE.lock().iter().filter(|u| u.holders.load(Relaxed) != 0) {
        let used = |kind: Kind| u.used[kind as usize].load(Relaxed);
        writeln!(
            f,
            "quota uid {} buffer_bytes {} buffers {} queues {} jobs {} spike_queues {}",
            u.uid,
            used(Kind::BufferBytes),
            used(Kind::Buffers),
            used(Kind::Queues),
            used(Kind::Jobs),
            used(Kind::SpikeQueues)
        )?;
    }
    Ok(())
}

impl Drop for Account {
    fn drop(&mut self) {
        // The entry stays in the table until the next sweep (which needs the table's lock, and a
        // charge may drop where sleeping is not allowed).
        self.usage.holders.fetch_sub(1, Relaxed);
    }
}

/// An amount of one quota, given back when dropped; held by the object it pays for.
pub(crate) struct Charge {
    account: Account,
    kind: Kind,
    amount: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.account.give(self.kind, self.amount);
    }
}

/// Jobs in flight charged for one `SUBMIT`; what no fence took is given back when dropped.
pub(crate) struct JobBatch {
    account: Account,
    left: usize,
}

impl JobBatch {
    /// One job's share, for its fence. Past the charged count it charges nothing.
    pub(crate) fn take(&mut self) -> JobCharge {
        let charged = self.left > 0;
        self.left = self.left.saturating_sub(1);
        JobCharge { account: self.account.hold(), charged }
    }
}

impl Drop for JobBatch {
    fn drop(&mut self) {
        self.account.give(Kind::Jobs, self.left as u64);
    }
}

/// One job in flight, charged to its submitter's uid. Its fence gives it back when the job ends
/// ([`JobCharge::end`]), exactly where the module-wide count of jobs in flight drops.
pub(crate) struct JobCharge {
    account: Account,
    charged: bool,
}

impl JobCharge {
    /// Gives the job back; the fence calls it exactly once, when it ends or drops unended.
    pub(crate) fn end(&self) {
        if self.charged {
            self.account.give(Kind::Jobs, 1);
        }
    }
}
