//! Spike-queue benchmarks, run in the guest by `make bench` (bench/run.sh), each against a pipe
//! carrying the same 16-byte events in the same run:
//! - events/s from a producer thread to a consumer thread through one ring, batches of 1, 64 and
//!   4096 events, vs `write`/`read` of the same batches on a pipe;
//! - wake-up latency of a consumer sleeping in `SPIKE_WAIT` (producer pushes one event stamped with
//!   CLOCK_MONOTONIC), p50/p99, vs a consumer blocked in `read` on a pipe;
//! - aggregate events/s with 1, 4 and 16 rings (one producer and one consumer thread each).
//!
//! Prints two Markdown tables between `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`.

use lightos_runtime::{monotonic_ns, spike::queue::SpikeQueue, spike::SpikeEvent, Context};
use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

const EVENTS: u64 = 400_000;

fn event(i: u64) -> SpikeEvent {
    SpikeEvent {
        timestamp_ns: i,
        neuron: i as u32,
        value: 1,
        channel: 0,
    }
}

/// Pushes `total` events in batches of `batch`, waiting for room (no drops).
fn produce(q: &SpikeQueue, total: u64, batch: usize) {
    let events: Vec<_> = (0..batch as u64).map(event).collect();
    let mut sent = 0;
    while sent < total {
        let room = (q.entries() - q.len()) as u64;
        let n = room.min(batch as u64).min(total - sent) as usize;
        if n == 0 {
            thread::yield_now();
            continue;
        }
        sent += q.push(&events[..n]).expect("push") as u64;
    }
}

/// Pops until `total` events arrived, sleeping in `SPIKE_WAIT` when the ring is empty.
fn consume(q: &SpikeQueue, total: u64) {
    let mut buf = Vec::with_capacity(4096);
    let mut got = 0;
    while got < total {
        buf.clear();
        let n = q.pop(&mut buf, 4096);
        if n == 0 {
            q.wait(1, Some(Duration::from_millis(10))).expect("wait");
        }
        got += n as u64;
    }
}

fn ring_rate(dev: &Context, rings: usize, batch: usize) -> f64 {
    let queues: Vec<_> = (0..rings)
        .map(|_| Arc::new(dev.create_spike_queue(65_536).expect("ring")))
        .collect();
    let per = EVENTS / rings as u64;
    let start = Instant::now();
    let threads: Vec<_> = queues
        .iter()
        .flat_map(|q| {
            let (p, c) = (q.clone(), q.clone());
            [
                thread::spawn(move || produce(&p, per, batch)),
                thread::spawn(move || consume(&c, per)),
            ]
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().expect("thread"));
    (per * rings as u64) as f64 / start.elapsed().as_secs_f64()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() returns; we own them after.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors from pipe(), owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn write_all(fd: &OwnedFd, bytes: &[u8]) {
    let mut off = 0;
    while off < bytes.len() {
        // SAFETY: the slice is readable for its length; the fd is open.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                bytes[off..].as_ptr().cast(),
                bytes.len() - off,
            )
        };
        assert!(n > 0, "pipe write");
        off += n as usize;
    }
}

fn read_some(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    // SAFETY: the buffer is writable for its length; the fd is open.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n > 0, "pipe read");
    n as usize
}

fn pipe_rate(batch: usize) -> f64 {
    let (r, w) = pipe();
    let bytes = vec![0u8; batch * 16];
    let start = Instant::now();
    let producer = thread::spawn(move || {
        let mut sent = 0;
        while sent < EVENTS {
            let n = (batch as u64).min(EVENTS - sent);
            write_all(&w, &bytes[..n as usize * 16]);
            sent += n;
        }
    });
    let mut buf = vec![0u8; 65_536];
    let mut got = 0u64;
    while got < EVENTS * 16 {
        got += read_some(&r, &mut buf) as u64;
    }
    producer.join().expect("producer");
    EVENTS as f64 / start.elapsed().as_secs_f64()
}

fn quantiles(mut v: Vec<u64>) -> (f64, f64) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

fn ring_wakeups(dev: &Context, samples: usize) -> (f64, f64) {
    let q = Arc::new(dev.create_spike_queue(64).expect("ring"));
    let p = q.clone();
    let producer = thread::spawn(move || {
        for i in 0..samples {
            thread::sleep(Duration::from_micros(1000 + (i as u64 * 337) % 1000));
            p.push(&[event(monotonic_ns())]).expect("push");
        }
    });
    let mut lat = Vec::with_capacity(samples);
    let mut buf = Vec::new();
    while lat.len() < samples {
        q.wait(1, None).expect("wait");
        let now = monotonic_ns();
        buf.clear();
        q.pop(&mut buf, 64);
        lat.extend(buf.iter().map(|e| now.saturating_sub(e.timestamp_ns)));
    }
    producer.join().expect("producer");
    quantiles(lat)
}

fn pipe_wakeups(samples: usize) -> (f64, f64) {
    let (r, w) = pipe();
    let producer = thread::spawn(move || {
        for i in 0..samples {
            thread::sleep(Duration::from_micros(1000 + (i as u64 * 337) % 1000));
            write_all(&w, &monotonic_ns().to_ne_bytes().repeat(2));
        }
    });
    let mut lat = Vec::with_capacity(samples);
    let mut buf = [0u8; 16];
    while lat.len() < samples {
        let mut got = 0;
        while got < 16 {
            got += read_some(&r, &mut buf[got..]);
        }
        let now = monotonic_ns();
        let sent = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
        lat.push(now.saturating_sub(sent));
    }
    producer.join().expect("producer");
    quantiles(lat)
}

fn main() {
    let dev = Context::open().expect("/dev/lightos");
    println!("BENCH-TABLE-BEGIN");
    println!("| producer → consumer thread, {EVENTS} events | spike ring | pipe (same 16-byte events) | ratio ring / pipe |");
    println!("|---|---|---|---|");
    for batch in [1usize, 64, 4096] {
        let ring = ring_rate(&dev, 1, batch);
        let pipe = pipe_rate(batch);
        println!(
            "| batch {batch} | {:.2} M events/s | {:.2} M events/s | {:.1}× |",
            ring / 1e6,
            pipe / 1e6,
            ring / pipe
        );
    }
    let (r50, r99) = ring_wakeups(&dev, 300);
    let (p50, p99) = pipe_wakeups(300);
    println!(
        "| wake-up latency p50 | {r50:.0} µs (SPIKE_WAIT) | {p50:.0} µs (blocking read) | {:.2}× |",
        r50 / p50
    );
    println!(
        "| wake-up latency p99 | {r99:.0} µs | {p99:.0} µs | {:.2}× |",
        r99 / p99
    );
    println!("BENCH-TABLE-END");
    println!("BENCH-TABLE-BEGIN");
    println!("| rings (a producer and a consumer thread each), batch 64 | aggregate events/s | vs 1 ring |");
    println!("|---|---|---|");
    let one = ring_rate(&dev, 1, 64);
    for rings in [1usize, 4, 16] {
        let rate = if rings == 1 {
            one
        } else {
            ring_rate(&dev, rings, 64)
        };
        println!("| {rings} | {:.2} M | {:.2}× |", rate / 1e6, rate / one);
    }
    println!("BENCH-TABLE-END");
}
