//! GET_INFO against the real module: the values, per-context identity, fdinfo, the runtime wrapper.

use lightos_uapi as uapi;
use lightos_vm_tests::*;
use std::os::fd::AsRawFd;

#[test]
fn get_info_reports_abi_capabilities_and_limits() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    assert_eq!(get_info(&f, &mut info), Ok(0));
    assert_eq!(
        (info.abi_major, info.abi_minor),
        (uapi::ABI_MAJOR, uapi::ABI_MINOR)
    );
    assert_eq!(info.capabilities, uapi::CAP_ALL);
    assert_eq!(info.max_contexts, uapi::MAX_CONTEXTS);
    assert!(info.open_contexts >= 1);
    assert_ne!(info.context_id, 0);
    let len = info
        .module_version
        .iter()
        .position(|&b| b == 0)
        .expect("NUL-terminated version");
    assert_eq!(
        std::str::from_utf8(&info.module_version[..len]).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(info.max_buffer_size, uapi::MAX_BUFFER_SIZE);
    assert_eq!(info.max_buffer_bytes, uapi::MAX_BUFFER_BYTES);
    assert_eq!(info.max_buffers_per_context, uapi::MAX_BUFFERS_PER_CONTEXT);
    assert_eq!((info.pad, info.pad2), (0, 0));
    assert_eq!(info.reserved, [0; 5]);
}

#[test]
fn each_open_is_its_own_context() {
    let a = open_dev();
    let mut ia = uapi::Info::zeroed();
    get_info(&a, &mut ia).unwrap();
    let b = open_dev();
    let mut ib = uapi::Info::zeroed();
    get_info(&b, &mut ib).unwrap();
    assert_ne!(ia.context_id, ib.context_id);
    assert_eq!(ib.open_contexts, ia.open_contexts + 1);
    // The same fd keeps its identity.
    let mut again = uapi::Info::zeroed();
    get_info(&a, &mut again).unwrap();
    assert_eq!(again.context_id, ia.context_id);
    drop(b);
    get_info(&a, &mut again).unwrap();
    assert_eq!(
        again.open_contexts, ia.open_contexts,
        "closing b released its context"
    );
}

#[test]
fn fdinfo_shows_the_context_and_its_ioctl_count() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    for _ in 0..3 {
        get_info(&f, &mut info).unwrap();
    }
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", f.as_raw_fd())).unwrap();
    assert!(
        text.contains(&format!("lightos-context:\t{}\n", info.context_id)),
        "{text}"
    );
    assert!(text.contains("lightos-ioctls:\t3\n"), "{text}");
}

#[test]
fn runtime_device_reads_the_same_info() {
    let dev = lightos_runtime::Context::open().expect("runtime opens /dev/lightos");
    let info = dev.info().unwrap();
    assert_eq!(info.abi_major, uapi::ABI_MAJOR);
    assert_eq!(info.module_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.capability_names(),
        vec![
            "fdinfo",
            "buffers",
            "debugfs",
            "query",
            "submit",
            "executors",
            "routing",
            "export",
            "thermal",
            "spikes",
            "spike-sharing",
            "spike-encode",
            "power",
            "reasons",
            "quotas",
            "rings",
            "dependencies"
        ]
    );
    assert_eq!(info.max_buffers_per_context, uapi::MAX_BUFFERS_PER_CONTEXT);
}

#[test]
fn device_node_is_a_misc_char_device() {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata("/dev/lightos").unwrap();
    assert!(meta.file_type().is_char_device());
    let misc = std::fs::read_to_string("/proc/misc").unwrap();
    assert!(
        misc.lines().any(|l| l.trim_end().ends_with(" lightos")),
        "{misc}"
    );
}
