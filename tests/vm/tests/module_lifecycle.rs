//! Loading and unloading: rmmod refused while a file is open, 1000 load/unload cycles without leaks.

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
fn a_thousand_insmod_rmmod_cycles_leak_nothing() {
    ensure_loaded();
    assert!(
        kmemleak_clear(),
        "the guest kernel is built with kmemleak; /sys/kernel/debug/kmemleak is missing"
    );
    for i in 0..1000 {
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
