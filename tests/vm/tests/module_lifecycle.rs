//! Loading and unloading: rmmod refused while a file is open, 300 load/unload cycles (each binding and resetting the photonic NPU) without leaks.

use lightos_uapi as uapi;
use lightos_vm_tests::*;

#[test]
fn rmmod_is_refused_while_a_file_is_open() {
    ensure_loaded();
    let f = open_dev();
    let (ok, _) = run("rmmod", &["lightos_core"]);
    assert!(!ok, "rmmod succeeded with /dev/lightos open");
    assert!(module_loaded());
    let mut info = uapi::Info::zeroed();
    assert_eq!(get_info(&f, &mut info), Ok(0), "the open file still works");
    drop(f);
    let (ok, err) = run("rmmod", &["lightos_core"]);
    assert!(ok, "rmmod after close: {err}");
    assert!(!std::path::Path::new("/dev/lightos").exists());
    ensure_loaded();
}

#[test]
fn three_hundred_insmod_rmmod_cycles_leak_nothing() {
    ensure_loaded();
    assert!(
        kmemleak_clear(),
        "the guest kernel is built with kmemleak; /sys/kernel/debug/kmemleak is missing"
    );
    for i in 0..300 {
        let (ok, err) = run("rmmod", &["lightos_core"]);
        assert!(ok, "rmmod #{i}: {err}");
        let (ok, err) = run("insmod", &[MODULE_PATH]);
        assert!(ok, "insmod #{i}: {err}");
        if i % 50 == 0 {
            // Each load must work, not just load: open it, ask, and use buffers (one mapped and
            // destroyed, one left for close to free) so kmemleak watches their paths too.
            let f = open_dev();
            let mut info = uapi::Info::zeroed();
            assert_eq!(get_info(&f, &mut info), Ok(0));
            assert_eq!(info.open_contexts, 1, "a context survived a reload");
            let a = create_buffer(&f, 3 * 4096, 0).unwrap();
            let p = map(
                &f,
                3 * 4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                a.mmap_offset,
            )
            .unwrap();
            destroy_buffer(&f, a.handle).unwrap();
            unmap(p, 3 * 4096);
            create_buffer(&f, 4096, 0).unwrap();
            run_jobs_through_every_ending();
        }
    }
    assert!(module_loaded());
    // kmemleak reports only objects older than 5 s.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let leaks = kmemleak_reports();
    assert!(
        leaks.is_empty(),
        "kmemleak found {} leaks:\n{}",
        leaks.len(),
        leaks.join("\n---\n")
    );
}

/// Submits jobs that end every way a job can (completed, aborted by queue destruction, lost with
/// their executor, refused late completion), so kmemleak watches the submission paths too.
fn run_jobs_through_every_ending() {
    use lightos_runtime::{BufferFlags, Context, DType, JobStatus, Op, Placement};
    use std::time::Duration;
    let client = Context::open().unwrap();
    let edev = Context::open().unwrap();
    let exec = edev
        .register_executor(&lightosd::core_spec("leak-check"))
        .unwrap();
    let q = client.create_queue(0, Duration::ZERO).unwrap();
    let b = client
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let add = lightos_runtime::PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 16, &[4])
        .output(&b, 32, &[4]);
    let s = q.submit(&[add; 3]).unwrap();
    let job = exec.fetch(Some(Duration::from_secs(10))).unwrap().unwrap();
    assert_eq!(
        exec.run(&job, &mut lightosd::Server::core_cpu().unwrap())
            .status,
        JobStatus::Ok
    );
    exec.complete(job.job_id, JobStatus::Ok).unwrap();
    assert_eq!(
        q.wait(s.first_seq, Some(Duration::from_secs(10)))
            .unwrap()
            .status,
        JobStatus::Ok
    );
    let running = exec.fetch(Some(Duration::from_secs(10))).unwrap().unwrap();
    drop(q); // aborts the running and the queued job
    assert!(exec.complete(running.job_id, JobStatus::Ok).is_err());
    let q2 = client.create_queue(1, Duration::ZERO).unwrap();
    q2.submit(&[add]).unwrap();
    drop(exec);
    drop(edev); // the executor dies with a job queued: DEVICE_LOST
    drop((q2, b, client));
}
