//! Buffer and ioctl benchmarks, run in the guest by `make bench` (bench/run.sh).
//!
//! Each row compares a LightOS path with a baseline measured in the same run, on the same data:
//! - writing and reading 64 MiB through a mapped buffer object vs memcpy into/from malloc'd memory
//!   (steady state), and first touch: create+map+write vs calloc+write;
//! - a `GET_INFO` ioctl round trip vs a null syscall (`getppid`).
//!
//! Prints a Markdown table between `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`.

use lightos_runtime::{BufferFlags, Context, Placement};
use std::hint::black_box;

const SIZE: usize = 64 << 20;
const REPEATS: usize = 9;

/// Median of `REPEATS` timings of `f`, in seconds.
fn median_secs(f: impl FnMut()) -> f64 {
    lightos_bench::median_secs(REPEATS, f)
}

struct Row {
    name: &'static str,
    baseline: &'static str,
    subject_s: f64,
    baseline_s: f64,
    unit: &'static str,
    per: f64,
}

impl Row {
    fn print(&self) {
        let (s, b) = (self.per / self.subject_s, self.per / self.baseline_s);
        println!(
            "| {} | {:.1} {} | {} | {:.1} {} | {:.2} |",
            self.name,
            s,
            self.unit,
            self.baseline,
            b,
            self.unit,
            s / b
        );
    }
}

fn main() {
    let dev = Context::open().expect("open /dev/lightos (is lightos_core loaded?)");
    let src: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let mib = SIZE as f64 / (1 << 20) as f64;
    let mut rows = Vec::new();

    // Steady state: destination already mapped and touched.
    let buf = dev
        .create_buffer(SIZE, BufferFlags::empty(), Placement::Any)
        .expect("create buffer");
    let mut mapped = buf.map().expect("map buffer");
    let mut heap = vec![0u8; SIZE];
    heap.copy_from_slice(&src);
    mapped.copy_from_slice(&src);
    let subject_s = median_secs(|| black_box(&mut mapped[..]).copy_from_slice(black_box(&src)));
    let baseline_s = median_secs(|| black_box(&mut heap[..]).copy_from_slice(black_box(&src)));
    rows.push(Row {
        name: "write 64 MiB into a mapped buffer",
        baseline: "memcpy into malloc'd memory",
        subject_s,
        baseline_s,
        unit: "MiB/s",
        per: mib,
    });
    let mut out = vec![0u8; SIZE];
    let subject_s = median_secs(|| black_box(&mut out[..]).copy_from_slice(black_box(&mapped[..])));
    let baseline_s = median_secs(|| black_box(&mut out[..]).copy_from_slice(black_box(&heap[..])));
    rows.push(Row {
        name: "read 64 MiB from a mapped buffer",
        baseline: "memcpy from malloc'd memory",
        subject_s,
        baseline_s,
        unit: "MiB/s",
        per: mib,
    });
    drop((mapped, buf, heap, out));

    // First touch: allocation, zeroing/faulting and mapping included.
    let subject_s = median_secs(|| {
        let buf = dev
            .create_buffer(SIZE, BufferFlags::empty(), Placement::Any)
            .expect("create buffer");
        let mut m = buf.map().expect("map buffer");
        black_box(&mut m[..]).copy_from_slice(black_box(&src));
    });
    let baseline_s = median_secs(|| {
        // A fresh zeroed allocation this large is a new anonymous mapping: the copy faults its pages in.
        let mut v = vec![0u8; SIZE];
        black_box(&mut v[..]).copy_from_slice(black_box(&src));
    });
    rows.push(Row {
        name: "create + map + write 64 MiB",
        baseline: "calloc + write 64 MiB (first touch)",
        subject_s,
        baseline_s,
        unit: "MiB/s",
        per: mib,
    });

    // ioctl round trip vs a null syscall.
    const CALLS: usize = 20_000;
    let subject_s = median_secs(|| {
        for _ in 0..CALLS {
            black_box(dev.info().expect("GET_INFO"));
        }
    });
    let baseline_s = median_secs(|| {
        for _ in 0..CALLS {
            // SAFETY: getppid has no preconditions.
            black_box(unsafe { libc::getppid() });
        }
    });
    rows.push(Row {
        name: "GET_INFO ioctl round trip",
        baseline: "getppid() null syscall",
        subject_s,
        baseline_s,
        unit: "k calls/s",
        per: CALLS as f64 / 1000.0,
    });

    println!("BENCH-TABLE-BEGIN");
    println!("| LightOS path | rate | baseline (same run) | rate | ratio (LightOS / baseline) |");
    println!("| --- | --- | --- | --- | --- |");
    for row in &rows {
        row.print();
    }
    println!("BENCH-TABLE-END");
}
