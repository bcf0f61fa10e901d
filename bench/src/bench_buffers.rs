//! Buffer and ioctl benchmarks, run in the guest by `make bench` (bench/run.sh), twice: linked
//! statically with musl and dynamically with glibc (the copies are the libc's `memcpy`).
//!
//! Each row compares a LightOS path with a baseline measured in the same run, on the same data:
//! - writing and reading 64 MiB through a mapped buffer object vs the same copy into/from a shared
//!   anonymous mapping; first touch: create+map+write vs a fresh mapping + write;
//! - a `GET_INFO` ioctl round trip vs a null syscall (`getppid`).
//!
//! Like with like: under QEMU TCG a copy whose source and destination pages are a multiple of the
//! emulator's software TLB size apart (a power of two: 256 entries by default, grown on demand)
//! runs about 10x slower, because each source page and its destination page evict each other from
//! the same direct-mapped TLB entry on every access. An earlier version of this benchmark copied
//! into the buffer from a source exactly 64 MiB away and into malloc'd memory from one 64 MiB plus
//! a header page away, and measured that, not the buffer. Every copy here therefore takes its
//! source at the same distance from its destination ([`SAFE_DISTANCE`] pages modulo [`SPAN`]), and
//! two diagnostic rows show the aliased case on both kinds of mapping.
//!
//! Prints which libc it runs on (`BUFFERS-LIBC:`) and a Markdown table between `BENCH-TABLE-BEGIN`
//! and `BENCH-TABLE-END`.

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

/// A page-aligned anonymous mapping of `len` bytes (`shared`: `MAP_SHARED`, else private),
/// touched so no copy below takes a fault.
struct Anon {
    ptr: *mut u8,
    len: usize,
}

impl Anon {
    /// Mapped and touched.
    fn new(len: usize, shared: bool) -> Anon {
        let mut a = Anon::map(len, shared);
        a.bytes().fill(1);
        a
    }

    /// A fresh shared anonymous mapping, not touched: its first writes fault its pages in.
    fn untouched(len: usize) -> Anon {
        Anon::map(len, true)
    }

    fn map(len: usize, shared: bool) -> Anon {
        let kind = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        // SAFETY: a fresh anonymous mapping; unmapped in `drop`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | kind,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap of {len} bytes");
        Anon {
            ptr: ptr.cast(),
            len,
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and only reachable here.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Anon {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Source windows are chosen modulo this many pages (64 MiB: a multiple of every software TLB
/// size QEMU uses for these copies).
const SPAN: usize = 16384;

/// Pages between a source window and its destination, modulo [`SPAN`]: odd, so the two never share
/// a TLB entry of any power-of-two size.
const SAFE_DISTANCE: usize = 7;

/// A source of `SIZE` pattern bytes that can be placed at any page distance from a destination.
struct Source(Anon);

impl Source {
    fn new() -> Source {
        let mut a = Anon::new(SIZE + SPAN * 4096, false);
        for (i, b) in a.bytes().iter_mut().enumerate() {
            *b = (i * 31 % 251) as u8;
        }
        Source(a)
    }

    /// `SIZE` bytes starting `distance` pages (modulo [`SPAN`]) below `dst`.
    fn window(&mut self, dst: *const u8, distance: usize) -> &[u8] {
        let range = place(self.0.bytes(), dst, distance);
        &self.0.bytes()[range]
    }
}

/// The `SIZE`-byte window of `span` (`SIZE + SPAN` pages long) that starts `distance` pages
/// (modulo [`SPAN`]) below `other`.
fn place(span: &[u8], other: *const u8, distance: usize) -> std::ops::Range<usize> {
    let (base, other) = (span.as_ptr() as usize / 4096, other as usize / 4096);
    let first =
        (other as isize - distance as isize - base as isize).rem_euclid(SPAN as isize) as usize;
    first * 4096..first * 4096 + SIZE
}

fn main() {
    let libc_name = if cfg!(target_env = "musl") {
        "musl"
    } else {
        "glibc"
    };
    println!("BUFFERS-LIBC: {libc_name}");
    let dev = Context::open().expect("open /dev/lightos (is lightos_core loaded?)");
    let mut src = Source::new();
    let mib = SIZE as f64 / (1 << 20) as f64;
    let mut rows = Vec::new();
    let row = |name, baseline, subject_s, baseline_s| Row {
        name,
        baseline,
        subject_s,
        baseline_s,
        unit: "MiB/s",
        per: mib,
    };
    let copy = |dst: &mut [u8], src: &[u8]| {
        median_secs(|| black_box(&mut *dst).copy_from_slice(black_box(src)))
    };

    // Steady state: destinations mapped and touched.
    let buf = dev
        .create_buffer(SIZE, BufferFlags::empty(), Placement::Any)
        .expect("create buffer");
    let mut mapped = buf.map().expect("map buffer");
    let mut anon = Anon::new(SIZE, true);
    let (m, a) = (mapped.as_ptr(), anon.bytes().as_ptr());
    let buf_safe = copy(&mut mapped[..], src.window(m, SAFE_DISTANCE));
    let anon_safe = copy(anon.bytes(), src.window(a, SAFE_DISTANCE));
    let buf_aliased = copy(&mut mapped[..], src.window(m, 0));
    let anon_aliased = copy(anon.bytes(), src.window(a, 0));
    rows.push(row(
        "write 64 MiB into a mapped buffer",
        "memcpy into a shared anonymous mapping",
        buf_safe,
        anon_safe,
    ));
    rows.push(row(
        "diagnostic: write into the mapped buffer, source 64 MiB away (TCG TLB aliasing)",
        "the same, source 64 MiB + 7 pages away",
        buf_aliased,
        buf_safe,
    ));
    rows.push(row(
        "diagnostic: write into the anonymous mapping, source 64 MiB away",
        "the same, source 64 MiB + 7 pages away",
        anon_aliased,
        anon_safe,
    ));
    // The reads: each into a window of `out` at the safe distance above its source.
    let mut out = Anon::new(SIZE + SPAN * 4096, false);
    let mut read_from = |from: *const u8| {
        let to = out.bytes();
        // `from` lies SAFE_DISTANCE pages below the window.
        let range = place(
            to,
            from.wrapping_add(2 * SAFE_DISTANCE * 4096),
            SAFE_DISTANCE,
        );
        let to = &mut to[range];
        // SAFETY: `from` is a live mapping of `SIZE` bytes not written during the reads.
        let from = unsafe { std::slice::from_raw_parts(from, SIZE) };
        median_secs(|| black_box(&mut *to).copy_from_slice(black_box(from)))
    };
    let read_buf = read_from(m);
    let read_anon = read_from(a);
    rows.push(row(
        "read 64 MiB from a mapped buffer",
        "memcpy from a shared anonymous mapping",
        read_buf,
        read_anon,
    ));
    drop((mapped, buf, anon, out));

    // First touch: allocation, zeroing/faulting and mapping included.
    let subject_s = median_secs(|| {
        let buf = dev
            .create_buffer(SIZE, BufferFlags::empty(), Placement::Any)
            .expect("create buffer");
        let mut m = buf.map().expect("map buffer");
        let from = src.window(m.as_ptr(), SAFE_DISTANCE);
        black_box(&mut m[..]).copy_from_slice(black_box(from));
    });
    let baseline_s = median_secs(|| {
        // A fresh shared anonymous mapping: the copy faults its pages in.
        let mut fresh = Anon::untouched(SIZE);
        let from = src.window(fresh.bytes().as_ptr(), SAFE_DISTANCE);
        black_box(fresh.bytes()).copy_from_slice(black_box(from));
    });
    rows.push(row(
        "create + map + write 64 MiB",
        "new shared anonymous mapping + write 64 MiB (first touch)",
        subject_s,
        baseline_s,
    ));
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
    println!("| LightOS path ({libc_name} memcpy) | rate | baseline (same run) | rate | ratio (LightOS / baseline) |");
    println!("| --- | --- | --- | --- | --- |");
    for row in &rows {
        row.print();
    }
    println!("BENCH-TABLE-END");
}
