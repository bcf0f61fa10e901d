// SPDX-License-Identifier: GPL-2.0

//! Policy, the second stage of the interception chain: which backend runs a primitive.
//!
//! Each context has an ordered list of routing rules (`ROUTE_SET`) and a deterministic mode. The
//! first rule whose op, dtype and byte range match decides: its backend (or, for `BACKEND_ANY`, the
//! first that fits) must run the primitive, else the submission fails. Without a matching rule the
//! first registered backend that fits is chosen; `BACKEND_ANY` never picks a backend that is only
//! routed to by name (the null device). A primitive is deterministic when it has
//! `PRIM_DETERMINISTIC` or its context is in deterministic mode; it is then only routed to a backend
//! that declares the op bit-reproducible. Only backends the submitting client trusts are chosen
//! ([`crate::sched::trust`]): an executor registered without `CAP_SYS_ADMIN` runs only the jobs of
//! its own uid, and is skipped for everyone else.
//!
//! Errors: `ENODEV` when no backend the client trusts runs the op and dtypes (or the rule's backend
//! is not registered); `EPERM` when the rule's backend runs it but is an executor the client may
//! not trust; `EOPNOTSUPP` when backends run it but none (or not the rule's) deterministically.

use crate::{
    errno,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    sched::{account, backend::{self, Backend}},
    uapi,
};
use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex, task::Kuid};

/// One routing rule.
#[derive(Clone, Copy)]
struct Rule {
    backend_id: u32,
    op: u16,
    dtype: u8,
    min_bytes: u64,
    max_bytes: u64,
}

impl Rule {
    fn matches(&self, p: &uapi::Primitive, bytes: u64) -> bool {
        (self.op == 0 || self.op == p.op)
            && (self.dtype == 0 || self.dtype == p.dtype)
            && bytes >= self.min_bytes
            && (self.max_bytes == 0 || bytes <= self.max_bytes)
    }
}

/// The last route one call took: the next primitive of the call with the same inputs to routing
/// takes it again without the routing table's and the backend registry's locks.
#[derive(Default)]
pub(crate) struct LastRoute {
    last: Option<(RouteKey, Arc<dyn Backend>)>,
}

/// What routing reads from a primitive.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RouteKey {
    op: u16,
    dtype: u8,
    out_dtype: u8,
    deterministic: bool,
    bytes: u64,
}

/// The rules and mode of a context.
struct Table {
    rules: KVec<Rule>,
    deterministic: bool,
}

/// A context's routing policy.
#[pin_data]
pub(crate) struct Routes {
    #[pin]
    table: Mutex<Table>,
}

impl Routes {
    /// No rules, deterministic mode off.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            table <- new_mutex!(Table { rules: KVec::new(), deterministic: false }),
        })
    }

    /// Whether the context is in deterministic mode.
    pub(crate) fn deterministic(&self) -> bool {
        self.table.lock().deterministic
    }

    /// How many rules there are.
    pub(crate) fn rule_count(&self) -> usize {
        self.table.lock().rules.len()
    }

    /// [`Routes::route`] for the primitives of one call, which run as one client: a primitive
    /// that routes like the one before takes the same backend (a rule or backend changing during
    /// the call then applies from the next call, as if it came after this one).
    pub(crate) fn route_again(
        &self,
        last: &mut LastRoute,
        p: &uapi::Primitive,
        out_dtype: u8,
        bytes: u64,
        client: Kuid,
    ) -> Result<Arc<dyn Backend>, Rejection> {
        let key = RouteKey {
            op: p.op,
            dtype: p.dtype,
            out_dtype,
            deterministic: p.flags & uapi::PRIM_DETERMINISTIC != 0,
            bytes,
        };
        if let Some((k, backend)) = last.last.as_ref() {
            if *k == key {
                return Ok(backend.clone());
            }
        }
        let backend = self.route(p, out_dtype, bytes, client)?;
        last.last = Some((key, backend.clone()));
        Ok(backend)
    }

    /// Picks the backend for `p` (whose operands span `bytes`) and its resolved `out_dtype`, among
    /// those a client running as `client` trusts.
    pub(crate) fn route(
        &self,
        p: &uapi::Primitive,
        out_dtype: u8,
        bytes: u64,
        client: Kuid,
    ) -> Result<Arc<dyn Backend>, Rejection> {
        let (rule, det) = {
            let t = self.table.lock();
            let rule = t.rules.iter().find(|r| r.matches(p, bytes)).copied();
            (rule, t.deterministic || p.flags & uapi::PRIM_DETERMINISTIC != 0)
        };
        let wanted = rule.map_or(uapi::BACKEND_ANY, |r| r.backend_id);
        backend::with_backends(|list| {
            let mut runs_it = false;
            let mut untrusted = false;
            let named = |b: &Arc<dyn Backend>| {
                if wanted == uapi::BACKEND_ANY { b.routed_by_default() } else { b.id() == wanted }
            };
            for b in list.iter().filter(|b| named(b)) {
                if !backend::supports(&**b, p.op, p.dtype, out_dtype) {
                    continue;
                }
                if !b.trusted_by(client) {
                    untrusted = true;
                    continue;
                }
                runs_it = true;
                if !det || backend::deterministic(&**b, p.op) {
                    return Ok(b.clone());
                }
            }
            let op = account::op_name(p.op.into());
            Err(match (runs_it, wanted) {
                (false, id) if untrusted && id != uapi::BACKEND_ANY => reject!(
                    EPERM,
                    "route to backend {id}: an executor of another uid, registered without \
                     CAP_SYS_ADMIN; it may not run your jobs"
                ),
                (false, _) if untrusted => reject!(
                    ENODEV,
                    "no backend you may trust runs {op} on dtype {} -> {} (other uids' \
                     unprivileged executors are skipped)",
                    p.dtype,
                    out_dtype
                ),
                (true, _) => reject!(
                    errno::eopnotsupp(),
                    "deterministic {op}: no backend{} runs it bit-reproducibly",
                    if wanted == uapi::BACKEND_ANY { "" } else { " of the matching route" }
                ),
                (false, uapi::BACKEND_ANY) => reject!(
                    ENODEV,
                    "no backend runs {op} on dtype {} -> {}",
                    p.dtype,
                    out_dtype
                ),
                (false, id) => reject!(
                    ENODEV,
                    "route to backend {id}: not registered, or it does not run {op} on dtype {} -> {}",
                    p.dtype,
                    out_dtype
                ),
            })
        })
    }

    /// Handles `ROUTE_SET`: clears, sets the mode and/or appends a rule. `EINVAL` for unknown flags,
    /// non-zero pad/reserved, an unknown op or dtype, `min_bytes > max_bytes`, a mode other than 0/1
    /// (or a mode without `ROUTE_SET_MODE`); `ENOSPC` beyond [`uapi::MAX_ROUTES`] rules.
    pub(crate) fn set(
        &self,
        mut req: uapi::RouteSet,
        arg: &IoctlArg<uapi::RouteSet>,
    ) -> Result<isize, Rejection> {
        reason::known_flags(req.flags.into(), uapi::ROUTE_FLAGS_ALL.into())?;
        reason::zero("pad", req.pad.into())?;
        reason::zero("pad2", req.pad2.into())?;
        reason::zeros("reserved", &req.reserved)?;
        ensure!(usize::from(req.op) <= uapi::OP_COUNT, EINVAL, "op {}: unknown", req.op);
        ensure!(req.dtype <= uapi::DTYPE_MAX, EINVAL, "dtype {}: unknown", req.dtype);
        ensure!(
            req.max_bytes == 0 || req.min_bytes <= req.max_bytes,
            EINVAL,
            "min_bytes {} > max_bytes {}",
            req.min_bytes,
            req.max_bytes
        );
        ensure!(req.deterministic <= 1, EINVAL, "deterministic {}: 0 or 1", req.deterministic);
        ensure!(
            req.deterministic == 0 || req.flags & uapi::ROUTE_SET_MODE != 0,
            EINVAL,
            "deterministic: set without ROUTE_SET_MODE"
        );
        let has_rule = req.backend_id != 0
            || req.op != 0
            || req.dtype != 0
            || req.min_bytes != 0
            || req.max_bytes != 0
            || req.flags & (uapi::ROUTE_CLEAR | uapi::ROUTE_SET_MODE) == 0;
        let mut t = self.table.lock();
        let most = uapi::MAX_ROUTES;
        if has_rule && (req.flags & uapi::ROUTE_CLEAR == 0) && t.rules.len() >= most as usize {
            return Err(reject!(ENOSPC, "this context has {most} routing rules, the most it may"));
        }
        if req.flags & uapi::ROUTE_CLEAR != 0 {
            t.rules.clear();
        }
        if req.flags & uapi::ROUTE_SET_MODE != 0 {
            t.deterministic = req.deterministic == 1;
        }
        if has_rule {
            let rule = Rule {
                backend_id: req.backend_id,
                op: req.op,
                dtype: req.dtype,
                min_bytes: req.min_bytes,
                max_bytes: req.max_bytes,
            };
            t.rules.push(rule, GFP_KERNEL)?;
        }
        req.rules = t.rules.len() as u32;
        drop(t);
        arg.write(&req)?;
        Ok(0)
    }
}

