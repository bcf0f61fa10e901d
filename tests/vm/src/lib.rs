//! Helpers for the guest test suite. These tests run only inside the QEMU guest (qemu/run), where
//! `/dev/lightos` is the real module; on the host they are built but not run (see tests/run-all.sh).

pub mod photonic;
pub mod process;

use lightos_runtime::{
    Buffer, BufferFlags, Context, DType, Op, Placement, Primitive, PrimitiveBuilder, Queue,
};
use lightos_uapi as uapi;
use std::{
    fs::File,
    os::fd::{AsRawFd, RawFd},
    process::Command,
    time::Duration,
};

/// Where the guest image keeps the module.
pub const MODULE_PATH: &str = "/lib/modules/lightos_core.ko";

/// Opens `/dev/lightos` read-write, panicking with the errno if that fails.
pub fn open_dev() -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/lightos")
        .unwrap_or_else(|e| panic!("open /dev/lightos: {e}"))
}

/// Issues a raw ioctl whose argument is the user address `arg`; returns `Ok(ret)` or `Err(errno)`.
/// Tests pass addresses of memory valid for the size encoded in `cmd`, or deliberately invalid ones
/// that the kernel must reject with EFAULT.
pub fn raw_ioctl(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, i32> {
    // SAFETY: the kernel validates `arg` as a user address; an invalid one is EFAULT, never UB here
    // (the tests own any memory they point it at for the duration of the call).
    let ret = unsafe { libc::ioctl(fd, cmd as libc::Ioctl, arg as *mut libc::c_void) };
    if ret < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

/// Calls GET_INFO on the user address `buf` with the size encoded as `size`.
pub fn get_info_sized(file: &File, buf: usize, size: usize) -> Result<i32, i32> {
    let cmd = uapi::iowr(uapi::IOC_NR_GET_INFO, size);
    raw_ioctl(file.as_raw_fd(), cmd, buf)
}

/// Calls GET_INFO with the exact v1 size.
pub fn get_info(file: &File, info: &mut uapi::Info) -> Result<i32, i32> {
    get_info_sized(
        file,
        info as *mut uapi::Info as usize,
        std::mem::size_of::<uapi::Info>(),
    )
}

/// Issues `cmd` (sized for `T`) with `arg` as its argument.
pub fn ioctl_struct<T>(file: &File, nr: u32, arg: &mut T) -> Result<i32, i32> {
    raw_ioctl(
        file.as_raw_fd(),
        uapi::iowr(nr, std::mem::size_of::<T>()),
        arg as *mut T as usize,
    )
}

/// Creates a buffer with the raw ioctl, returning the kernel's reply.
pub fn create_buffer(file: &File, size: u64, flags: u32) -> Result<uapi::BufferCreate, i32> {
    let mut req = uapi::BufferCreate {
        size,
        flags,
        ..Default::default()
    };
    ioctl_struct(file, uapi::IOC_NR_BUFFER_CREATE, &mut req).map(|_| req)
}

/// Describes a buffer with the raw ioctl.
pub fn buffer_info(file: &File, handle: u32) -> Result<uapi::BufferInfo, i32> {
    let mut req = uapi::BufferInfo {
        handle,
        ..Default::default()
    };
    ioctl_struct(file, uapi::IOC_NR_BUFFER_INFO, &mut req).map(|_| req)
}

/// Destroys a buffer handle with the raw ioctl.
pub fn destroy_buffer(file: &File, handle: u32) -> Result<i32, i32> {
    let mut req = uapi::BufferDestroy {
        handle,
        ..Default::default()
    };
    ioctl_struct(file, uapi::IOC_NR_BUFFER_DESTROY, &mut req)
}

/// Maps `len` bytes of `file` at `offset` with `prot` and `flags`; returns the address or the errno.
pub fn map(file: &File, len: usize, prot: i32, flags: i32, offset: u64) -> Result<*mut u8, i32> {
    // SAFETY: a fresh mapping chosen by the kernel; callers unmap it with `unmap`.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            flags,
            file.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(p.cast())
    }
}

/// Unmaps a mapping made by [`map`].
pub fn unmap(addr: *mut u8, len: usize) {
    // SAFETY: `addr`/`len` describe a mapping made by `map` that the caller no longer uses.
    assert_eq!(unsafe { libc::munmap(addr.cast(), len) }, 0);
}

/// Runs `f` with allocation-failure injection armed for the first allocation the kernel makes on
/// this thread (`fail-nth` 1; every slab, page and vmalloc allocation counts, see
/// `lightos_fuzz::fail_nth`); returns what `f` returned and whether it reached an allocation (which
/// then failed). `Err` says why when the kernel has no fault injection (the bench kernel).
/// `f` should make its system calls only: a fault on fresh user memory allocates a page too.
pub fn first_allocation_fails<R>(f: impl FnOnce() -> R) -> Result<(R, bool), String> {
    lightos_fuzz::fail_nth::configure()?;
    let fail = lightos_fuzz::fail_nth::FailNth::open().map_err(|e| format!("fail-nth: {e}"))?;
    fail.arm(1).map_err(|e| format!("fail-nth: {e}"))?;
    let result = f();
    let allocated = fail.disarm();
    Ok((result, allocated))
}

/// One counter of `/sys/kernel/debug/lightos/stats`.
pub fn stat(name: &str) -> u64 {
    let text = std::fs::read_to_string("/sys/kernel/debug/lightos/stats").expect("debugfs stats");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in stats:\n{text}"))
        .parse()
        .unwrap()
}

/// The module-wide count of open contexts, seen from a fresh context (so one more than the others).
pub fn open_contexts_besides_probe() -> u32 {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    get_info(&f, &mut info).expect("GET_INFO");
    info.open_contexts - 1
}

/// Whether lightos_core is listed in /proc/modules.
pub fn module_loaded() -> bool {
    std::fs::read_to_string("/proc/modules")
        .map(|s| s.lines().any(|l| l.starts_with("lightos_core ")))
        .unwrap_or(false)
}

/// Runs a command, returning whether it succeeded and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Loads the module if it is not loaded.
pub fn ensure_loaded() {
    if !module_loaded() {
        let (ok, err) = run("insmod", &[MODULE_PATH]);
        assert!(ok, "insmod: {err}");
    }
}

/// The kmemleak control file (CONFIG_DEBUG_KMEMLEAK, debugfs mounted by the guest's init).
const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// Makes kmemleak forget every suspect that exists now, so later reports are about later work only:
/// scans first (`clear` only hides suspects already reported), then clears. False when unavailable.
pub fn kmemleak_clear() -> bool {
    std::fs::write(KMEMLEAK, "scan").is_ok() && std::fs::write(KMEMLEAK, "clear").is_ok()
}

/// Scans for leaks and returns the suspects reported since the last [`kmemleak_clear`].
/// kmemleak only reports objects older than 5 s, so callers wait that long after the work.
pub fn kmemleak_reports() -> Vec<String> {
    std::fs::write(KMEMLEAK, "scan").expect("kmemleak scan");
    let report = std::fs::read_to_string(KMEMLEAK).expect("read kmemleak");
    report
        .split("unreferenced object")
        .skip(1)
        .map(|r| r.trim().to_string())
        .collect()
}

/// An executor served by a thread of this process (its own context) through
/// [`lightos_runtime::Executor::serve`], stopped and unregistered when dropped.
pub struct ExecutorThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
    /// Its backend identifier.
    pub backend_id: u32,
}

impl ExecutorThread {
    /// Registers `spec` on a new context and serves its jobs with the CPU backend on one thread,
    /// running only the core set ([`lightosd::CORE_OPS`] on f32): jobs of other ops `spec` claims
    /// complete `Invalid`.
    pub fn start(spec: lightos_runtime::ExecutorSpec) -> Self {
        Self::serving(spec, lightosd::Server::core_cpu().expect("thread pool"))
    }

    /// The CPU backend under `name`, declaring and serving the core set ([`lightosd::core_spec`]).
    pub fn cpu(name: &str) -> Self {
        Self::start(lightosd::core_spec(name))
    }

    /// `lightosd`'s CPU backend under `name` with `threads` workers (every op and dtype), served
    /// by a thread here.
    pub fn lightosd(name: &str, threads: usize) -> Self {
        let backend = lightosd::Backend::Cpu(lightos_cpu::Gemm::new(threads).expect("thread pool"));
        let spec = lightosd::spec(name);
        let server = lightosd::Server::new(backend, &spec);
        Self::serving(spec, server)
    }

    /// Registers `spec` on a new context in a new thread that serves its jobs with `server` until
    /// stopped.
    fn serving(spec: lightos_runtime::ExecutorSpec, mut server: lightosd::Server) -> Self {
        use std::sync::{atomic::AtomicBool, mpsc, Arc};
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let dev = lightos_runtime::Context::open().expect("open executor context");
            let exec = dev.register_executor(&spec).expect("register executor");
            tx.send(exec.backend_id()).unwrap();
            let until = lightos_runtime::ServeUntil {
                stop: Some(&stop2),
                max_jobs: None,
            };
            exec.serve(&mut server, until).expect("serve")
        });
        let backend_id = rx.recv().expect("executor thread registered");
        Self {
            stop,
            handle: Some(handle),
            backend_id,
        }
    }
}

impl Drop for ExecutorThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// `n` deterministic values in [-1, 1] (multiples of 1/11), varied by `salt`.
pub fn pattern_f32(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + salt * 13) % 23) as f32 - 11.0) / 11.0)
        .collect()
}

/// `n` values uniform in [−1, 1) from a splitmix64 stream seeded by `salt`: full-rank data (the
/// modular patterns of [`pattern_f32`] make low-rank matrices, which an analog backend reads with
/// a larger relative error; docs/PHYSICS.md).
pub fn random_f32(n: usize, salt: u64) -> Vec<f32> {
    let mut state = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 23) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Writes `values` as little-endian f32 at the start of `bytes`.
pub fn put_f32(bytes: &mut [u8], values: &[f32]) {
    for (d, v) in bytes.chunks_exact_mut(4).zip(values) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

/// Reads `n` little-endian f32 from the start of `bytes`.
pub fn get_f32(bytes: &[u8], n: usize) -> Vec<f32> {
    bytes[..n * 4]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Issues `nr` (sized for `T`) on a runtime `Context`'s descriptor with `arg` as its argument.
pub fn dev_ioctl<T>(dev: &lightos_runtime::Context, nr: u32, arg: &mut T) -> Result<i32, i32> {
    use std::os::fd::AsFd;
    raw_ioctl(
        dev.as_fd().as_raw_fd(),
        uapi::iowr(nr, std::mem::size_of::<T>()),
        arg as *mut T as usize,
    )
}

/// A valid 4-element f32 ADD on a new queue of `dev` (a at 0, b at 16, out at 32 of a 4 KiB
/// buffer), changed by `mutate`, which also gets a device-read-only buffer's handle: the starting
/// point of the submit-rejection tests. The buffers come back so they outlive the submission.
pub fn mutated_add(
    dev: &Context,
    mutate: impl Fn(&mut uapi::Primitive, u32),
) -> (Queue, Primitive, [Buffer; 2]) {
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let ro = dev
        .create_buffer(4096, BufferFlags::DEVICE_READ_ONLY, Placement::Any)
        .unwrap();
    let mut p = PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 16, &[4])
        .output(&b, 32, &[4]);
    mutate(p.abi_mut(), ro.handle());
    (q, p, [b, ro])
}

/// Whole networks (vm_graph, vm_photonic_graph): the light network `name` from the guest's working
/// directory (tests/run-all.sh copies them there), or `None` after saying why.
pub fn light_network(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var("LIGHTOS_LIGHT_MODELS").unwrap_or_else(|_| ".".into());
    let path = std::path::Path::new(&dir).join(format!("light_{name}.onnx"));
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not in the guest", path.display());
        None
    }
}

/// `path` loaded, shapes inferred and every pass run.
pub fn optimized_network(path: &std::path::Path) -> lightos_graph::ir::Graph {
    let mut graph = lightos_graph::onnx::load(path).unwrap();
    lightos_graph::shape::infer(&mut graph).unwrap();
    lightos_graph::passes::optimize(&mut graph, |_| true).unwrap();
    graph
}

/// Network `name` from the guest's working directory with the random weights of seed 1 and its
/// final softmax dropped, optimized: the graph whose logits run-all.sh computed on the host
/// (`lightos model run --on local --random-weights 1 --logits`, saved as `NAME.input.npy` and
/// `NAME.logits.npy`), with that input and those logits; `None` after saying why.
pub fn network_with_host_reference(
    name: &str,
) -> Option<(lightos_graph::ir::Graph, Vec<f32>, Vec<f32>)> {
    let path = light_network(name)?;
    let read = |what: &str| -> Option<Vec<f32>> {
        let file = format!("{name}.{what}.npy");
        let Ok(bytes) = std::fs::read(&file) else {
            eprintln!("skipped: {file} is not in the guest (tests/run-all.sh makes it)");
            return None;
        };
        Some(npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap())
    };
    let (input, logits) = (read("input")?, read("logits")?);
    let mut graph = lightos_graph::onnx::load(&path).unwrap();
    lightos_graph::shape::infer(&mut graph).unwrap();
    lightos_graph::passes::optimize(&mut graph, |p| p == "constants").unwrap();
    lightos_graph::weights::randomize(&mut graph, 1);
    lightos_graph::weights::drop_final_softmax(&mut graph);
    lightos_graph::passes::optimize(&mut graph, |_| true).unwrap();
    Some((graph, input, logits))
}

/// The little-endian f32s of `bytes`.
pub fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Jobs backend `backend` has done, as `QUERY_BACKENDS` reports.
pub fn backend_jobs(dev: &lightos_runtime::Context, backend: u32) -> u64 {
    dev.backends()
        .unwrap()
        .into_iter()
        .find(|b| b.id == backend)
        .map_or(0, |b| b.stats.count)
}
