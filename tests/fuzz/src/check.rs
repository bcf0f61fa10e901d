//! `lightos-fuzz check`: after a run (every fuzzer process gone), the module's counters must be back
//! to zero: one context (this one), no buffers, no bytes, no jobs in flight, no executor backends,
//! and the caller's quota usage empty.

use crate::sys;
use lightos_uapi as u;

fn query<T: Copy>(fd: i32, ty: u32) -> Result<T, String> {
    // SAFETY: T is a plain repr(C) uapi result struct; all zero is a valid value.
    let mut out: T = unsafe { std::mem::zeroed() };
    let mut q = u::Query {
        query_type: ty,
        size: std::mem::size_of::<T>() as u64,
        ptr: &mut out as *mut T as u64,
        ..Default::default()
    };
    sys::ioctl_struct(fd, u::IOC_NR_QUERY, &mut q).map_err(|e| format!("QUERY {ty}: errno {e}"))?;
    Ok(out)
}

/// Checks the counters; Err lists every one that is not back to zero.
pub fn run() -> Result<(), String> {
    let fd = sys::open_dev().map_err(|e| format!("{}: errno {e}", sys::DEV))?;
    let stats: u::QueryStats = query(fd, u::QUERY_STATS)?;
    let quota: u::QueryQuota = query(fd, u::QUERY_QUOTA)?;
    let backends: u::QueryBackends = query(fd, u::QUERY_BACKENDS)?;
    sys::close(fd);
    let mut bad = Vec::new();
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            bad.push(format!("{what} is {got}, not {want}"));
        }
    };
    expect("open contexts", stats.contexts, 1);
    expect("buffers", stats.buffers, 0);
    expect("buffer bytes", stats.buffer_bytes, 0);
    expect("jobs in flight", stats.jobs_in_flight, 0);
    expect("quota: buffer bytes", quota.buffer_bytes, 0);
    expect("quota: buffers", quota.buffers, 0);
    expect("quota: queues", quota.queues, 0);
    expect("quota: jobs", quota.jobs, 0);
    expect("quota: spike queues", quota.spike_queues, 0);
    let executors = backends.backends[..(backends.count as usize).min(backends.backends.len())]
        .iter()
        .filter(|b| b.kind == u::BACKEND_KIND_EXECUTOR)
        .count();
    expect("executor backends", executors as u64, 0);
    if bad.is_empty() {
        println!(
            "check: counters back to zero (1 context, 0 buffers, 0 jobs, 0 executors; {} buffers created in all)",
            stats.buffers_created
        );
        Ok(())
    } else {
        Err(format!("counters not back to zero: {}", bad.join("; ")))
    }
}
