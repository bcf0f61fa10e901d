// SPDX-License-Identifier: GPL-2.0

//! Per-open contexts: one for each open file description of `/dev/lightos`.
//!
//! A context is the namespace of everything a client creates; it dies with its file. The module-wide
//! count of contexts is bounded by [`uapi::MAX_CONTEXTS`] and visible through `GET_INFO`, so tests can
//! prove that every open was matched by a release.

use crate::uapi;
use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// Contexts open now, module-wide.
static OPEN_CONTEXTS: Atomic<u32> = Atomic::new(0);
/// The next context identifier; 64 bits, so identifiers are never reused while the module is loaded.
static NEXT_CONTEXT_ID: Atomic<u64> = Atomic::new(1);

/// The state of one open file description.
pub(crate) struct Context {
    /// Unique identifier, reported by `GET_INFO` and fdinfo.
    id: u64,
    /// Number of ioctls issued on this context (telemetry).
    ioctls: Atomic<u64>,
}

impl Context {
    /// Creates a context, or fails with `ENFILE` when [`uapi::MAX_CONTEXTS`] are already open.
    pub(crate) fn new() -> Result<Self> {
        let before = OPEN_CONTEXTS.fetch_add(1, Relaxed);
        if before >= uapi::MAX_CONTEXTS {
            OPEN_CONTEXTS.fetch_sub(1, Relaxed);
            return Err(ENFILE);
        }
        Ok(Self {
            id: NEXT_CONTEXT_ID.fetch_add(1, Relaxed),
            ioctls: Atomic::new(0),
        })
    }

    /// The context's identifier.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Counts one ioctl on this context.
    pub(crate) fn count_ioctl(&self) {
        self.ioctls.add(1, Relaxed);
    }

    /// How many ioctls this context has seen.
    pub(crate) fn ioctls(&self) -> u64 {
        self.ioctls.load(Relaxed)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        OPEN_CONTEXTS.fetch_sub(1, Relaxed);
    }
}

/// How many contexts are open module-wide.
pub(crate) fn open_contexts() -> u32 {
    OPEN_CONTEXTS.load(Relaxed)
}
