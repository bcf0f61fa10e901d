//! `lightos-fuzz run`: a supervisor forks worker processes; each generates programs from its seed,
//! runs them, keeps those that reach new module code (kcov) as a corpus to mutate, and reads the
//! kernel log after every program. A report, a worker killed by the kernel, or a program that stops
//! progressing ends the run with the program printed for `lightos-fuzz replay`.

use crate::{
    exec::Executor,
    gen::Gen,
    kmsg::{self, Kmsg},
    prog::Program,
    shared::Shared,
    sys,
};
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::HashSet,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

/// Options of `lightos-fuzz run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The run's seed (programs of worker w come from seed + w); default: from the clock, printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stop after this many system calls (all workers together); 0: no limit.
    #[arg(long, default_value_t = 0)]
    max_calls: u64,
    /// Worker processes running programs at once.
    #[arg(long, default_value_t = 2)]
    procs: u32,
    /// Photonic NPUs whose emulators receive fault commands (qemu/run --photonic N).
    #[arg(long, default_value_t = 0)]
    npus: u8,
    /// Do not steer by coverage (then a seed alone determines every program).
    #[arg(long)]
    no_kcov: bool,
    /// A program still running after this many seconds is a hang.
    #[arg(long, default_value_t = 120)]
    hang_secs: u64,
    /// Print where each worker's time went, per call kind, at its end.
    #[arg(long)]
    profile: bool,
}

/// How many ioctl numbers `/dev/lightos` defines (0 to JOB_BATCH), and their bits.
const IOCTL_COUNT: u32 = lightos_uapi::IOC_NR_JOB_BATCH + 1;
const IOCTL_NRS: u64 = (1 << IOCTL_COUNT) - 1;

/// Marks around a printed program (tests/fuzz/run.sh cuts it out of the serial log).
pub const BEGIN: &str = "=== lightos-fuzz program begin ===";
pub const END: &str = "=== lightos-fuzz program end ===";

/// Prints `prog_json` between the markers.
pub fn print_program(json: &str) {
    println!("{BEGIN}\n{json}\n{END}");
}

/// The supervisor.
pub fn run(a: &RunArgs) -> Result<(), String> {
    let seed = a
        .seed
        .unwrap_or_else(|| sys::monotonic_ns() ^ std::process::id() as u64);
    sys::open_dev()
        .map(sys::close)
        .map_err(|e| format!("{}: errno {e} (is lightos_core loaded?)", sys::DEV))?;
    let kcov = !a.no_kcov && std::path::Path::new("/sys/kernel/debug/kcov").exists();
    println!(
        "fuzz: seed {seed}, {} s, {} worker(s), {} NPU(s), coverage {}, allocation-failure injection {}",
        a.seconds,
        a.procs,
        a.npus,
        if kcov { "on (kcov)" } else { "off (no CONFIG_KCOV or --no-kcov)" },
        if sys::fail_nth_available() { "on (fail-nth)" } else { "off (no CONFIG_FAULT_INJECTION)" },
    );
    let start = Instant::now();
    // The kernel logs a user fault of a worker ("lightos-fuzz[pid]: segfault at … ip …"), not a
    // report: read from here so that a killed worker's own line can be shown with its program.
    let mut faults = crate::kmsg::Kmsg::open().ok();
    let mut workers = Vec::new();
    for w in 0..a.procs.max(1) {
        let shared: &'static Shared = Box::leak(Box::new(Shared::new()));
        // SAFETY: fork before any thread is started; the child runs the worker loop and exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", sys::errno()));
        }
        if pid == 0 {
            let code = worker(a, seed.wrapping_add(w as u64), w, shared, kcov);
            std::process::exit(code);
        }
        workers.push((pid, shared, 0u64, Instant::now(), None::<i32>));
    }
    let mut next_progress = Duration::from_secs(10);
    let mut failure = None;
    while workers.iter().any(|w| w.4.is_none()) {
        std::thread::sleep(Duration::from_millis(50));
        for (pid, shared, beat, since, status) in workers.iter_mut() {
            if status.is_some() {
                continue;
            }
            let mut st = 0;
            // SAFETY: waitpid writes only `st`.
            if unsafe { libc::waitpid(*pid, &mut st, libc::WNOHANG) } == *pid {
                *status = Some(st);
                if libc::WIFSIGNALED(st) && failure.is_none() {
                    let (index, json) = shared.current();
                    println!(
                        "fuzz: REPORT worker {pid} was killed by signal {} in program {index} (a kernel oops kills the calling task; a fault in the fuzzer itself is logged as 'traps: lightos-fuzz')",
                        libc::WTERMSIG(st)
                    );
                    print_program(&json);
                    // Give the kernel a moment to log the fault, then show the worker's lines.
                    std::thread::sleep(Duration::from_millis(200));
                    let tag = format!("[{pid}]");
                    for line in faults.as_mut().map(|k| k.new_lines()).unwrap_or_default() {
                        if line.contains(&tag) {
                            println!("fuzz: kernel log: {line}");
                        }
                    }
                    failure = Some("a worker was killed".to_string());
                } else if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 && failure.is_none() {
                    failure = Some(format!(
                        "worker {pid} exited with status {}",
                        libc::WEXITSTATUS(st)
                    ));
                }
                continue;
            }
            let now = shared.heartbeat();
            if now != *beat {
                *beat = now;
                *since = Instant::now();
            } else if since.elapsed().as_secs() >= a.hang_secs && failure.is_none() {
                let (index, json) = shared.current();
                println!("fuzz: REPORT program {index} of worker {pid} has not finished in {} s (a call hangs)", a.hang_secs);
                print_program(&json);
                failure = Some("a program hung".to_string());
                // SAFETY: signalling our own child.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
        if start.elapsed() >= next_progress {
            next_progress += Duration::from_secs(10);
            let t = sum(&workers.iter().map(|w| w.1).collect::<Vec<_>>());
            println!(
                "fuzz: {:>5.0} s  {} calls ({:.0}/s)  {} programs  {}/{IOCTL_COUNT} ioctls  {} module PCs/worker max  {} allocation failures injected",
                start.elapsed().as_secs_f64(),
                t.calls,
                t.calls as f64 / start.elapsed().as_secs_f64(),
                t.programs,
                (t.nrs & IOCTL_NRS).count_ones(),
                t.pcs,
                t.injected
            );
        }
    }
    let shareds: Vec<&Shared> = workers.iter().map(|w| w.1).collect();
    let t = sum(&shareds);
    let coverage: HashSet<u64> = shareds.iter().flat_map(|s| s.pcs()).collect();
    println!(
        "fuzz: done: seed={seed} seconds={:.0} calls={} ioctls={} programs={} distinct_ioctls={}/{IOCTL_COUNT} coverage_pcs={} injected={} emulator_faults={} reports={}",
        start.elapsed().as_secs_f64(),
        t.calls,
        t.ioctls,
        t.programs,
        (t.nrs & IOCTL_NRS).count_ones(),
        coverage.len(),
        t.injected,
        t.emulator_faults,
        failure.is_some() as u32
    );
    match failure {
        None => Ok(()),
        Some(f) => Err(f),
    }
}

/// Plain sums of the workers' totals (`pcs` is the largest worker's count).
struct Sum {
    calls: u64,
    ioctls: u64,
    programs: u64,
    injected: u64,
    emulator_faults: u64,
    nrs: u64,
    pcs: u64,
}

fn sum(shared: &[&Shared]) -> Sum {
    let mut s = Sum {
        calls: 0,
        ioctls: 0,
        programs: 0,
        injected: 0,
        emulator_faults: 0,
        nrs: 0,
        pcs: 0,
    };
    for w in shared {
        let t = w.totals();
        s.calls += t.calls.load(Ordering::Relaxed);
        s.ioctls += t.ioctls.load(Ordering::Relaxed);
        s.programs += t.programs.load(Ordering::Relaxed);
        s.injected += t.injected.load(Ordering::Relaxed);
        s.emulator_faults += t.emulator_faults.load(Ordering::Relaxed);
        s.nrs |= t.nrs.load(Ordering::Relaxed);
        s.pcs = s.pcs.max(t.pcs.load(Ordering::Relaxed));
    }
    s
}

/// One worker: generate or mutate, run, keep what reached new code, check the kernel log.
/// Returns its exit status: 0 done, 2 a kernel report.
fn worker(a: &RunArgs, seed: u64, id: u32, shared: &'static Shared, kcov: bool) -> i32 {
    let mut kmsg = match Kmsg::open() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("fuzz: worker {id}: /dev/kmsg: {e}");
            return 1;
        }
    };
    let range = if kcov { sys::module_range() } else { None };
    // A program stuck 5 s in interruptible waits (a mutated far deadline) gets them interrupted.
    crate::watchdog::start(move || shared.heartbeat(), Duration::from_secs(5));
    let mut exec = Executor::new(shared.totals(), kcov, a.npus);
    if a.profile {
        exec = exec.with_profile();
    }
    let exec = Arc::new(exec);
    let inject = sys::fail_nth_available();
    let mut corpus: Vec<Program> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let start = Instant::now();
    let totals = shared.totals();
    for index in 0u64.. {
        if start.elapsed().as_secs() >= a.seconds
            || (a.max_calls > 0
                && totals.calls.load(Ordering::Relaxed) * a.procs as u64 >= a.max_calls)
        {
            break;
        }
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(index));
        let prog = {
            let from_corpus = !corpus.is_empty() && rng.gen_bool(0.5);
            let pick = if from_corpus {
                Some(rng.gen_range(0..corpus.len()))
            } else {
                None
            };
            let mut g = Gen::new(&mut rng, inject, a.npus);
            match pick {
                Some(i) => g.mutate(&corpus[i]),
                None => g.program(),
            }
        };
        let json = serde_json::to_string(&prog).unwrap_or_default();
        shared.begin(index, &json);
        let result = exec.run(&prog, range);
        shared.end();
        totals.programs.fetch_add(1, Ordering::Relaxed);
        let before = seen.len();
        seen.extend(result.pcs);
        if seen.len() > before {
            corpus.push(prog);
            totals.pcs.store(seen.len() as u64, Ordering::Relaxed);
        }
        let reports: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| kmsg::is_report(l))
            .collect();
        if !reports.is_empty() {
            println!(
                "fuzz: REPORT after program {index} of worker {id} (seed {seed}): {}",
                reports[0]
            );
            for r in reports.iter().skip(1).take(5) {
                println!("fuzz:   {r}");
            }
            print_program(&json);
            shared.store_pcs(seen.iter().copied());
            return 2;
        }
    }
    shared.store_pcs(seen.iter().copied());
    for (name, n, ms) in exec.profile() {
        println!(
            "fuzz: worker {id} profile: {name:<14} {n:>8} calls {ms:>10.1} ms {:>8.1} µs/call",
            ms * 1e3 / n.max(1) as f64
        );
    }
    0
}

/// `lightos-fuzz replay FILE`: runs a saved program (`repeat` times) and fails on a kernel report.
pub fn replay(path: &str, repeat: u32, npus: u8) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let prog: Program =
        serde_json::from_str(text.trim()).map_err(|e| format!("{path}: not a program: {e}"))?;
    let mut kmsg = Kmsg::open().map_err(|e| format!("/dev/kmsg: {e}"))?;
    let totals = Box::leak(Box::default());
    let exec = Arc::new(Executor::new(totals, false, npus));
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    crate::watchdog::start(|| RUNS.load(Ordering::Relaxed), Duration::from_secs(5));
    for i in 0..repeat.max(1) {
        exec.run(&prog, None);
        RUNS.fetch_add(1, Ordering::Relaxed);
        let reports: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| kmsg::is_report(l))
            .collect();
        if !reports.is_empty() {
            return Err(format!(
                "run {} of {path} made the kernel report: {}",
                i + 1,
                reports.join(" | ")
            ));
        }
    }
    println!(
        "replay: {path}: {} steps run {} time(s), {} calls, no kernel report",
        prog.all_steps().len(),
        repeat.max(1),
        totals.calls.load(Ordering::Relaxed)
    );
    Ok(())
}
