//! Executors at ring speed (ABI 1.10): `JOB_BATCH` completes a batch and fetches the next in one
//! call; an operand buffer keeps one handle in the executor's context across jobs, revoked once
//! its client lets it go; an executor that dies with batched jobs and cached handles leaves
//! nothing behind. `Executor::serve` (every test executor, lightosd) runs on it.

use lightos_runtime::{BufferFlags, Context, JobStatus, Placement, Queue};
use lightos_uapi as uapi;
use lightos_vm_tests::{dev_ioctl, get_f32, mutated_add, put_f32, ExecutorThread};
use std::time::Duration;

/// What a raw `JOB_BATCH` returned: the request as written back, the jobs and revoked handles.
struct Reply {
    req: uapi::JobBatch,
    jobs: Vec<uapi::BatchJob>,
    revoked: Vec<u32>,
}

/// Issues `JOB_BATCH` on `ctx` completing `done`, fetching at most `max_fetch` jobs (waiting at
/// most `wait`), reporting at most 16 revoked handles; `Err(errno)` on failure.
fn job_batch(
    ctx: &Context,
    done: &[uapi::JobDone],
    max_fetch: usize,
    wait: Duration,
) -> Result<Reply, i32> {
    let mut jobs = vec![uapi::BatchJob::default(); max_fetch];
    let mut revoked = vec![0u32; 16];
    let mut req = uapi::JobBatch {
        n_complete: done.len() as u32,
        completions: done.as_ptr() as u64,
        max_fetch: max_fetch as u32,
        jobs: jobs.as_mut_ptr() as u64,
        timeout_ns: lightos_runtime::deadline_ns(Some(wait)),
        revoked: revoked.as_mut_ptr() as u64,
        max_revoked: 16,
        ..Default::default()
    };
    dev_ioctl(ctx, uapi::IOC_NR_JOB_BATCH, &mut req)?;
    jobs.truncate(req.n_fetched as usize);
    revoked.truncate(req.n_revoked as usize);
    Ok(Reply { req, jobs, revoked })
}

fn done(job: &uapi::BatchJob, status: u32) -> uapi::JobDone {
    uapi::JobDone {
        job_id: job.job_id,
        status,
        produced: 0,
    }
}

/// An executor registered on its own context (served by the test itself), and a client context
/// routing everything to it.
fn executor_and_client(name: &str) -> (Context, lightos_runtime::Executor, Context) {
    let ectx = Context::open().unwrap();
    let exec = ectx.register_executor(&lightosd::core_spec(name)).unwrap();
    let client = Context::open().unwrap();
    client
        .add_route(None, None, 0..=u64::MAX, exec.backend_id())
        .unwrap();
    (ectx, exec, client)
}

fn wait_ok(q: &Queue, seq: u64) {
    assert_eq!(
        q.wait(seq, Some(Duration::from_secs(5))).unwrap().status,
        JobStatus::Ok
    );
}

#[test]
fn one_call_completes_a_batch_and_fetches_the_next_with_cached_handles() {
    let (ectx, _exec, client) = executor_and_client("batch0");
    let (q, add, _b) = mutated_add(&client, |_, _| {});
    let s = q.submit(&[add, add, add]).unwrap();
    let r = job_batch(&ectx, &[], 8, Duration::from_secs(2)).unwrap();
    assert_eq!(r.jobs.len(), 3, "three ready jobs in one call");
    let handle = r.jobs[0].prim.operands[0].buffer;
    for j in &r.jobs {
        // One buffer, one handle: every operand of every job names the same cached handle.
        assert!(j.prim.operands[..3].iter().all(|t| t.buffer == handle));
    }
    // Completing those and fetching the next batch is one call.
    let s2 = q.submit(&[add]).unwrap();
    let done3: Vec<_> = r.jobs.iter().map(|j| done(j, uapi::STATUS_OK)).collect();
    let r2 = job_batch(&ectx, &done3, 8, Duration::from_secs(2)).unwrap();
    wait_ok(&q, s.last_seq);
    assert_eq!(r2.jobs.len(), 1);
    assert_eq!(r2.jobs[0].prim.operands[0].buffer, handle, "still cached");
    // The handle is a real one in the executor's context, mapped once.
    assert_eq!(ectx.context_stats().unwrap().buffers, 1);
    job_batch(
        &ectx,
        &[done(&r2.jobs[0], uapi::STATUS_OK)],
        0,
        Duration::ZERO,
    )
    .unwrap();
    wait_ok(&q, s2.last_seq);
}

#[test]
fn a_buffer_its_client_destroyed_is_revoked_once_no_job_uses_it() {
    let (ectx, _exec, client) = executor_and_client("batch1");
    let (q, add, [b, ro]) = mutated_add(&client, |_, _| {});
    drop(ro);
    let s = q.submit(&[add]).unwrap();
    let r = job_batch(&ectx, &[], 1, Duration::from_secs(2)).unwrap();
    let handle = r.jobs[0].prim.operands[0].buffer;
    // The executor maps it and writes the output.
    let file = std::fs::File::from(
        std::os::fd::AsFd::as_fd(&ectx)
            .try_clone_to_owned()
            .unwrap(),
    );
    let cookie = u64::from(handle) << uapi::MMAP_HANDLE_SHIFT;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let map = lightos_vm_tests::map(&file, 4096, rw, libc::MAP_SHARED, cookie).unwrap();
    // SAFETY: `map` is a live 4096-byte mapping.
    let page = unsafe { std::slice::from_raw_parts_mut(map, 4096) };
    put_f32(&mut page[32..], &[7.0; 4]);
    // The client lets the buffer go while the job runs: not revoked yet, the job uses it.
    drop(b);
    let r2 = job_batch(&ectx, &[], 0, Duration::ZERO).unwrap();
    assert!(r2.revoked.is_empty(), "revoked while a running job uses it");
    let r3 = job_batch(
        &ectx,
        &[done(&r.jobs[0], uapi::STATUS_OK)],
        0,
        Duration::ZERO,
    )
    .unwrap();
    wait_ok(&q, s.last_seq);
    // The completion freed it: this call or the next reports the handle revoked.
    let revoked = if r3.revoked.is_empty() {
        job_batch(&ectx, &[], 0, Duration::ZERO).unwrap().revoked
    } else {
        r3.revoked
    };
    assert_eq!(revoked, vec![handle]);
    // The handle is gone: no new mapping, no BUFFER_INFO.
    assert_eq!(
        lightos_vm_tests::map(&file, 4096, rw, libc::MAP_SHARED, cookie).unwrap_err(),
        libc::EINVAL
    );
    assert_eq!(
        lightos_vm_tests::buffer_info(&file, handle).unwrap_err(),
        libc::ENOENT
    );
    // The executor's old mapping keeps its own pages, never reused: a new buffer written
    // elsewhere does not show through it.
    let other = client
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    other.map().unwrap().fill(0xab);
    assert_eq!(get_f32(&page[32..], 4), vec![7.0; 4]);
    lightos_vm_tests::unmap(map, 4096);
    assert_eq!(ectx.context_stats().unwrap().buffers, 0);
}

#[test]
fn an_expired_wait_or_nonblocking_call_fetches_nothing_and_succeeds() {
    let (ectx, _exec, _client) = executor_and_client("batch2");
    let r = job_batch(&ectx, &[], 4, Duration::from_millis(20)).unwrap();
    assert_eq!(r.req.n_fetched, 0);
    let mut req = uapi::JobBatch {
        flags: uapi::FETCH_NONBLOCK,
        max_fetch: 0,
        ..Default::default()
    };
    assert_eq!(dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req), Ok(0));
}

#[test]
fn job_batch_rejections() {
    let (ectx, _exec, client) = executor_and_client("batch3");
    let einval = libc::EINVAL;
    let call =
        |mut req: uapi::JobBatch| dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).map(|_| req);
    let ok = uapi::JobBatch::default();
    assert_eq!(
        call(uapi::JobBatch {
            flags: 1 << 3,
            ..ok
        })
        .unwrap_err(),
        einval
    );
    assert_eq!(call(uapi::JobBatch { pad: 1, ..ok }).unwrap_err(), einval);
    assert_eq!(
        call(uapi::JobBatch {
            reserved: [0, 1],
            ..ok
        })
        .unwrap_err(),
        einval
    );
    assert_eq!(
        call(uapi::JobBatch { n_fetched: 1, ..ok }).unwrap_err(),
        einval
    );
    assert_eq!(
        call(uapi::JobBatch { n_revoked: 1, ..ok }).unwrap_err(),
        einval
    );
    assert_eq!(
        call(uapi::JobBatch {
            error_index: 1,
            ..ok
        })
        .unwrap_err(),
        einval
    );
    assert_eq!(
        call(uapi::JobBatch {
            n_complete: uapi::MAX_JOB_BATCH + 1,
            ..ok
        })
        .unwrap_err(),
        einval
    );
    assert_eq!(
        call(uapi::JobBatch {
            max_fetch: uapi::MAX_JOB_BATCH + 1,
            ..ok
        })
        .unwrap_err(),
        einval
    );
    // Unreadable completions: nothing applied.
    assert_eq!(
        call(uapi::JobBatch {
            n_complete: 1,
            completions: 8,
            ..ok
        })
        .unwrap_err(),
        libc::EFAULT
    );
    // Not an executor.
    let mut req = ok;
    assert_eq!(
        dev_ioctl(&client, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        libc::EPERM
    );
    // A bad status and an unknown job are named by error_index; those before them stand.
    let (q, add, _b) = mutated_add(&client, |_, _| {});
    let s = q.submit(&[add, add]).unwrap();
    let r = job_batch(&ectx, &[], 2, Duration::from_secs(2)).unwrap();
    let bad = [
        done(&r.jobs[0], uapi::STATUS_OK),
        done(&r.jobs[1], uapi::STATUS_TIMEOUT),
    ];
    let mut req = uapi::JobBatch {
        n_complete: 2,
        completions: bad.as_ptr() as u64,
        ..ok
    };
    assert_eq!(
        dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        einval
    );
    assert_eq!(req.error_index, 1);
    assert_eq!(
        q.status(s.first_seq),
        JobStatus::Ok,
        "the completion before it stands"
    );
    let unknown = [uapi::JobDone {
        job_id: 1 << 60,
        status: 0,
        produced: 0,
    }];
    let mut req = uapi::JobBatch {
        n_complete: 1,
        completions: unknown.as_ptr() as u64,
        ..ok
    };
    assert_eq!(
        dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        libc::ENOENT
    );
    assert_eq!(req.error_index, 0);
    job_batch(
        &ectx,
        &[done(&r.jobs[1], uapi::STATUS_OK)],
        0,
        Duration::ZERO,
    )
    .unwrap();
    wait_ok(&q, s.last_seq);
    // Applied under one lock, still in order: an unknown job after a good one, then the same job
    // twice, stop at the refused one and keep what came before it.
    let s3 = q.submit(&[add, add]).unwrap();
    let r3 = job_batch(&ectx, &[], 2, Duration::from_secs(2)).unwrap();
    assert_eq!(r3.jobs.len(), 2);
    let mixed = [
        done(&r3.jobs[0], uapi::STATUS_OK),
        unknown[0],
        done(&r3.jobs[1], uapi::STATUS_OK),
    ];
    let mut req = uapi::JobBatch {
        n_complete: 3,
        completions: mixed.as_ptr() as u64,
        ..ok
    };
    assert_eq!(
        dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        libc::ENOENT
    );
    assert_eq!(req.error_index, 1);
    assert_eq!(q.status(s3.first_seq), JobStatus::Ok);
    assert_eq!(
        q.status(s3.last_seq),
        JobStatus::Pending,
        "after the refused one: not applied"
    );
    let twice = [
        done(&r3.jobs[1], uapi::STATUS_OK),
        done(&r3.jobs[1], uapi::STATUS_OK),
    ];
    let mut req = uapi::JobBatch {
        n_complete: 2,
        completions: twice.as_ptr() as u64,
        ..ok
    };
    assert_eq!(
        dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        libc::ENOENT
    );
    assert_eq!(req.error_index, 1);
    wait_ok(&q, s3.last_seq);
    // Jobs that cannot be written back end DEVICE_LOST rather than run unseen.
    let s2 = q.submit(&[add]).unwrap();
    let mut req = uapi::JobBatch {
        max_fetch: 1,
        jobs: 8,
        timeout_ns: lightos_runtime::deadline_ns(Some(Duration::from_secs(2))),
        ..ok
    };
    assert_eq!(
        dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap_err(),
        libc::EFAULT
    );
    assert_eq!(
        q.wait(s2.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::DeviceLost
    );
}

#[test]
fn a_warm_job_batch_allocates_nothing() {
    let (ectx, _exec, client) = executor_and_client("batch-noalloc");
    let (q, add, _b) = mutated_add(&client, |_, _| {});
    // The first call makes the executor's handles and working storage.
    q.submit(&[add; 32]).unwrap();
    let mut r = job_batch(&ectx, &[], 32, Duration::from_secs(2)).unwrap();
    assert_eq!(r.jobs.len(), 32);
    // Everything the armed call touches is allocated and written first: a page fault on fresh
    // user memory would allocate too.
    let mut jobs = vec![uapi::BatchJob::default(); 32];
    let mut revoked = vec![0u32; 16];
    // Two calls to grow what they use; the next two must allocate nothing.
    for round in 0..4 {
        let s = q.submit(&[add; 32]).unwrap();
        let done: Vec<_> = r.jobs.iter().map(|j| done(j, uapi::STATUS_OK)).collect();
        let mut req = uapi::JobBatch {
            n_complete: 32,
            completions: done.as_ptr() as u64,
            max_fetch: 32,
            jobs: jobs.as_mut_ptr() as u64,
            timeout_ns: lightos_runtime::deadline_ns(Some(Duration::from_secs(2))),
            revoked: revoked.as_mut_ptr() as u64,
            max_revoked: 16,
            ..Default::default()
        };
        if round < 2 {
            dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req).unwrap();
            r.jobs = jobs.clone();
            continue;
        }
        let armed = lightos_vm_tests::first_allocation_fails(|| {
            dev_ioctl(&ectx, uapi::IOC_NR_JOB_BATCH, &mut req)
        });
        let (result, allocated) = match armed {
            Ok(x) => x,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        result.expect("JOB_BATCH (an allocation it made failed?)");
        assert!(
            !allocated,
            "a warm JOB_BATCH (32 completions, 32 fetches) allocated"
        );
        assert_eq!(req.n_fetched, 32);
        assert_eq!(q.status(s.first_seq - 1), JobStatus::Ok);
        r.jobs = jobs.clone();
    }
    let done: Vec<_> = r.jobs.iter().map(|j| done(j, uapi::STATUS_OK)).collect();
    job_batch(&ectx, &done, 0, Duration::ZERO).unwrap();
}

#[test]
fn an_executor_that_dies_with_batched_jobs_and_cached_handles_leaves_nothing() {
    let leak_check = lightos_vm_tests::kmemleak_clear();
    let (ectx, exec, client) = executor_and_client("batch4");
    let (q, add, b) = mutated_add(&client, |_, _| {});
    let s = q.submit(&[add, add, add, add]).unwrap();
    let r = job_batch(&ectx, &[], 2, Duration::from_secs(2)).unwrap();
    assert_eq!(r.jobs.len(), 2);
    drop(exec);
    drop(ectx); // the file closes: two running, two queued, one cached handle
    for seq in s.first_seq..=s.last_seq {
        let c = q.wait(seq, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(c.status, JobStatus::DeviceLost, "seq {seq}");
    }
    drop(b);
    drop(q);
    drop(client);
    let dev = Context::open().unwrap();
    assert_eq!(dev.stats().unwrap().jobs_in_flight, 0);
    assert_eq!(
        dev.stats().unwrap().buffers,
        0,
        "no buffer outlived its client and executor"
    );
    if leak_check {
        std::thread::sleep(Duration::from_secs(6));
        let reports = lightos_vm_tests::kmemleak_reports();
        assert!(reports.is_empty(), "kmemleak: {reports:#?}");
    }
}

#[test]
fn serve_runs_on_job_batch_and_computes_right_across_many_buffers() {
    let exec = ExecutorThread::cpu("batch5");
    let dev = Context::open().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, exec.backend_id)
        .unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    for round in 0..3 {
        // New buffers each round: the old ones are revoked from the executor as they go.
        let (_q, add, [b, _ro]) = mutated_add(&dev, |_, _| {});
        {
            let mut m = b.map().unwrap();
            put_f32(&mut m[..16], &[1.0, 2.0, 3.0, 4.0]);
            put_f32(&mut m[16..32], &[round as f32; 4]);
        }
        let s = q.submit(&vec![add; 40]).unwrap();
        wait_ok(&q, s.last_seq);
        let m = b.map().unwrap();
        let r = round as f32;
        assert_eq!(
            get_f32(&m[32..], 4),
            vec![1.0 + r, 2.0 + r, 3.0 + r, 4.0 + r]
        );
    }
}
