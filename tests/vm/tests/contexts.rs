//! Context lifetime: many opens and closes, the module-wide limit, and no context left behind.

use lightos_uapi as uapi;
use lightos_vm_tests::*;
use std::fs::File;

#[test]
fn ten_thousand_opens_and_closes_leave_no_context() {
    let before = open_contexts_besides_probe();
    let mut last_id = 0;
    for _ in 0..10_000 {
        let f = open_dev();
        let mut info = uapi::Info::zeroed();
        get_info(&f, &mut info).unwrap();
        assert!(info.context_id > last_id, "context ids must never repeat");
        last_id = info.context_id;
    }
    assert_eq!(open_contexts_besides_probe(), before);
}

#[test]
fn contexts_close_when_a_child_process_exits() {
    let before = open_contexts_besides_probe();
    // SAFETY: the child only opens files and exits; no locks are held across fork in this test.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let files: Vec<File> = (0..16).map(|_| open_dev()).collect();
        std::mem::forget(files); // Leaked on purpose: process exit must release them.
                                 // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(open_contexts_besides_probe(), before);
}

#[test]
fn opening_beyond_max_contexts_is_enfile_and_recovers() {
    let limit = libc::rlimit {
        rlim_cur: 8192,
        rlim_max: 8192,
    };
    // SAFETY: plain setrlimit with a valid struct; the guest runs as root.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let before = open_contexts_besides_probe();
    let mut files = Vec::new();
    let err = loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/lightos")
        {
            Ok(f) => files.push(f),
            Err(e) => break e,
        }
        assert!(
            files.len() <= uapi::MAX_CONTEXTS as usize,
            "the limit was not enforced"
        );
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENFILE), "{err}");
    assert_eq!(files.len() + before as usize, uapi::MAX_CONTEXTS as usize);
    drop(files);
    assert_eq!(open_contexts_besides_probe(), before);
}
