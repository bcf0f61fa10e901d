//! What "nothing half-created" is checked against: the module-wide counters, each involved
//! context's buffers, quota usage, spike queues and routing rules, the backends and their jobs, and
//! the process's descriptors and `/dev/lightos` mappings. Counters of calls (a context's ioctls, a
//! spike queue's waits and notifies, a backend's statistics) are left out: a call that failed
//! still happened.

use super::fixture::{self, call, query};
use lightos_uapi as u;
use std::{fmt::Write, fs, os::fd::RawFd};

/// One snapshot, as named `(field, value)` pairs so that two snapshots diff field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State(Vec<(String, String)>);

impl State {
    /// The module-wide state, `contexts`' own, and this process's descriptors and mappings.
    pub fn capture(contexts: &[RawFd]) -> Result<Self, String> {
        let mut s = Vec::new();
        let mut put = |k: String, v: String| s.push((k, v));
        let probe = contexts.first().copied();
        let opened;
        let fd = match probe {
            Some(fd) => fd,
            None => {
                opened = fixture::open()?;
                opened.0
            }
        };
        let st = query(fd, u::QUERY_STATS, u::QueryStats::default())?;
        // One context more while `opened` lives; the same in every capture without contexts.
        put("stats.contexts".into(), st.contexts.to_string());
        put("stats.buffers".into(), st.buffers.to_string());
        put("stats.buffer_bytes".into(), st.buffer_bytes.to_string());
        put(
            "stats.buffers_created".into(),
            st.buffers_created.to_string(),
        );
        put("stats.jobs_in_flight".into(), st.jobs_in_flight.to_string());
        for (name, id, queued, running) in fixture::backends(fd)? {
            put(
                format!("backend {name}"),
                format!("id {id} queued {queued} running {running}"),
            );
        }
        let qq = query(fd, u::QUERY_QUOTA, u::QueryQuota::default())?;
        put(
            "quota(uid)".into(),
            format!(
                "buffers {} bytes {} queues {} jobs {} spike_queues {}",
                qq.buffers, qq.buffer_bytes, qq.queues, qq.jobs, qq.spike_queues
            ),
        );
        for (i, &c) in contexts.iter().enumerate() {
            let cx = query(c, u::QUERY_CONTEXT, u::QueryContext::default())?;
            put(format!("context{i}.buffers"), cx.buffers.to_string());
            // SAFETY: QuerySpikeQueues is repr(C) integers; all-zero bytes are a valid value.
            let zero: u::QuerySpikeQueues = unsafe { std::mem::zeroed() };
            let sq = query(c, u::QUERY_SPIKE_QUEUES, zero)?;
            let mut queues = String::new();
            for q in sq.queues.iter().take(sq.count as usize) {
                let _ = write!(
                    queues,
                    "[id {} entries {} available {} tail {} head {} overflow {}]",
                    q.queue_id, q.entries, q.available, q.tail, q.head, q.overflow
                );
            }
            put(format!("context{i}.spike_queues"), queues);
            put(format!("context{i}.routes"), routes(c)?.to_string());
        }
        put("process.fds".into(), count_dir("/proc/self/fd").to_string());
        put("process.lightos_maps".into(), lightos_maps().to_string());
        Ok(Self(s))
    }

    /// The fields that differ, as `field: before → after`; empty when equal.
    pub fn diff(&self, after: &Self) -> String {
        self.diff_except(after, &[])
    }

    /// [`diff`](Self::diff) leaving out the fields named in `except`.
    pub fn diff_except(&self, after: &Self, except: &[&str]) -> String {
        let mut out = String::new();
        for (k, v) in self.0.iter().filter(|(k, _)| !except.contains(&k.as_str())) {
            match after.0.iter().find(|(k2, _)| k2 == k) {
                Some((_, v2)) if v2 == v => {}
                Some((_, v2)) => {
                    let _ = write!(out, "{k}: {v} -> {v2}; ");
                }
                None => {
                    let _ = write!(out, "{k}: {v} -> (gone); ");
                }
            }
        }
        for (k, v) in after
            .0
            .iter()
            .filter(|(k, _)| !except.contains(&k.as_str()))
        {
            if !self.0.iter().any(|(k2, _)| k2 == k) {
                let _ = write!(out, "{k}: (none) -> {v}; ");
            }
        }
        out
    }
}

/// The number of routing rules of `fd`'s context (a `ROUTE_SET_MODE` without a rule only reports).
fn routes(fd: RawFd) -> Result<u32, String> {
    let mut a = u::RouteSet {
        flags: u::ROUTE_SET_MODE,
        ..Default::default()
    };
    // Deterministic mode is never set by the sweep, so setting it to 0 changes nothing.
    call(fd, u::IOC_NR_ROUTE_SET, &mut a, "ROUTE_SET (count)")?;
    Ok(a.rules)
}

/// Entries of directory `path`.
fn count_dir(path: &str) -> usize {
    fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

/// Mappings of `/dev/lightos` (buffers, completion pages, spike rings) in this process.
fn lightos_maps() -> usize {
    fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().filter(|l| l.contains("/dev/lightos")).count())
        .unwrap_or(0)
}
