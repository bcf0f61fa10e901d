//! The fast path's benchmarks (ABI 1.10), run in the guest by `make bench` with the module loaded
//! with `null_backend=1` (bench/guest.sh), each against a baseline measured in the same run:
//! - a null primitive through a queue's rings to `null0` (push, one `ENTER`, completion entries
//!   reaped from shared memory), per primitive at batch 1 and 64, vs an io_uring NOP submitted and
//!   its CQE reaped the same way (target <= 1.5x);
//! - a null primitive through an executor thread (`Executor::serve` on `JOB_BATCH`), round trip
//!   at batch 1 vs a futex ping-pong between two threads (target <= 1.5x), and per primitive at
//!   batch 64 vs an io_uring NOP's (target <= 2x);
//! - a chain of 100 dependent primitives alternating between the executor and `null0`, submitted at
//!   once vs the same chain with the client woken between steps;
//! - the old path (`SUBMIT` + `WAIT`) and the ring path side by side, to `null0` and through the
//!   executor.
//!
//! Prints Markdown rows between `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`.

use io_uring::{opcode, IoUring};
use lightos_runtime::{
    deadline_ns, Batch, BufferFlags, Context, DType, Dep, Op, Placement, Primitive,
    PrimitiveBuilder, Queue, Rings,
};
use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

const REPEATS: usize = 5;

/// Median of `REPEATS` timings of `f`, in seconds.
fn median_secs(f: impl FnMut()) -> f64 {
    lightos_bench::median_secs(REPEATS, f)
}

/// A row: per-operation times in µs, the ratio, and the target.
fn row(name: &str, subject_us: f64, baseline_name: &str, baseline_us: f64, target: Option<f64>) {
    let ratio = subject_us / baseline_us;
    let verdict = match target {
        Some(t) if ratio <= t => format!("<= {t} met"),
        Some(t) => format!("<= {t} NOT met"),
        None => "(reported)".into(),
    };
    println!(
        "| {name} | {subject_us:.2} µs | {baseline_name} | {baseline_us:.2} µs | {ratio:.2} | {verdict} |"
    );
}

/// µs per operation of `ops` operations taking `secs`.
fn us(secs: f64, ops: usize) -> f64 {
    secs * 1e6 / ops as f64
}

/// io_uring NOPs, `batch` per `io_uring_enter`, each CQE reaped: µs per NOP.
fn uring_nop(batch: usize, total: usize) -> f64 {
    let mut ring = IoUring::new(256).expect("io_uring (CONFIG_IO_URING)");
    let rounds = total / batch;
    let secs = median_secs(|| {
        for _ in 0..rounds {
            {
                let mut sq = ring.submission();
                for i in 0..batch {
                    let nop = opcode::Nop::new().build().user_data(i as u64);
                    // SAFETY: a NOP references no memory.
                    unsafe { sq.push(&nop).expect("sq room") };
                }
            }
            ring.submit().expect("io_uring_enter");
            let mut seen = 0;
            while seen < batch {
                for cqe in ring.completion() {
                    black_box(cqe.user_data());
                    seen += 1;
                }
            }
        }
    });
    us(secs, rounds * batch)
}

/// `io_uring_enter` with nothing to submit or wait for: µs per call.
fn uring_empty_enter(calls: usize) -> f64 {
    let ring = IoUring::new(8).expect("io_uring (CONFIG_IO_URING)");
    let secs = median_secs(|| {
        for _ in 0..calls {
            // SAFETY: no entries are submitted and no signal mask is passed.
            black_box(
                unsafe { ring.submitter().enter::<libc::sigset_t>(0, 0, 0, None) }
                    .expect("io_uring_enter"),
            );
        }
    });
    us(secs, calls)
}

/// `ENTER` with nothing to submit or wait for: µs per call.
fn ring_empty_enter(rings: &Rings, calls: usize) -> f64 {
    let secs = median_secs(|| {
        for _ in 0..calls {
            black_box(rings.enter(0, 0, 0).expect("ENTER"));
        }
    });
    us(secs, calls)
}

/// Null primitives through `rings`, `batch` per `ENTER` (`wait`: ENTER also waits for them), every
/// completion entry reaped: µs per primitive.
fn ring_null(rings: &mut Rings, prim: &Primitive, batch: usize, total: usize, wait: bool) -> f64 {
    let rounds = total / batch;
    let secs = median_secs(|| {
        for _ in 0..rounds {
            for _ in 0..batch {
                assert!(rings.push(prim), "sq room");
            }
            let min = if wait { batch as u32 } else { 0 };
            rings
                .enter(batch as u32, min, deadline_ns(None))
                .expect("ENTER");
            let mut seen = 0;
            while seen < batch {
                if rings.reap().is_some() {
                    seen += 1;
                }
            }
        }
    });
    us(secs, rounds * batch)
}

/// `SUBMIT` + `WAIT` of `batch` primitives at a time: µs per primitive.
fn submit_wait(q: &Queue, prim: &Primitive, batch: usize, total: usize) -> f64 {
    let prims = vec![*prim; batch];
    let rounds = total / batch;
    let secs = median_secs(|| {
        for _ in 0..rounds {
            let s = q.submit(&prims).expect("submit");
            q.wait(s.last_seq, None).expect("wait");
        }
    });
    us(secs, rounds * batch)
}

/// A futex ping-pong between this thread and another: µs per round trip.
fn futex_round_trip(rounds: usize) -> f64 {
    let word = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let futex = |w: &AtomicU32, op: i32, val: u32| {
        // SAFETY: `w` is a live, aligned u32; FUTEX_WAIT/WAKE on it take no other memory.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                w.as_ptr(),
                op | libc::FUTEX_PRIVATE_FLAG,
                val,
                0,
                0,
                0,
            )
        };
    };
    let wait_for = |w: &AtomicU32, want: u32| loop {
        let v = w.load(Ordering::Acquire);
        if v == want {
            break;
        }
        futex(w, libc::FUTEX_WAIT, v);
    };
    let (w2, s2) = (Arc::clone(&word), Arc::clone(&stop));
    let peer = std::thread::spawn(move || {
        let mut expect = 1u32;
        while !s2.load(Ordering::Relaxed) {
            let v = w2.load(Ordering::Acquire);
            if v == expect {
                w2.store(expect + 1, Ordering::Release);
                futex(&w2, libc::FUTEX_WAKE, 1);
                expect += 2;
            } else if v > expect {
                break;
            } else {
                futex(&w2, libc::FUTEX_WAIT, v);
            }
        }
    });
    let mut next = 1u32;
    let secs = median_secs(|| {
        for _ in 0..rounds {
            word.store(next, Ordering::Release);
            futex(&word, libc::FUTEX_WAKE, 1);
            wait_for(&word, next + 1);
            next += 2;
        }
    });
    stop.store(true, Ordering::Relaxed);
    word.store(u32::MAX, Ordering::Release);
    futex(&word, libc::FUTEX_WAKE, 1);
    peer.join().unwrap();
    us(secs, rounds)
}

/// A chain of `len` primitives alternating between routes `a` and `b` (COPY to one, ADD-free COPY
/// variant to the other), each depending on the one before: submitted at once (`at_once`) or one
/// step at a time with the client waiting between steps. µs per chain.
fn chain(q: &Queue, a: &Primitive, b: &Primitive, len: usize, at_once: bool) -> f64 {
    let secs = median_secs(|| {
        if at_once {
            let mut batch = Batch::new();
            let mut prev = batch.push(*a);
            for i in 1..len {
                let p = if i % 2 == 0 { a } else { b };
                prev = batch.push_after(*p, &[Dep::Earlier(prev)]).unwrap();
            }
            let s = q.submit_batch(&mut batch).expect("submit chain");
            let c = q.wait(s.last_seq, None).expect("wait");
            assert_eq!(c.status, lightos_runtime::JobStatus::Ok);
        } else {
            for i in 0..len {
                let p = if i % 2 == 0 { a } else { b };
                let s = q.submit(&[*p]).expect("submit");
                q.wait(s.last_seq, None).expect("wait");
            }
        }
    });
    secs * 1e6
}

fn main() {
    // The executor thread: lightosd's CPU backend, core set, served through JOB_BATCH.
    let executor = lightos_bench::CpuExecutor::start("bench-fast");
    let exec_id = executor.backend_id;

    let dev = Context::open().expect("open /dev/lightos (is lightos_core loaded?)");
    let null0 = dev
        .backends()
        .unwrap()
        .into_iter()
        .find(|b| b.name == "null0")
        .expect("null0: load lightos_core with null_backend=1 (bench/guest.sh does)")
        .id;
    let small = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .expect("buffer");
    // A null COPY (0 elements) to the executor; the same as a MUL to null0 (routes by op).
    let to_exec = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&small, 0, &[0])
        .output(&small, 64, &[0]);
    let to_null = PrimitiveBuilder::new(Op::Mul, DType::F32)
        .input(&small, 0, &[0])
        .input(&small, 0, &[0])
        .output(&small, 64, &[0]);
    dev.add_route(Some(Op::Copy), None, 0..=u64::MAX, exec_id)
        .unwrap();
    dev.add_route(Some(Op::Mul), None, 0..=u64::MAX, null0)
        .unwrap();

    const TOTAL: usize = 2048;
    let nop1 = uring_nop(1, TOTAL);
    let nop64 = uring_nop(64, TOTAL * 4);
    let futex = futex_round_trip(TOTAL);

    let q_null = dev.create_queue(0, Duration::ZERO).unwrap();
    let mut r_null = q_null.setup_rings(64, 256).unwrap();
    let q_exec = dev.create_queue(0, Duration::ZERO).unwrap();
    let mut r_exec = q_exec.setup_rings(64, 256).unwrap();
    let old_q = dev.create_queue(0, Duration::ZERO).unwrap();

    let ring_null1 = ring_null(&mut r_null, &to_null, 1, TOTAL, false);
    let ring_null64 = ring_null(&mut r_null, &to_null, 64, TOTAL * 4, false);
    let ring_exec1 = ring_null(&mut r_exec, &to_exec, 1, TOTAL / 2, true);
    let ring_exec64 = ring_null(&mut r_exec, &to_exec, 64, TOTAL * 2, true);
    let old_null1 = submit_wait(&old_q, &to_null, 1, TOTAL);
    let old_exec1 = submit_wait(&old_q, &to_exec, 1, TOTAL / 2);
    let old_exec64 = submit_wait(&old_q, &to_exec, 64, TOTAL * 2);
    let empty_enter = ring_empty_enter(&r_null, TOTAL);
    let empty_uring = uring_empty_enter(TOTAL);
    let chain_once = chain(&old_q, &to_exec, &to_null, 100, true);
    let chain_steps = chain(&old_q, &to_exec, &to_null, 100, false);
    executor.stop();
    assert_eq!(
        r_null.overflow() + r_exec.overflow(),
        0,
        "completion entries overflowed"
    );

    println!("BENCH-TABLE-BEGIN");
    println!(
        "| LightOS path (per primitive) | time | baseline (same run) | time | ratio | target |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    row(
        "null primitive to null0 via the rings, batch 1 (push, ENTER, reap)",
        ring_null1,
        "io_uring NOP, batch 1 (push, io_uring_enter, reap)",
        nop1,
        Some(1.5),
    );
    row(
        "null primitive to null0 via the rings, batch 64",
        ring_null64,
        "io_uring NOP, batch 64",
        nop64,
        Some(1.5),
    );
    row(
        "null primitive through an executor thread, round trip (rings, ENTER waits)",
        ring_exec1,
        "futex ping-pong round trip, two threads",
        futex,
        Some(1.5),
    );
    row(
        "null primitive through an executor thread, batch 64 (rings, JOB_BATCH)",
        ring_exec64,
        "io_uring NOP, batch 64",
        nop64,
        Some(2.0),
    );
    row(
        "chain of 100 dependent primitives (executor ↔ null0), submitted at once: per chain",
        chain_once,
        "the same chain, client woken between steps",
        chain_steps,
        None,
    );
    row(
        "diagnostic: ENTER with nothing to submit or wait for (the fixed cost of a call)",
        empty_enter,
        "io_uring_enter with nothing to submit",
        empty_uring,
        None,
    );
    row(
        "old path: SUBMIT + WAIT to null0, batch 1",
        old_null1,
        "ring path to null0, batch 1",
        ring_null1,
        None,
    );
    row(
        "old path: SUBMIT + WAIT through the executor, batch 1",
        old_exec1,
        "ring path through the executor, batch 1",
        ring_exec1,
        None,
    );
    row(
        "old path: SUBMIT + WAIT through the executor, batch 64",
        old_exec64,
        "ring path through the executor, batch 64",
        ring_exec64,
        None,
    );
    println!("BENCH-TABLE-END");
}
