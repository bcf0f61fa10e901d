//! Queues, SUBMIT through the interception chain, the executor protocol and completion, against the
//! real module in the guest. Each test registers its own executor names, so they do not interfere.

use lightos_runtime::{
    BackendKind, BufferFlags, Context, DType, Error, ExecutorSpec, JobStatus, Op, Placement,
    Primitive, PrimitiveBuilder, Queue,
};
use lightos_uapi as uapi;
use lightos_vm_tests::{get_f32, put_f32, ExecutorThread};
use nix::errno::Errno;
use std::{
    os::fd::{AsFd, AsRawFd},
    time::Duration,
};

const SEC: Option<Duration> = Some(Duration::from_secs(20));

fn dev() -> Context {
    Context::open().expect("open /dev/lightos")
}

fn queue(dev: &Context) -> Queue {
    dev.create_queue(0, Duration::ZERO).expect("create queue")
}

fn buf(dev: &Context, size: usize) -> lightos_runtime::Buffer {
    dev.create_buffer(size, BufferFlags::empty(), Placement::Any)
        .expect("create buffer")
}

/// An ADD of two 4-element f32 vectors in buffer `b` (a at 0, b at 16, out at 32).
fn add4(b: &lightos_runtime::Buffer) -> Primitive {
    PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(b, 0, &[4])
        .input(b, 16, &[4])
        .output(b, 32, &[4])
}

fn submit_errno(q: &Queue, prims: &[Primitive]) -> (u32, Errno) {
    match q.submit(prims) {
        Err(Error::Submit { index, errno, .. }) => (index, errno),
        other => panic!("expected a rejected primitive, got {other:?}"),
    }
}

use lightos_vm_tests::dev_ioctl as raw;

#[test]
fn one_primitive_goes_client_kernel_executor_completion_zero_copy() {
    let _exec = ExecutorThread::cpu("t-e2e");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let mut m = b.map().unwrap();
    put_f32(&mut m[..], &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let before = dev.op_stats().unwrap()[Op::Add];
    let s = q.submit(&[add4(&b)]).unwrap();
    assert_eq!(s.first_seq, 1);
    assert_eq!(s.last_seq, 1);
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!(c.status, JobStatus::Ok);
    assert_eq!(c.completed_seq, 1);
    // The result is read through the client's own mapping: the executor wrote the same pages.
    assert_eq!(get_f32(&m[32..], 4), vec![11.0, 22.0, 33.0, 44.0]);
    // The completion page says the same, without a syscall.
    assert_eq!(q.completed_seq(), 1);
    assert_eq!(q.status(1), JobStatus::Ok);
    let after = dev.op_stats().unwrap()[Op::Add];
    assert_eq!(after.count, before.count + 1);
    assert_eq!(after.flops, before.flops + 4);
    assert_eq!(after.bytes, before.bytes + 48);
    let lat: u64 =
        after.latency_us_log2.iter().sum::<u64>() - before.latency_us_log2.iter().sum::<u64>();
    assert_eq!(lat, 1);
}

#[test]
fn every_core_op_computes_the_expected_values() {
    let _exec = ExecutorThread::cpu("t-ops");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let mut m = b.map().unwrap();
    // a = [[1,2],[3,4]] at 0, bm = [[5,6],[7,8]] at 64; outputs from 512 on.
    put_f32(&mut m[0..], &[1.0, 2.0, 3.0, 4.0]);
    put_f32(&mut m[64..], &[5.0, 6.0, 7.0, 8.0]);
    put_f32(&mut m[128..], &[-1.0, 0.5, -2.0, 3.0]);
    let mm = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&b, 0, &[2, 2])
        .input(&b, 64, &[2, 2])
        .output(&b, 512, &[2, 2]);
    let relu = PrimitiveBuilder::new(Op::Relu, DType::F32)
        .input(&b, 128, &[4])
        .output(&b, 576, &[4]);
    let mul = PrimitiveBuilder::new(Op::Mul, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 64, &[4])
        .output(&b, 640, &[4]);
    let sm = PrimitiveBuilder::new(Op::Softmax, DType::F32)
        .input(&b, 0, &[2, 2])
        .output(&b, 704, &[2, 2]);
    let ln = PrimitiveBuilder::new(Op::LayerNorm, DType::F32)
        .input(&b, 0, &[2, 2])
        .output(&b, 768, &[2, 2]);
    let gelu = PrimitiveBuilder::new(Op::Gelu, DType::F32)
        .input(&b, 128, &[4])
        .output(&b, 832, &[4]);
    let copy = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&b, 64, &[4])
        .output(&b, 896, &[2, 2]);
    let s = q.submit(&[mm, relu, mul, sm, ln, gelu, copy]).unwrap();
    assert_eq!(s.last_seq - s.first_seq, 6);
    assert_eq!(q.wait(s.last_seq, SEC).unwrap().completed_seq, s.last_seq);
    for seq in s.first_seq..=s.last_seq {
        assert_eq!(q.status(seq), JobStatus::Ok, "seq {seq}");
    }
    assert_eq!(get_f32(&m[512..], 4), vec![19.0, 22.0, 43.0, 50.0]);
    assert_eq!(get_f32(&m[576..], 4), vec![0.0, 0.5, 0.0, 3.0]);
    assert_eq!(get_f32(&m[640..], 4), vec![5.0, 12.0, 21.0, 32.0]);
    let sm = get_f32(&m[704..], 4);
    let e = 1.0f32.exp();
    assert!(
        (sm[1] - e / (1.0 + e)).abs() < 1e-6 && (sm[0] + sm[1] - 1.0).abs() < 1e-6,
        "{sm:?}"
    );
    let ln = get_f32(&m[768..], 4);
    assert!(
        (ln[0] + 1.0).abs() < 1e-3 && (ln[1] - 1.0).abs() < 1e-3,
        "{ln:?}"
    );
    let g = get_f32(&m[832..], 4);
    assert!(
        (g[3] - lightos_cpu::ops::gelu(3.0)).abs() < 1e-6 && g[0] < 0.0,
        "{g:?}"
    );
    assert_eq!(get_f32(&m[896..], 4), vec![5.0, 6.0, 7.0, 8.0]);
}

#[test]
fn a_batch_of_64_null_copies_gets_consecutive_sequence_numbers() {
    let _exec = ExecutorThread::cpu("t-batch");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let null = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&b, 0, &[0])
        .output(&b, 64, &[0]);
    let first = q.submit(&[null]).unwrap();
    let batch = q.submit(&[null; 64]).unwrap();
    assert_eq!(batch.first_seq, first.last_seq + 1);
    assert_eq!(batch.last_seq, batch.first_seq + 63);
    let c = q.wait(batch.last_seq, SEC).unwrap();
    assert_eq!((c.status, c.completed_seq), (JobStatus::Ok, 65));
}

#[test]
fn an_executor_in_another_process_runs_the_job() {
    let mut child = std::process::Command::new("lightos")
        .args(["executor", "--name", "t-proc", "--max-jobs", "1"])
        .spawn()
        .expect("spawn lightos executor");
    let dev = dev();
    // Wait until the child has registered.
    let mut registered = false;
    for _ in 0..200 {
        if dev.backends().unwrap().iter().any(|b| b.name == "t-proc") {
            registered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(registered, "the executor process did not register");
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let mut m = b.map().unwrap();
    put_f32(&mut m[..], &[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
    let s = q.submit(&[add4(&b)]).unwrap();
    assert_eq!(q.wait(s.last_seq, SEC).unwrap().status, JobStatus::Ok);
    assert_eq!(get_f32(&m[32..], 4), vec![3.0; 4]);
    assert!(child.wait().unwrap().success());
}

#[test]
fn submit_rejects_bad_arguments_without_side_effects() {
    let _exec = ExecutorThread::cpu("t-args");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let prim = add4(&b);
    let good = |f: &dyn Fn(&mut uapi::Submit)| {
        let mut s = uapi::Submit {
            queue_id: q.id(),
            count: 1,
            prims: &prim as *const _ as u64,
            ..Default::default()
        };
        f(&mut s);
        raw(&dev, uapi::IOC_NR_SUBMIT, &mut s)
    };
    assert_eq!(good(&|s| s.queue_id = 999), Err(libc::ENOENT));
    assert_eq!(good(&|s| s.count = 0), Err(libc::EINVAL));
    assert_eq!(good(&|s| s.count = uapi::MAX_SUBMIT + 1), Err(libc::EINVAL));
    assert_eq!(good(&|s| s.flags = 1), Err(libc::EINVAL));
    assert_eq!(good(&|s| s.reserved[1] = 1), Err(libc::EINVAL));
    assert_eq!(good(&|s| s.prims = 8), Err(libc::EFAULT));
    // The second primitive would lie past the end of a mapping: EFAULT, and nothing submitted.
    // SAFETY: maps two anonymous pages, unmaps the second, and writes one primitive that ends
    // exactly at the end of the first page.
    let tail = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        // PROT_NONE rather than munmap: the hole stays reserved, so no other thread's mapping can
        // land there and turn the expected EFAULT into a read of whatever it holds.
        assert_eq!(
            libc::mprotect((p as *mut u8).add(4096).cast(), 4096, libc::PROT_NONE),
            0
        );
        let at = (p as *mut u8).add(4096 - std::mem::size_of::<uapi::Primitive>());
        std::ptr::write_unaligned(at.cast::<uapi::Primitive>(), *prim.abi());
        at as u64
    };
    assert_eq!(
        good(&|s| s.prims = tail),
        Ok(0),
        "one primitive at the end of the page"
    );
    assert_eq!(
        good(&|s| {
            s.prims = tail;
            s.count = 2
        }),
        Err(libc::EFAULT)
    );
    q.wait(1, SEC).unwrap();
    // Nothing but the one good submission took a sequence number.
    assert_eq!(q.submit(&[prim]).unwrap().first_seq, 2);
}

/// Submits `p` and expects it rejected with `errno`.
fn rejects(q: &Queue, p: Primitive, errno: Errno) {
    assert_eq!(submit_errno(q, &[p]), (0, errno), "{p:?}");
}

#[test]
fn structural_rejections_and_an_all_or_nothing_batch() {
    let _exec = ExecutorThread::cpu("t-desc");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let ok = add4(&b);
    let with = |f: &dyn Fn(&mut uapi::Primitive)| {
        let mut p = ok;
        f(p.abi_mut());
        p
    };
    // Single-field rejections have one test each in submit_rejections.rs.
    // The output may overlap an input only exactly, and only for element-wise ops.
    let in_place = with(&|p| p.operands[2].offset = 0);
    let copy_overlap = PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(&b, 0, &[8])
        .output(&b, 16, &[8]);
    rejects(&q, copy_overlap, Errno::EINVAL);
    let mm_bad = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&b, 0, &[2, 3])
        .input(&b, 64, &[2, 2])
        .output(&b, 128, &[2, 2]);
    rejects(&q, mm_bad, Errno::EINVAL);
    let softmax_i8 = PrimitiveBuilder::new(Op::Softmax, DType::I8)
        .input(&b, 0, &[4])
        .output(&b, 64, &[4]);
    rejects(&q, softmax_i8, Errno::EINVAL);
    let huge = PrimitiveBuilder::new(Op::Relu, DType::F32)
        .input(&b, 0, &[1 << 32, 1 << 32, 1 << 32])
        .output(&b, 0, &[1 << 32, 1 << 32, 1 << 32]);
    rejects(&q, huge, Errno::EOVERFLOW);
    // A batch with one bad primitive is refused whole, naming it; nothing was submitted.
    let bad = with(&|p| p.op = 0);
    assert_eq!(submit_errno(&q, &[ok, bad, ok]), (1, Errno::EINVAL));
    let s = q.submit(&[in_place]).unwrap();
    assert_eq!(
        s.first_seq, 1,
        "rejections must not consume sequence numbers"
    );
    assert_eq!(q.wait(1, SEC).unwrap().status, JobStatus::Ok);
}

#[test]
fn shapes_of_the_structured_ops_are_checked() {
    let _exec = ExecutorThread::start(ExecutorSpec {
        name: "t-shapes".into(),
        ops: lightos_runtime::Op::ALL.iter().fold(0, |m, o| m | o.bit()),
        deterministic_ops: 0,
        dtypes: 0x3e,
    });
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 1 << 16);
    let conv = |oh: u64| {
        PrimitiveBuilder::new(Op::Conv2d, DType::F32)
            .input(&b, 0, &[1, 3, 8, 8])
            .input(&b, 4096, &[4, 3, 3, 3])
            .param(0, 1)
            .param(1, 1)
            .output(&b, 8192, &[1, 4, oh, 8])
    };
    rejects(&q, conv(7), Errno::EINVAL);
    let att = |e: u64| {
        PrimitiveBuilder::new(Op::Attention, DType::F16)
            .input(&b, 0, &[1, 4, 8])
            .input(&b, 4096, &[1, 6, 8])
            .input(&b, 8192, &[1, 6, 5])
            .flags(uapi::PRIM_CAUSAL)
            .output(&b, 12288, &[1, 4, e])
    };
    rejects(&q, att(8), Errno::EINVAL);
    let quant = |out: DType| {
        PrimitiveBuilder::new(Op::Quantize, DType::F32)
            .input(&b, 0, &[16])
            .out_dtype(out)
            .param(0, u64::from(0.5f32.to_bits()))
            .output(&b, 4096, &[16])
    };
    rejects(&q, quant(DType::F16), Errno::EINVAL);
    let ln_two = PrimitiveBuilder::new(Op::LayerNorm, DType::F32)
        .input(&b, 0, &[2, 8])
        .input(&b, 4096, &[8])
        .output(&b, 8192, &[2, 8]);
    rejects(&q, ln_two, Errno::EINVAL);
    // The well-formed versions pass the kernel (this executor claims every op; it runs only the
    // core set, so the others complete INVALID, which is the backend's verdict).
    let s = q.submit(&[conv(8), att(5), quant(DType::I8)]).unwrap();
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!(c.completed_seq, s.last_seq);
    assert_eq!(q.status(s.first_seq), JobStatus::Invalid);
}

#[test]
fn no_backend_for_the_op_is_enodev() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let names: Vec<_> = dev
        .backends()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(
        names.is_empty(),
        "a previous test left a backend registered"
    );
    rejects(&q, add4(&b), Errno::ENODEV);
    let _exec = ExecutorThread::cpu("t-nodev");
    // The core executor does not declare CONV2D.
    let conv = PrimitiveBuilder::new(Op::Conv2d, DType::F32)
        .input(&b, 0, &[1, 1, 2, 2])
        .input(&b, 64, &[1, 1, 1, 1])
        .output(&b, 128, &[1, 1, 2, 2]);
    rejects(&q, conv, Errno::ENODEV);
    q.submit(&[add4(&b)]).unwrap();
}

#[test]
fn deterministic_primitives_only_go_to_backends_that_declare_it() {
    let mut spec = lightosd::core_spec("t-nondet");
    spec.deterministic_ops = 0;
    let _nondet = ExecutorThread::start(spec);
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let det = PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 16, &[4])
        .deterministic()
        .output(&b, 32, &[4]);
    rejects(&q, det, Errno::EOPNOTSUPP);
    q.submit(&[add4(&b)]).unwrap();
    // Deterministic mode makes every primitive of the context deterministic.
    dev.set_deterministic(true).unwrap();
    rejects(&q, add4(&b), Errno::EOPNOTSUPP);
    let det_exec = ExecutorThread::cpu("t-det");
    let s = q.submit(&[add4(&b), det]).unwrap();
    assert_eq!(q.wait(s.last_seq, SEC).unwrap().completed_seq, s.last_seq);
    let info = dev.backends().unwrap();
    let det_info = info.iter().find(|i| i.id == det_exec.backend_id).unwrap();
    assert_eq!(
        det_info.stats.count, 2,
        "both deterministic jobs ran on t-det"
    );
    dev.set_deterministic(false).unwrap();
}

/// The executor sees `PRIM_DETERMINISTIC` on every job of a context in deterministic mode, so a
/// backend with CPU-dependent kernels (the CPU backend's native bf16) picks its ISA-independent ones.
#[test]
fn deterministic_mode_reaches_the_executor_as_the_primitive_flag() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-detflag"))
        .unwrap();
    let flag = |on: bool| {
        dev.set_deterministic(on).unwrap();
        let s = q.submit(&[add4(&b)]).unwrap();
        let job = exec.fetch(SEC).unwrap().expect("a job");
        exec.complete(job.job_id, JobStatus::Ok).unwrap();
        assert_eq!(q.wait(s.last_seq, SEC).unwrap().completed_seq, s.last_seq);
        job.prim.abi().flags & uapi::PRIM_DETERMINISTIC != 0
    };
    assert!(!flag(false), "an ordinary job carries no flag");
    assert!(flag(true), "deterministic mode sets the flag on the job");
    dev.set_deterministic(false).unwrap();
}

#[test]
fn routing_rules_pick_the_backend() {
    let a = ExecutorThread::cpu("t-route-a");
    let bexec = ExecutorThread::cpu("t-route-b");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let count = |id: u32| {
        dev.backends()
            .unwrap()
            .iter()
            .find(|i| i.id == id)
            .unwrap()
            .stats
            .count
    };
    // Without rules the first registered backend takes everything.
    let s = q.submit(&[add4(&b)]).unwrap();
    q.wait(s.last_seq, SEC).unwrap();
    assert_eq!((count(a.backend_id), count(bexec.backend_id)), (1, 0));
    // ADD goes to b; small RELU to a; everything else to any.
    assert_eq!(
        dev.add_route(Some(Op::Add), None, 0..=u64::MAX, bexec.backend_id)
            .unwrap(),
        1
    );
    assert_eq!(
        dev.add_route(Some(Op::Relu), Some(DType::F32), 0..=64, a.backend_id)
            .unwrap(),
        2
    );
    let relu = PrimitiveBuilder::new(Op::Relu, DType::F32)
        .input(&b, 0, &[4])
        .output(&b, 64, &[4]);
    let s = q.submit(&[add4(&b), add4(&b), relu]).unwrap();
    q.wait(s.last_seq, SEC).unwrap();
    assert_eq!((count(a.backend_id), count(bexec.backend_id)), (2, 2));
    // A rule naming a backend that is not registered fails the submission.
    dev.clear_routes().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, 4_000_000).unwrap();
    rejects(&q, add4(&b), Errno::ENODEV);
    assert_eq!(dev.clear_routes().unwrap(), 0);
}

#[test]
fn route_set_rejects_bad_rules() {
    let dev = dev();
    let set = |f: &dyn Fn(&mut uapi::RouteSet)| {
        let mut r = uapi::RouteSet::default();
        f(&mut r);
        raw(&dev, uapi::IOC_NR_ROUTE_SET, &mut r)
    };
    assert_eq!(set(&|r| r.flags = 1 << 5), Err(libc::EINVAL));
    assert_eq!(set(&|r| r.pad = 1), Err(libc::EINVAL));
    assert_eq!(set(&|r| r.reserved[0] = 1), Err(libc::EINVAL));
    assert_eq!(set(&|r| r.op = 99), Err(libc::EINVAL));
    assert_eq!(set(&|r| r.dtype = 99), Err(libc::EINVAL));
    assert_eq!(
        set(&|r| {
            r.min_bytes = 10;
            r.max_bytes = 5
        }),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set(&|r| r.deterministic = 1),
        Err(libc::EINVAL),
        "mode without ROUTE_SET_MODE"
    );
    assert_eq!(
        set(&|r| {
            r.flags = uapi::ROUTE_SET_MODE;
            r.deterministic = 2
        }),
        Err(libc::EINVAL)
    );
    for i in 0..uapi::MAX_ROUTES {
        assert_eq!(
            dev.add_route(Some(Op::Add), None, 0..=u64::MAX, 0).unwrap(),
            i + 1
        );
    }
    assert_eq!(set(&|r| r.op = uapi::OP_ADD), Err(libc::ENOSPC));
}

#[test]
fn executor_registration_is_validated() {
    let dev = dev();
    let reg = |f: &dyn Fn(&mut uapi::ExecutorRegister)| {
        let mut r = uapi::ExecutorRegister {
            name: *b"t-reg\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ops: 1 << uapi::OP_ADD,
            deterministic_ops: 0,
            dtypes: 1 << uapi::DTYPE_F32,
            flags: 0,
            backend_id: 0,
            pad: 0,
            reserved: [0; 2],
        };
        f(&mut r);
        raw(&dev, uapi::IOC_NR_EXECUTOR_REGISTER, &mut r)
    };
    assert_eq!(reg(&|r| r.name = [0; 32]), Err(libc::EINVAL));
    assert_eq!(
        reg(&|r| r.name = [b'x'; 32]),
        Err(libc::EINVAL),
        "unterminated name"
    );
    assert_eq!(reg(&|r| r.ops = 0), Err(libc::EINVAL));
    assert_eq!(reg(&|r| r.ops = 1), Err(libc::EINVAL), "bit 0 is no op");
    assert_eq!(reg(&|r| r.ops |= 1 << 40), Err(libc::EINVAL));
    assert_eq!(
        reg(&|r| r.deterministic_ops = 1 << uapi::OP_MUL),
        Err(libc::EINVAL)
    );
    assert_eq!(reg(&|r| r.dtypes = 1 << 9), Err(libc::EINVAL));
    assert_eq!(reg(&|r| r.flags = 1), Err(libc::EINVAL));
    assert_eq!(reg(&|r| r.reserved[1] = 1), Err(libc::EINVAL));
    let other = ExecutorThread::cpu("t-taken");
    assert_eq!(
        reg(&|r| r.name[..8].copy_from_slice(b"t-taken\0")),
        Err(libc::EEXIST)
    );
    drop(other);
    assert_eq!(reg(&|_| {}), Ok(0));
    assert_eq!(
        reg(&|r| r.name[0] = b'u'),
        Err(libc::EBUSY),
        "one registration per context"
    );
}

#[test]
fn executor_ioctls_reject_misuse() {
    let client = dev();
    let mut fetch = uapi::JobFetch {
        flags: uapi::FETCH_NONBLOCK,
        ..Default::default()
    };
    assert_eq!(
        raw(&client, uapi::IOC_NR_JOB_FETCH, &mut fetch),
        Err(libc::EPERM)
    );
    let mut done = uapi::JobComplete::default();
    assert_eq!(
        raw(&client, uapi::IOC_NR_JOB_COMPLETE, &mut done),
        Err(libc::EPERM)
    );

    let edev = dev();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-misuse"))
        .unwrap();
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_FETCH, &mut fetch),
        Err(libc::EAGAIN)
    );
    let mut bad = uapi::JobFetch {
        flags: 1 << 3,
        ..Default::default()
    };
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_FETCH, &mut bad),
        Err(libc::EINVAL)
    );
    let mut past = uapi::JobFetch {
        timeout_ns: 1,
        ..Default::default()
    };
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_FETCH, &mut past),
        Err(libc::ETIMEDOUT)
    );
    done.job_id = 12345;
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_COMPLETE, &mut done),
        Err(libc::ENOENT)
    );
    done.status = uapi::STATUS_TIMEOUT;
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_COMPLETE, &mut done),
        Err(libc::EINVAL)
    );
    done.status = uapi::STATUS_OK;
    done.flags = 1;
    assert_eq!(
        raw(&edev, uapi::IOC_NR_JOB_COMPLETE, &mut done),
        Err(libc::EINVAL)
    );
    assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
}

#[test]
fn an_executor_that_dies_mid_job_fails_it_with_device_lost() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-dies"))
        .unwrap();
    let s = q.submit(&[add4(&b), add4(&b)]).unwrap();
    let job = exec.fetch(SEC).unwrap().expect("a job");
    assert_eq!(job.prim.op(), Some(Op::Add));
    // It holds one job running and one queued; its context closes without completing either.
    drop(exec);
    drop(edev);
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!(c.completed_seq, s.last_seq);
    assert_eq!(q.status(s.first_seq), JobStatus::DeviceLost);
    assert_eq!(q.status(s.last_seq), JobStatus::DeviceLost);
    assert!(
        dev.backends().unwrap().is_empty(),
        "the dead executor left the registry"
    );
}

#[test]
fn a_job_past_its_timeout_fails_and_its_late_completion_is_refused() {
    let dev = dev();
    let q = dev.create_queue(0, Duration::from_millis(200)).unwrap();
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-slow"))
        .unwrap();
    let s = q.submit(&[add4(&b)]).unwrap();
    let job = exec.fetch(SEC).unwrap().expect("a job");
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!(c.status, JobStatus::Timeout);
    let err = exec.complete(job.job_id, JobStatus::Ok).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ECANCELED));
    // The queue goes on.
    let s2 = q.submit(&[add4(&b)]).unwrap();
    let job2 = exec.fetch(SEC).unwrap().expect("a job");
    exec.complete(job2.job_id, JobStatus::Ok).unwrap();
    assert_eq!(q.wait(s2.last_seq, SEC).unwrap().status, JobStatus::Ok);
}

#[test]
fn a_timeout_reaches_the_completion_page_without_anyone_waiting() {
    let dev = dev();
    let q = dev.create_queue(0, Duration::from_millis(100)).unwrap();
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-poll"))
        .unwrap();
    let s = q.submit(&[add4(&b), add4(&b)]).unwrap();
    let _held = exec.fetch(SEC).unwrap().expect("a job");
    // Poll the page only: no WAIT, no SUBMIT. The queue's timeout work must end both jobs.
    let mut polls = 0;
    while q.completed_seq() < s.last_seq && polls < 400 {
        std::thread::sleep(Duration::from_millis(25));
        polls += 1;
    }
    assert_eq!(q.completed_seq(), s.last_seq, "the timeout never fired");
    assert_eq!(q.status(s.first_seq), JobStatus::Timeout);
    assert_eq!(q.status(s.last_seq), JobStatus::Timeout);
}

#[test]
fn wait_rejections_and_timeouts() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let _exec = edev
        .register_executor(&lightosd::core_spec("t-wait"))
        .unwrap();
    let w = |f: &dyn Fn(&mut uapi::Wait)| {
        let mut r = uapi::Wait {
            queue_id: q.id(),
            seq: 1,
            timeout_ns: 1,
            ..Default::default()
        };
        f(&mut r);
        raw(&dev, uapi::IOC_NR_WAIT, &mut r)
    };
    assert_eq!(w(&|_| {}), Err(libc::EINVAL), "nothing submitted yet");
    let s = q.submit(&[add4(&b)]).unwrap();
    assert_eq!(w(&|r| r.seq = 0), Err(libc::EINVAL));
    assert_eq!(w(&|r| r.seq = s.last_seq + 1), Err(libc::EINVAL));
    assert_eq!(w(&|r| r.queue_id = 77), Err(libc::ENOENT));
    assert_eq!(w(&|r| r.flags = 1), Err(libc::EINVAL));
    assert_eq!(w(&|r| r.pad = 1), Err(libc::EINVAL));
    assert_eq!(w(&|r| r.reserved[0] = 1), Err(libc::EINVAL));
    // A deadline in the past only polls; a near one expires.
    assert_eq!(w(&|_| {}), Err(libc::ETIMEDOUT));
    let err = q
        .wait(s.last_seq, Some(Duration::from_millis(50)))
        .unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ETIMEDOUT));
}

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn a_signal_interrupts_wait_with_eintr() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let _exec = edev
        .register_executor(&lightosd::core_spec("t-signal"))
        .unwrap();
    let s = q.submit(&[add4(&b)]).unwrap();
    // SAFETY: installs a no-op handler for SIGUSR1 without SA_RESTART, then signals this thread
    // from another one after 100 ms; the handler touches nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: `me` is the waiting thread, alive until it returns from wait below.
        unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
    });
    let err = q.wait(s.last_seq, None).unwrap_err();
    t.join().unwrap();
    assert_eq!(err.errno(), Some(Errno::EINTR));
}

#[test]
fn closing_with_jobs_in_flight_aborts_them_and_leaks_nothing() {
    let before = dev().stats().unwrap();
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-close"))
        .unwrap();
    {
        let dev = dev();
        let q = queue(&dev);
        let b = buf(&dev, 1 << 20);
        q.submit(&[add4(&b); 8]).unwrap();
        let running = exec.fetch(SEC).unwrap().expect("a job");
        assert!(dev.stats().unwrap().jobs_in_flight >= 8);
        drop(q);
        drop(b);
        drop(dev);
        // The client is gone: its running job's late completion is refused, queued ones are skipped.
        let err = exec.complete(running.job_id, JobStatus::Ok).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ECANCELED));
        assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
    }
    let after = dev().stats().unwrap();
    assert_eq!(after.jobs_in_flight, 0);
    assert_eq!(after.buffers, before.buffers);
    assert_eq!(after.buffer_bytes, before.buffer_bytes);
}

#[test]
fn a_buffer_destroyed_while_its_job_runs_stays_alive_for_it() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let mut m = b.map().unwrap();
    put_f32(&mut m[..], &[1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0]);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-destroy"))
        .unwrap();
    let s = q.submit(&[add4(&b)]).unwrap();
    drop(b); // BUFFER_DESTROY: the handle goes, the job's reference keeps the pages.
    let job = exec.fetch(SEC).unwrap().expect("a job");
    assert_eq!(
        exec.run(&job, &mut lightosd::Server::core_cpu().unwrap())
            .status,
        JobStatus::Ok
    );
    exec.complete(job.job_id, JobStatus::Ok).unwrap();
    assert_eq!(q.wait(s.last_seq, SEC).unwrap().status, JobStatus::Ok);
    assert_eq!(get_f32(&m[32..], 4), vec![2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn queue_create_and_destroy_reject_bad_arguments() {
    let dev = dev();
    let create = |f: &dyn Fn(&mut uapi::QueueCreate)| {
        let mut r = uapi::QueueCreate::default();
        f(&mut r);
        raw(&dev, uapi::IOC_NR_QUEUE_CREATE, &mut r)
    };
    assert_eq!(create(&|r| r.flags = 1), Err(libc::EINVAL));
    assert_eq!(
        create(&|r| r.priority = uapi::QUEUE_PRIORITY_MAX + 1),
        Err(libc::EINVAL)
    );
    assert_eq!(
        create(&|r| r.timeout_ms = uapi::MAX_JOB_TIMEOUT_MS + 1),
        Err(libc::EINVAL)
    );
    assert_eq!(create(&|r| r.reserved[2] = 1), Err(libc::EINVAL));
    let mut d = uapi::QueueDestroy {
        queue_id: 4242,
        ..Default::default()
    };
    assert_eq!(
        raw(&dev, uapi::IOC_NR_QUEUE_DESTROY, &mut d),
        Err(libc::ENOENT)
    );
    let q = queue(&dev);
    d.queue_id = q.id();
    d.flags = 1;
    assert_eq!(
        raw(&dev, uapi::IOC_NR_QUEUE_DESTROY, &mut d),
        Err(libc::EINVAL)
    );
    let mut queues = vec![q];
    while queues.len() < uapi::MAX_QUEUES_PER_CONTEXT as usize {
        queues.push(queue(&dev));
    }
    let err = dev.create_queue(0, Duration::ZERO).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ENOSPC));
}

#[test]
fn the_completion_page_is_read_only_and_exactly_one_page() {
    let dev = dev();
    let mut r = uapi::QueueCreate::default();
    raw(&dev, uapi::IOC_NR_QUEUE_CREATE, &mut r).unwrap();
    let map = |len: usize, prot: libc::c_int| {
        // SAFETY: mapping the device with a kernel-chosen address; unmapped below on success.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                dev.as_fd().as_raw_fd(),
                r.completion_offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        } else {
            // SAFETY: `p` is the mapping just made, of `len` bytes.
            let entries = unsafe {
                *(p as *const u8)
                    .add(std::mem::offset_of!(uapi::CompletionPage, ring_entries))
                    .cast::<u32>()
            };
            // SAFETY: as above.
            unsafe { libc::munmap(p, len) };
            Ok(entries)
        }
    };
    assert_eq!(
        map(4096, libc::PROT_READ),
        Ok(uapi::COMPLETION_RING_ENTRIES as u32)
    );
    assert_eq!(
        map(4096, libc::PROT_READ | libc::PROT_WRITE),
        Err(libc::EACCES)
    );
    assert_eq!(map(8192, libc::PROT_READ), Err(libc::EINVAL));
}

#[test]
fn fdinfo_and_debugfs_show_jobs_and_ops() {
    let _exec = ExecutorThread::cpu("t-fdinfo");
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let s = q.submit(&[add4(&b), add4(&b)]).unwrap();
    q.wait(s.last_seq, SEC).unwrap();
    let fdinfo =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", dev.as_fd().as_raw_fd())).unwrap();
    assert!(fdinfo.contains("lightos-queues:\t1"), "{fdinfo}");
    assert!(fdinfo.contains("lightos-jobs:\t2"), "{fdinfo}");
    assert!(fdinfo.contains("lightos-op-add:\t2"), "{fdinfo}");
    assert!(!fdinfo.contains("lightos-op-mul"), "{fdinfo}");
    let stats = std::fs::read_to_string("/sys/kernel/debug/lightos/stats").unwrap();
    assert!(stats.contains("jobs_in_flight 0"), "{stats}");
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("op add count ") && l.contains("latency_us_log2 [")),
        "{stats}"
    );
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("backend t-fdinfo id ") && l.contains(" count 2 ")),
        "{stats}"
    );
    let mut query = uapi::Query {
        query_type: uapi::QUERY_OPS,
        ..Default::default()
    };
    raw(&dev, uapi::IOC_NR_QUERY, &mut query).unwrap();
    assert_eq!(
        query.size as usize,
        std::mem::size_of::<[uapi::OpStats; uapi::OP_COUNT]>()
    );
    query = uapi::Query {
        query_type: uapi::QUERY_BACKENDS,
        ..Default::default()
    };
    raw(&dev, uapi::IOC_NR_QUERY, &mut query).unwrap();
    assert_eq!(
        query.size as usize,
        std::mem::size_of::<uapi::QueryBackends>()
    );
    let backends = dev.backends().unwrap();
    assert_eq!(backends.len(), 1);
    assert_eq!(backends[0].kind, BackendKind::Executor);
    assert!(backends[0].stats.count >= 2);
}

/// A primitive with no elements: executors complete it without touching memory.
fn null_copy(b: &lightos_runtime::Buffer) -> Primitive {
    PrimitiveBuilder::new(Op::Copy, DType::F32)
        .input(b, 0, &[0])
        .output(b, 64, &[0])
}

#[test]
fn a_full_queue_times_out_at_once_and_its_timeline_reaches_the_last_seq() {
    let dev = dev();
    let q = dev.create_queue(0, Duration::from_secs(3)).unwrap();
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-mass-timeout"))
        .unwrap();
    let batch = vec![null_copy(&b); uapi::MAX_SUBMIT as usize];
    let mut last = 0;
    for _ in 0..uapi::MAX_QUEUE_INFLIGHT / uapi::MAX_SUBMIT {
        last = q.submit(&batch).unwrap().last_seq;
    }
    assert_eq!(last, u64::from(uapi::MAX_QUEUE_INFLIGHT));
    let err = q.submit(&batch[..1]).unwrap_err();
    assert_eq!(
        err.errno(),
        Some(Errno::EBUSY),
        "the in-flight window is full"
    );
    let running = exec.fetch(SEC).unwrap().expect("a job");
    // Nobody completes anything: every job shares one deadline and ends TIMEOUT together.
    let c = q.wait(last, Some(Duration::from_secs(60))).unwrap();
    assert_eq!((c.status, c.completed_seq), (JobStatus::Timeout, last));
    assert_eq!(q.completed_seq(), last);
    for seq in last - uapi::COMPLETION_RING_ENTRIES as u64 + 1..=last {
        assert_eq!(q.status(seq), JobStatus::Timeout, "seq {seq}");
    }
    let err = exec.complete(running.job_id, JobStatus::Ok).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ECANCELED));
    assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
    // Each timeout was counted once, against the executor.
    let info = dev.backends().unwrap();
    let mine = info
        .iter()
        .find(|i| i.name == "t-mass-timeout")
        .expect("the executor is registered");
    assert_eq!(mine.stats.count, u64::from(uapi::MAX_QUEUE_INFLIGHT));
    assert_eq!(mine.stats.errors, u64::from(uapi::MAX_QUEUE_INFLIGHT));
    assert_eq!(dev.stats().unwrap().jobs_in_flight, 0);
    // The window emptied: the queue goes on where the timeline stopped.
    let s = q.submit(&batch[..3]).unwrap();
    assert_eq!(s.first_seq, last + 1);
    for _ in 0..3 {
        let job = exec.fetch(SEC).unwrap().expect("a job");
        exec.complete(job.job_id, JobStatus::Ok).unwrap();
    }
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!((c.status, c.completed_seq), (JobStatus::Ok, s.last_seq));
}

/// The scheduler state of thread `tid` of this process (`R`, `S`, ...).
fn thread_state(tid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next())
        .unwrap_or('?')
}

#[test]
fn destroying_a_queue_aborts_every_pending_job_and_wakes_its_waiter() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-abort-all"))
        .unwrap();
    let s = q.submit(&vec![null_copy(&b); 200]).unwrap();
    let running = exec.fetch(SEC).unwrap().expect("a job");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            q.wait(s.last_seq, None)
        });
        let tid = rx.recv().unwrap();
        // Let the waiter fall asleep in WAIT before the queue goes.
        for _ in 0..500 {
            if thread_state(tid) == 'S' {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut destroy = uapi::QueueDestroy {
            queue_id: q.id(),
            ..Default::default()
        };
        assert_eq!(raw(&dev, uapi::IOC_NR_QUEUE_DESTROY, &mut destroy), Ok(0));
        let c = waiter
            .join()
            .unwrap()
            .expect("WAIT returns once the queue is destroyed");
        assert_eq!(
            (c.status, c.completed_seq),
            (JobStatus::Aborted, s.last_seq)
        );
    });
    // The page outlives the queue: every job it still shows ended ABORTED.
    assert_eq!(q.completed_seq(), s.last_seq);
    for seq in s.last_seq - uapi::COMPLETION_RING_ENTRIES as u64 + 1..=s.last_seq {
        assert_eq!(q.status(seq), JobStatus::Aborted, "seq {seq}");
    }
    let err = exec.complete(running.job_id, JobStatus::Ok).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ECANCELED));
    assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
    assert_eq!(dev.stats().unwrap().jobs_in_flight, 0);
}

#[test]
fn out_of_order_completions_advance_the_timeline_only_over_an_ended_prefix() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-order"))
        .unwrap();
    let fetch = |n: usize| -> Vec<u64> {
        (0..n)
            .map(|_| exec.fetch(SEC).unwrap().expect("a job").job_id)
            .collect()
    };
    let complete = |id: u64| exec.complete(id, JobStatus::Ok).unwrap();
    // Ten in flight, the first five completed: the timeline's window holds 6..=10.
    q.submit(&vec![null_copy(&b); 10]).unwrap();
    fetch(5).into_iter().for_each(complete);
    assert_eq!(q.completed_seq(), 5);
    // Twenty more (the window grows around the five it holds), completed newest first.
    let s = q.submit(&vec![null_copy(&b); 20]).unwrap();
    assert_eq!((s.first_seq, s.last_seq), (11, 30));
    let mut jobs = fetch(25);
    let oldest = jobs.remove(0);
    jobs.into_iter().rev().for_each(complete);
    assert_eq!(q.completed_seq(), 5, "seq 6 has not ended");
    assert_eq!(q.status(6), JobStatus::Pending);
    assert_eq!(q.status(30), JobStatus::Ok);
    complete(oldest);
    assert_eq!(q.completed_seq(), 30);
    // A hundred more from there (the window grows again, at an offset), in order.
    let s = q.submit(&vec![null_copy(&b); 100]).unwrap();
    fetch(100).into_iter().for_each(complete);
    let c = q.wait(s.last_seq, SEC).unwrap();
    assert_eq!((c.status, c.completed_seq), (JobStatus::Ok, 130));
    for seq in 130 - uapi::COMPLETION_RING_ENTRIES as u64 + 1..=130 {
        assert_eq!(q.status(seq), JobStatus::Ok, "seq {seq}");
    }
}

/// The executor's job queue (the core's `JobQueue`, shared with the photonic driver): fetches take
/// the highest queue priority first and, within a priority, the oldest first — also across the
/// queue's internal compaction (more than 16 jobs taken from one priority while more arrive).
#[test]
fn an_executor_takes_jobs_highest_priority_first_then_oldest_first() {
    let dev = dev();
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&ExecutorSpec {
            name: "t-order".into(),
            ops: Op::Add.bit(),
            deterministic_ops: Op::Add.bit(),
            dtypes: DType::F32.bit(),
        })
        .unwrap();
    let queues: Vec<Queue> = (0..=uapi::QUEUE_PRIORITY_MAX)
        .map(|p| dev.create_queue(p, Duration::ZERO).unwrap())
        .collect();
    // A job of priority p adds vectors of p + 1 elements, so a fetched job tells its priority.
    let add = |p: u32| {
        let n = u64::from(p) + 1;
        PrimitiveBuilder::new(Op::Add, DType::F32)
            .input(&b, 0, &[n])
            .input(&b, 64, &[n])
            .output(&b, 128, &[n])
    };
    let submit = |p: u32, count: usize| {
        queues[p as usize].submit(&vec![add(p); count]).unwrap();
    };
    // (priority, job id) of the next `count` fetches, each completed.
    let fetch = |count: usize| -> Vec<(u32, u64)> {
        (0..count)
            .map(|_| {
                let job = exec
                    .fetch(Some(Duration::ZERO))
                    .unwrap()
                    .expect("a queued job");
                exec.complete(job.job_id, JobStatus::Ok).unwrap();
                (job.prim.abi().operands[0].shape[0] as u32 - 1, job.job_id)
            })
            .collect()
    };
    // Highest priority first; job ids grow with submission, so oldest first is ascending ids.
    let in_order = |got: &[(u32, u64)]| {
        got.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1))
    };
    submit(0, 30);
    submit(1, 2);
    submit(3, 3);
    submit(2, 1);
    submit(3, 1);
    let first = fetch(27);
    assert!(in_order(&first), "{first:?}");
    let prios: Vec<u32> = first.iter().map(|j| j.0).collect();
    assert_eq!(&prios[..7], &[3, 3, 3, 3, 2, 1, 1], "{first:?}");
    // 20 of priority 0 taken; 10 wait. More arrive behind them, and one of priority 1 ahead.
    submit(0, 12);
    submit(1, 1);
    let rest = fetch(23);
    assert!(in_order(&rest), "{rest:?}");
    assert_eq!(rest[0].0, 1, "{rest:?}");
    assert!(
        rest[1..].iter().all(|j| j.0 == 0) && rest[1].1 > first.last().unwrap().1,
        "the 10 older priority-0 jobs, then the 12 newer: {rest:?}"
    );
    assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
}

/// The completion ring keeps the newest sequence numbers: the oldest of 129 jobs ending last (its
/// slot already holds seq 129's entry) must not overwrite seq 129's status.
#[test]
fn a_late_old_completion_keeps_the_newest_ring_entry() {
    let dev = dev();
    let q = queue(&dev);
    let b = buf(&dev, 4096);
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("t-ring-late"))
        .unwrap();
    let n = uapi::COMPLETION_RING_ENTRIES as u64 + 1;
    let s = q.submit(&vec![null_copy(&b); n as usize]).unwrap();
    assert_eq!((s.first_seq, s.last_seq), (1, n));
    let ids: Vec<u64> = (0..n)
        .map(|_| exec.fetch(SEC).unwrap().expect("a job").job_id)
        .collect();
    for &id in &ids[1..] {
        exec.complete(id, JobStatus::Ok).unwrap();
    }
    assert_eq!(q.status(n), JobStatus::Ok);
    assert_eq!(q.completed_seq(), 0, "seq 1 has not ended");
    exec.complete(ids[0], JobStatus::Ok).unwrap();
    let c = q.wait(n, SEC).unwrap();
    assert_eq!((c.status, c.completed_seq), (JobStatus::Ok, n));
    assert_eq!(
        q.status(n),
        JobStatus::Ok,
        "seq {n}'s entry survived seq 1's late end"
    );
}
