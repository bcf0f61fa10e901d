//! Submission benchmarks, run in the guest by `make bench` (bench/run.sh), each against a baseline
//! measured in the same run:
//! - a null primitive (COPY of 0 bytes) SUBMIT + WAIT round trip through the CPU executor (core set)
//!   vs a null syscall (`getppid`), one at a time and 64 per SUBMIT;
//! - a 1 MiB COPY through the executor vs `memcpy` of 1 MiB, after proving the executor's operand
//!   pages are the client's pages (no bounce copy).
//!
//! Prints Markdown rows between `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`, and the zero-copy check.

use lightos_runtime::{
    pagemap, BufferFlags, Context, DType, Op, OperandMap, Placement, PrimitiveBuilder,
};
use std::{hint::black_box, time::Duration};

const REPEATS: usize = 5;

/// Median of `REPEATS` timings of `f`, in seconds.
fn median_secs(f: impl FnMut()) -> f64 {
    lightos_bench::median_secs(REPEATS, f)
}

fn row(name: &str, subject: f64, baseline_name: &str, baseline: f64, unit: &str) {
    println!(
        "| {name} | {subject:.1} {unit} | {baseline_name} | {baseline:.1} {unit} | {:.3} (1/{:.0}) |",
        subject / baseline,
        baseline / subject
    );
}

fn getppid_rate(calls: usize) -> f64 {
    let s = median_secs(|| {
        for _ in 0..calls {
            // SAFETY: getppid has no preconditions.
            black_box(unsafe { libc::getppid() });
        }
    });
    calls as f64 / s / 1000.0
}

fn main() {
    let executor = lightos_bench::CpuExecutor::start("bench-cpu");

    let dev = Context::open().expect("open /dev/lightos (is lightos_core loaded?)");
    let q = dev.create_queue(0, Duration::ZERO).expect("queue");
    let small = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .expect("buffer");
    let null = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&small, 0, &[0])
        .output(&small, 64, &[0]);

    println!("BENCH-TABLE-BEGIN");
    println!("| LightOS path | rate | baseline (same run) | rate | ratio (LightOS / baseline) |");
    println!("| --- | --- | --- | --- | --- |");
    const CALLS: usize = 2000;
    let one = median_secs(|| {
        for _ in 0..CALLS {
            let s = q.submit(&[null]).expect("submit");
            q.wait(s.last_seq, None).expect("wait");
        }
    });
    let baseline = getppid_rate(CALLS);
    row(
        "null COPY: SUBMIT + WAIT round trip via the CPU executor",
        CALLS as f64 / one / 1000.0,
        "getppid() null syscall",
        baseline,
        "k/s",
    );
    let batch = [null; 64];
    let batches = CALLS / 64;
    let many = median_secs(|| {
        for _ in 0..batches {
            let s = q.submit(&batch).expect("submit");
            q.wait(s.last_seq, None).expect("wait");
        }
    });
    row(
        "null COPY, 64 per SUBMIT: per primitive",
        (batches * 64) as f64 / many / 1000.0,
        "getppid() null syscall",
        baseline,
        "k/s",
    );

    const MIB: usize = 1 << 20;
    let big = dev
        .create_buffer(2 * MIB, BufferFlags::empty(), Placement::Any)
        .expect("buffer");
    let mut m = big.map().expect("map");
    for (i, b) in m[..MIB].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let copy = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&big, 0, &[MIB as u64 / 4])
        .output(&big, MIB as u64, &[MIB as u64 / 4]);
    const COPIES: usize = 20;
    let through = median_secs(|| {
        for _ in 0..COPIES {
            let s = q.submit(&[copy]).expect("submit");
            q.wait(s.last_seq, None).expect("wait");
        }
    });
    assert_eq!(m[MIB..MIB + 4096], m[..4096], "the COPY did not arrive");
    let mut heap_src = vec![1u8; MIB];
    let mut heap_dst = vec![0u8; MIB];
    heap_src[7] = 9;
    let memcpy = median_secs(|| {
        for _ in 0..COPIES {
            black_box(&mut heap_dst[..]).copy_from_slice(black_box(&heap_src[..]));
        }
    });
    let gbs = |s: f64| (COPIES * MIB) as f64 / s / 1e9;
    row(
        "1 MiB COPY via the CPU executor (SUBMIT + WAIT)",
        gbs(through),
        "memcpy 1 MiB",
        gbs(memcpy),
        "GB/s",
    );
    println!("BENCH-TABLE-END");

    // Zero-copy check: an executor on another context maps the job's operands; its pages must be
    // the client's pages.
    executor.stop();
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("bench-check"))
        .unwrap();
    let s = q.submit(&[copy]).unwrap();
    let job = exec
        .fetch(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("job");
    let src = exec.map_operand(&job, 0).unwrap();
    let dst = exec.map_operand(&job, 1).unwrap();
    let shared = pagemap::same_frames(src.bytes(), &m[..]).unwrap()
        && matches!(dst, OperandMap::Output(_))
        && pagemap::same_frames(dst.bytes(), &m[..]).unwrap();
    exec.complete(job.job_id, lightos_runtime::JobStatus::Ok)
        .unwrap();
    q.wait(s.last_seq, None).unwrap();
    println!(
        "ZERO-COPY: executor operand pages are the client's pages ({} pages checked): {}",
        big.size() / 4096,
        if shared { "yes, 0 bytes bounced" } else { "NO" }
    );
}
