//! Helpers shared by the benchmark binaries.

use std::time::Instant;

/// Median of `repeats` timings of `f`, in seconds.
pub fn median_secs(repeats: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// The reference CPU executor (lightosd's core set, `Executor::serve`) on a thread of this
/// process with its own context, as the submission benchmarks use it; stopped by [`CpuExecutor::stop`].
pub struct CpuExecutor {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
    /// Its backend identifier, for routing rules.
    pub backend_id: u32,
}

impl CpuExecutor {
    /// Registers `name` and starts serving.
    pub fn start(name: &'static str) -> CpuExecutor {
        use std::sync::{atomic::AtomicBool, Arc};
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let dev = lightos_runtime::Context::open().expect("open executor context");
            let exec = dev
                .register_executor(&lightosd::core_spec(name))
                .expect("register executor");
            tx.send(exec.backend_id()).unwrap();
            let mut server = lightosd::Server::core_cpu().expect("thread pool");
            let until = lightos_runtime::ServeUntil {
                stop: Some(&stop2),
                max_jobs: None,
            };
            exec.serve(&mut server, until).expect("serve")
        });
        let backend_id = rx.recv().expect("the executor thread registered");
        CpuExecutor {
            stop,
            handle,
            backend_id,
        }
    }

    /// Stops serving (within the serve loop's 100 ms poll) and returns how many jobs it ran.
    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().expect("the executor thread")
    }
}
