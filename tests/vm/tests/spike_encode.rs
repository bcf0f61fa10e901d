//! Kernel-produced spike queues and OP_SPIKE_ENCODE (ABI 1.6): a job's events reach the queue
//! before the job is seen done and equal the host encoders' (snnTorch definitions); a full queue
//! drops and counts; userspace cannot corrupt the producer side; every rejection path of the
//! primitive and of JOB_COMPLETE's `produced`.

use lightos_runtime::{
    spike::{queue::SpikeQueue, SpikeEvent},
    Buffer, BufferFlags, Context, DType, Error, JobStatus, Op, Placement, Primitive,
    PrimitiveBuilder, Queue,
};
use lightos_snn::encode_job::{EncodeSpec, Encoding};
use lightos_uapi as uapi;
use lightos_vm_tests::{
    dev_ioctl, map,
    process::{exited_ok, fork_child, recv_fd, send_fd, socket_pair, wait_child},
    put_f32, stat, unmap, ExecutorThread,
};
use nix::errno::Errno;
use std::{os::fd::AsFd, time::Duration};

const SEC: Option<Duration> = Some(Duration::from_secs(20));

struct Rig {
    dev: Context,
    jobs: Queue,
    input: Buffer,
    staging: Buffer,
}

fn rig() -> Rig {
    let dev = Context::open().unwrap();
    let jobs = dev.create_queue(0, Duration::ZERO).unwrap();
    let buffer = |size| {
        dev.create_buffer(size, BufferFlags::empty(), Placement::Any)
            .unwrap()
    };
    let (input, staging) = (buffer(64 * 1024), buffer(1 << 20));
    Rig {
        dev,
        jobs,
        input,
        staging,
    }
}

fn spec(encoding: Encoding, steps: u32) -> EncodeSpec {
    EncodeSpec {
        encoding,
        steps,
        channel: 5,
        step_ns: 1_000_000,
        seed: 7,
    }
}

const RATE: Encoding = Encoding::Rate {
    gain: 1.0,
    offset: 0.0,
};
const LATENCY: Encoding = Encoding::Latency {
    threshold: 0.01,
    tau: 5.0,
    linear: false,
    normalize: true,
    clip: true,
};
const DELTA: Encoding = Encoding::Delta {
    threshold: 0.1,
    off_spike: true,
    padding: false,
};

/// `n` inputs in [0.25, 0.75): all above the latency threshold, so each spikes exactly once.
fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.25 + ((i * 37) % 100) as f32 / 200.0)
        .collect()
}

impl Rig {
    /// Writes `x` to the input buffer and returns the encode primitive for `q`.
    fn prim(&self, q: &SpikeQueue, s: &EncodeSpec, x: &[f32], shape: &[u64]) -> Primitive {
        put_f32(&mut self.input.map().unwrap()[..], x);
        s.primitive(q, &self.input, 0, shape, &self.staging, 0)
    }

    fn run(&self, p: Primitive) -> JobStatus {
        let sub = self.jobs.submit(&[p]).unwrap();
        self.jobs.wait(sub.last_seq, SEC).unwrap().status
    }
}

fn drain(q: &SpikeQueue) -> Vec<SpikeEvent> {
    let mut out = Vec::new();
    q.pop(&mut out, usize::MAX);
    out
}

#[test]
fn encode_jobs_produce_the_host_encoders_events_into_the_queue() {
    let _exec = ExecutorThread::cpu("t-enc-ref");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(8192).unwrap();
    assert!(q.kernel_produced());
    let x = values(64);
    for (s, shape, neurons) in [
        (spec(RATE, 20), vec![64u64], 64usize),
        (spec(LATENCY, 25), vec![8, 8], 64),
        (spec(DELTA, 8), vec![8, 8], 8),
    ] {
        let want = s.encode(&x, neurons).unwrap();
        assert!(!want.is_empty());
        assert_eq!(r.run(r.prim(&q, &s, &x, &shape)), JobStatus::Ok, "{s:?}");
        // No wait: the events are in the ring once the job is seen done.
        assert_eq!(q.len() as usize, want.len(), "{s:?}");
        assert_eq!(drain(&q), want, "{s:?}");
    }
    assert_eq!(q.overflow(), 0);
}

#[test]
fn a_waiter_on_a_kernel_queue_is_woken_by_the_job() {
    let _exec = ExecutorThread::cpu("t-enc-wake");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(1024).unwrap();
    let s = spec(LATENCY, 10);
    let p = r.prim(&q, &s, &values(16), &[16]);
    std::thread::scope(|sc| {
        let waiter = sc.spawn(|| q.wait(16, SEC));
        std::thread::sleep(Duration::from_millis(100));
        r.jobs.submit(&[p]).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), 16, "one spike per input");
    });
}

#[test]
fn a_full_kernel_queue_drops_and_counts() {
    let _exec = ExecutorThread::cpu("t-enc-full");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(8).unwrap();
    let dropped = stat("spike_events_dropped");
    let s = spec(RATE, 10);
    let ones = vec![1.0f32; 4]; // probability 1: 40 events
    assert_eq!(r.run(r.prim(&q, &s, &ones, &[4])), JobStatus::Ok);
    assert_eq!((q.len(), q.overflow()), (8, 32));
    assert_eq!(stat("spike_events_dropped"), dropped + 32);
    let want = s.encode(&ones, 4).unwrap();
    assert_eq!(drain(&q), want[..8], "the first events are kept, in order");
    assert_eq!(r.run(r.prim(&q, &s, &ones[..1], &[1])), JobStatus::Ok);
    assert_eq!(q.len(), 8, "room again after the consumer read");
}

/// The ring's header, mapped a second time to play a misbehaving consumer or producer.
fn header(dev: &Context, q: &SpikeQueue) -> *mut u32 {
    let cookie = (u64::from(q.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    let file = dev_file(dev);
    let size = 4096;
    map(
        &file,
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        cookie,
    )
    .unwrap()
    .cast()
}

/// A `File` on the device's descriptor (borrowed: never closed).
fn dev_file(dev: &Context) -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the descriptor stays open while `dev` lives; ManuallyDrop never closes it.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(dev.as_fd().as_raw_fd()) })
}

#[test]
fn userspace_cannot_corrupt_the_kernel_producer_side() {
    let _exec = ExecutorThread::cpu("t-enc-garbage");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(16).unwrap();
    let ev = SpikeEvent::default();
    assert_eq!(
        q.push(&[ev]).unwrap_err().errno(),
        Some(Errno::EPERM),
        "the runtime refuses to push"
    );
    let h = header(&r.dev, &q);
    let (head, tail) = (0usize, 1usize); // u32 words of struct lightos_spike_ring
                                         // SAFETY: `h` maps the ring's header page read-write; words 0 and 1 are head and tail.
    unsafe { h.add(tail).write_volatile(0xdead_beef) };
    let s = spec(LATENCY, 10);
    assert_eq!(r.run(r.prim(&q, &s, &values(5), &[5])), JobStatus::Ok);
    // SAFETY: as above.
    assert_eq!(
        unsafe { h.add(tail).read_volatile() },
        5,
        "the kernel's tail wins"
    );
    assert_eq!(drain(&q), s.encode(&values(5), 5).unwrap());
    // A garbage head makes the ring look full: the kernel drops and counts, writes nothing.
    // SAFETY: as above.
    unsafe { h.add(head).write_volatile(5 + 1000) };
    assert_eq!(r.run(r.prim(&q, &s, &values(5), &[5])), JobStatus::Ok);
    assert_eq!(q.overflow(), 5);
    // SAFETY: as above.
    unsafe { h.add(head).write_volatile(5) };
    assert_eq!(q.len(), 0, "nothing was published");
    assert_eq!(r.run(r.prim(&q, &s, &values(5), &[5])), JobStatus::Ok);
    assert_eq!(q.len(), 5, "a sane head: produced again");
    unmap(h.cast(), 4096);
}

#[test]
fn a_job_the_backend_refuses_produces_nothing() {
    let _exec = ExecutorThread::cpu("t-enc-invalid");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(64).unwrap();
    let bad = spec(
        Encoding::Latency {
            threshold: 1.5, // outside (0, 1): the backend's check, not the kernel's
            tau: 1.0,
            linear: false,
            normalize: false,
            clip: false,
        },
        4,
    );
    assert_eq!(
        r.run(r.prim(&q, &bad, &values(4), &[4])),
        JobStatus::Invalid
    );
    assert_eq!((q.len(), q.overflow()), (0, 0));
}

#[test]
fn another_process_consumes_what_this_ones_jobs_produce() {
    let (here, there) = socket_pair();
    let child = fork_child(move || {
        let fd = recv_fd(&there);
        let dev = Context::open().unwrap();
        let q = dev.import_spike_queue(fd.as_fd()).unwrap();
        let mut got = Vec::new();
        while got.len() < 64 * 3 {
            if q.wait(1, SEC).unwrap() == 0 {
                return false;
            }
            q.pop(&mut got, usize::MAX);
        }
        let want = spec(LATENCY, 10).encode(&values(64), 64).unwrap();
        got.chunks(64).all(|c| c == want)
    });
    let _exec = ExecutorThread::cpu("t-enc-xproc");
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(256).unwrap();
    send_fd(&here, q.export().unwrap().as_fd());
    let s = spec(LATENCY, 10);
    for _ in 0..3 {
        assert_eq!(r.run(r.prim(&q, &s, &values(64), &[64])), JobStatus::Ok);
    }
    assert!(
        exited_ok(wait_child(child)),
        "the consumer saw 3 × 64 events"
    );
}

/// A valid 4-input rate encode into a kernel queue, changed by `mutate` (which also gets a
/// user-produced queue's id), must fail SUBMIT with `errno` and admit nothing.
fn rejected(mutate: impl Fn(&mut uapi::Primitive, u32), errno: Errno) {
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(64).unwrap();
    let user_q = r.dev.create_spike_queue(64).unwrap();
    let mut p = r.prim(&q, &spec(RATE, 4), &values(4), &[4]);
    mutate(p.abi_mut(), user_q.id());
    let in_flight = r.dev.stats().unwrap().jobs_in_flight;
    match r.jobs.submit(&[p]) {
        Err(Error::Submit {
            index, errno: e, ..
        }) => assert_eq!((index, e), (0, errno), "{p:?}"),
        other => panic!("expected {errno}, got {other:?}"),
    }
    assert_eq!(r.dev.stats().unwrap().jobs_in_flight, in_flight);
}

macro_rules! rejection {
    ($name:ident, $errno:ident, |$p:ident, $user_q:ident| $body:expr) => {
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            rejected(
                |$p: &mut uapi::Primitive, $user_q: u32| $body,
                Errno::$errno,
            );
        }
    };
}

rejection!(into_a_user_produced_queue, EINVAL, |p, u| p.params[0] =
    u64::from(u));
rejection!(into_an_unknown_queue, ENOENT, |p, u| p.params[0] = 999);
rejection!(into_queue_zero, EINVAL, |p, u| p.params[0] = 0);
rejection!(queue_id_above_32_bits, EINVAL, |p, u| p.params[0] |=
    1 << 32);
rejection!(unknown_encoding, EINVAL, |p, u| p.params[1] =
    (p.params[1] & !0xff) | 4);
rejection!(encoding_zero, EINVAL, |p, u| p.params[1] &= !0xff);
rejection!(a_flag_rate_does_not_take, EINVAL, |p, u| p.params[1] |=
    uapi::SPIKE_ENCODE_F_CLIP);
rejection!(undefined_param_bits, EINVAL, |p, u| p.params[1] |= 1 << 20);
rejection!(zero_steps, EINVAL, |p, u| p.params[1] &= 0xffff_ffff);
rejection!(too_many_steps, EINVAL, |p, u| p.params[1] = (p.params[1]
    & 0xffff_ffff)
    | ((uapi::SPIKE_ENCODE_MAX_STEPS + 1) << 32));
rejection!(channel_above_16_bits, EINVAL, |p, u| p.params[3] |= 1 << 16);
rejection!(staging_too_small, EINVAL, |p, u| p.operands[1].shape[0] =
    15);
rejection!(staging_not_1d, EINVAL, |p, u| {
    p.operands[1].ndim = 2;
    p.operands[1].shape[..2].copy_from_slice(&[4, 4]);
});
rejection!(output_not_spike_events, EINVAL, |p, u| p.out_dtype =
    uapi::DTYPE_F32);
rejection!(input_not_f32, EINVAL, |p, u| p.dtype = uapi::DTYPE_F16);
rejection!(two_inputs, EINVAL, |p, u| p.n_inputs = 2);
rejection!(delta_input_not_steps_by_neurons, EINVAL, |p, u| p.params
    [1] =
    uapi::SPIKE_ENCODE_DELTA | (4 << 32));
rejection!(staging_misaligned, EINVAL, |p, u| p.operands[1].offset = 8);
rejection!(staging_past_its_buffer, ERANGE, |p, u| p.operands[1]
    .offset =
    (1 << 20) - 16 * 8);

#[test]
fn spike_event_dtype_is_refused_for_every_other_op() {
    let r = rig();
    for (dtype, out) in [
        (DType::SpikeEvent, DType::SpikeEvent),
        (DType::F32, DType::SpikeEvent),
    ] {
        let p = PrimitiveBuilder::new(Op::Add, dtype)
            .input(&r.input, 0, &[4])
            .input(&r.input, 64, &[4])
            .out_dtype(out)
            .output(&r.staging, 0, &[4]);
        match r.jobs.submit(&[p]) {
            Err(Error::Submit { errno, .. }) => assert_eq!(errno, Errno::EINVAL),
            other => panic!("{dtype:?} → {out:?}: {other:?}"),
        }
    }
}

/// Registers the core executor's ops under `name` on its own context (no other executor is
/// registered while a test runs), submits `p` and fetches its job.
fn fetched(
    r: &Rig,
    p: Primitive,
    name: &str,
) -> (
    Context,
    lightos_runtime::Executor,
    lightos_runtime::FetchedJob,
) {
    let exec_dev = Context::open().unwrap();
    let exec = exec_dev
        .register_executor(&lightosd::core_spec(name))
        .unwrap();
    r.jobs.submit(&[p]).unwrap();
    let job = exec.fetch(SEC).unwrap().expect("a job");
    (exec_dev, exec, job)
}

#[test]
fn job_complete_refuses_produced_events_a_job_cannot_have() {
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(64).unwrap();
    let add = PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&r.input, 0, &[4])
        .input(&r.input, 64, &[4])
        .output(&r.input, 128, &[4]);
    let (_d, exec, job) = fetched(&r, add, "t-enc-complete-add");
    let err = exec.complete_with_events(job.job_id, JobStatus::Ok, 1);
    assert_eq!(
        err.unwrap_err().errno(),
        Some(Errno::EINVAL),
        "ADD stages no events"
    );
    exec.complete(job.job_id, JobStatus::Ok).unwrap();
    drop((exec, _d));

    let s = spec(LATENCY, 4);
    let p = r.prim(&q, &s, &values(4), &[4]); // room for 4 events
    let (_d, exec, job) = fetched(&r, p, "t-enc-complete-cap");
    let err = exec.complete_with_events(job.job_id, JobStatus::Ok, 5);
    assert_eq!(
        err.unwrap_err().errno(),
        Some(Errno::EINVAL),
        "beyond the capacity"
    );
    let mut pad = uapi::JobComplete {
        job_id: job.job_id,
        pad: 1,
        ..Default::default()
    };
    assert_eq!(
        lightos_vm_tests::dev_ioctl(&_d, uapi::IOC_NR_JOB_COMPLETE, &mut pad).unwrap_err(),
        libc::EINVAL
    );
    assert_eq!(
        exec.run(&job, &mut lightosd::Server::core_cpu().unwrap())
            .produced,
        4
    );
    exec.complete_with_events(job.job_id, JobStatus::Ok, 4)
        .unwrap();
    assert_eq!(
        q.len(),
        4,
        "the refused completions left the job running; this one produced"
    );
}

#[test]
fn query_ops_still_fits_a_client_from_before_spike_encode() {
    let dev = Context::open().unwrap();
    let mut old = [uapi::OpStats::default(); uapi::OP_COUNT_1_2];
    let mut req = uapi::Query {
        query_type: uapi::QUERY_OPS,
        size: std::mem::size_of_val(&old) as u64,
        ptr: old.as_mut_ptr() as u64,
        ..Default::default()
    };
    dev_ioctl(&dev, uapi::IOC_NR_QUERY, &mut req).unwrap();
    assert_eq!(req.size, std::mem::size_of_val(&old) as u64);
    req.size = 0;
    req.ptr = 0;
    dev_ioctl(&dev, uapi::IOC_NR_QUERY, &mut req).unwrap();
    assert_eq!(
        req.size,
        (std::mem::size_of::<uapi::OpStats>() * uapi::OP_COUNT) as u64
    );
}

/// A handler that claims more events than a job stages (a buggy backend): `Executor::serve` ends
/// that job INVALID instead of stopping, and goes on to serve the next job.
#[test]
fn serve_ends_a_job_whose_outcome_the_kernel_refuses_and_goes_on() {
    struct Overclaims;
    impl lightos_runtime::JobHandler for Overclaims {
        fn run(
            &mut self,
            _prim: &Primitive,
            _inputs: &[&[u8]],
            _output: &mut [u8],
        ) -> lightos_runtime::Outcome {
            lightos_runtime::Outcome::produced(1_000_000)
        }
    }
    let r = rig();
    let q = r.dev.create_kernel_spike_queue(64).unwrap();
    let s = spec(LATENCY, 4);
    let p = r.prim(&q, &s, &values(4), &[4]); // room for 4 events
    let exec_dev = Context::open().unwrap();
    let exec = exec_dev
        .register_executor(&lightosd::core_spec("t-enc-overclaim"))
        .unwrap();
    let first = r.jobs.submit(&[p]).unwrap();
    let second = r.jobs.submit(&[p]).unwrap();
    let until = lightos_runtime::ServeUntil {
        stop: None,
        max_jobs: Some(2),
    };
    assert_eq!(
        exec.serve(&mut Overclaims, until).unwrap(),
        2,
        "both jobs served"
    );
    for seq in [first.last_seq, second.last_seq] {
        assert_eq!(r.jobs.wait(seq, SEC).unwrap().status, JobStatus::Invalid);
    }
    assert_eq!(q.len(), 0, "a refused outcome produced nothing");
}
