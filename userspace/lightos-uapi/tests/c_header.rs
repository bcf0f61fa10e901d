//! Proves that `include/uapi/lightos.h` and the Rust ABI agree: compiles a C program whose static
//! assertions state every Rust size, field offset, constant and ioctl number, then runs it.

use lightos_uapi as uapi;
use std::{fmt::Write as _, mem::offset_of, path::PathBuf, process::Command};

/// Appends static assertions that `struct $c` has the size and field offsets of Rust `$rust`.
macro_rules! check_struct {
    ($out:expr, $rust:ty, $c:literal, [$($field:ident),* $(,)?]) => {{
        let size = std::mem::size_of::<$rust>();
        writeln!($out, "_Static_assert(sizeof(struct {}) == {size}, \"size of struct {}\");", $c, $c).unwrap();
        $(
            let off = offset_of!($rust, $field);
            writeln!($out, "_Static_assert(offsetof(struct {}, {}) == {off}, \"offset of {}.{}\");",
                     $c, stringify!($field), $c, stringify!($field)).unwrap();
        )*
    }};
}

/// Appends a static assertion that C constant `$c` equals Rust value `$v`.
macro_rules! check_const {
    ($out:expr, $c:literal, $v:expr) => {{
        writeln!(
            $out,
            "_Static_assert((unsigned long long)({}) == {}ULL, \"{}\");",
            $c, $v as u64, $c
        )
        .unwrap();
    }};
}

fn generated_checks() -> String {
    let mut c = String::from("#include <stddef.h>\n#include \"lightos.h\"\n");
    check_struct!(
        c,
        uapi::Info,
        "lightos_info",
        [
            flags,
            abi_major,
            abi_minor,
            max_contexts,
            capabilities,
            context_id,
            open_contexts,
            pad,
            module_version,
            reserved,
        ]
    );
    check_const!(c, "LIGHTOS_ABI_MAJOR", uapi::ABI_MAJOR);
    check_const!(c, "LIGHTOS_ABI_MINOR", uapi::ABI_MINOR);
    check_const!(c, "LIGHTOS_IOC_MAGIC", uapi::IOC_MAGIC);
    check_const!(c, "LIGHTOS_IOC_GET_INFO", uapi::IOC_GET_INFO);
    check_const!(c, "LIGHTOS_IOC_BUFFER_CREATE", uapi::IOC_BUFFER_CREATE);
    check_const!(c, "LIGHTOS_IOC_BUFFER_INFO", uapi::IOC_BUFFER_INFO);
    check_const!(c, "LIGHTOS_IOC_BUFFER_DESTROY", uapi::IOC_BUFFER_DESTROY);
    check_const!(c, "LIGHTOS_IOC_QUERY", uapi::IOC_QUERY);
    check_const!(c, "LIGHTOS_QUERY_STATS", uapi::QUERY_STATS);
    check_const!(c, "LIGHTOS_QUERY_CONTEXT", uapi::QUERY_CONTEXT);
    check_const!(c, "LIGHTOS_CAP_QUERY", uapi::CAP_QUERY);
    check_const!(c, "LIGHTOS_CAP_FDINFO", uapi::CAP_FDINFO);
    check_const!(c, "LIGHTOS_CAP_BUFFERS", uapi::CAP_BUFFERS);
    check_const!(c, "LIGHTOS_CAP_DEBUGFS", uapi::CAP_DEBUGFS);
    check_const!(c, "LIGHTOS_MAX_BUFFER_SIZE", uapi::MAX_BUFFER_SIZE);
    check_const!(
        c,
        "LIGHTOS_MAX_BUFFERS_PER_CONTEXT",
        uapi::MAX_BUFFERS_PER_CONTEXT
    );
    check_const!(c, "LIGHTOS_MAX_BUFFER_BYTES", uapi::MAX_BUFFER_BYTES);
    check_const!(
        c,
        "LIGHTOS_BUFFER_DEVICE_READ_ONLY",
        uapi::BUFFER_DEVICE_READ_ONLY
    );
    check_const!(
        c,
        "LIGHTOS_BUFFER_HOST_READ_ONLY",
        uapi::BUFFER_HOST_READ_ONLY
    );
    check_const!(c, "LIGHTOS_BUFFER_FLAGS_ALL", uapi::BUFFER_FLAGS_ALL);
    check_const!(c, "LIGHTOS_PLACEMENT_ANY", uapi::PLACEMENT_ANY);
    check_const!(c, "LIGHTOS_PLACEMENT_HOST", uapi::PLACEMENT_HOST);
    check_const!(c, "LIGHTOS_PLACEMENT_DEVICE", uapi::PLACEMENT_DEVICE);
    check_const!(c, "LIGHTOS_MMAP_HANDLE_SHIFT", uapi::MMAP_HANDLE_SHIFT);
    check_const!(c, "LIGHTOS_CAP_ALL", uapi::CAP_ALL);
    check_const!(c, "LIGHTOS_MAX_CONTEXTS", uapi::MAX_CONTEXTS);
    check_const!(c, "LIGHTOS_MODULE_VERSION_LEN", uapi::MODULE_VERSION_LEN);
    check_const!(c, "LIGHTOS_MAX_IOCTL_SIZE", uapi::MAX_IOCTL_SIZE);
    c.push_str("int main(void) { return 0; }\n");
    c
}

#[test]
fn c_header_matches_rust_abi() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let include = root.join("include/uapi");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("abi_check.c");
    let exe = dir.join("abi_check");
    std::fs::write(&src, generated_checks()).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("a C compiler (cc) is needed for this test");
    assert!(
        out.status.success(),
        "lightos.h disagrees with the Rust ABI:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Command::new(&exe).status().unwrap().success());
}

#[test]
fn a_wrong_value_is_caught() {
    // The check itself must be able to fail: a deliberately wrong assertion does not compile.
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("abi_check_wrong.c");
    std::fs::write(
        &src,
        format!(
            "#include \"lightos.h\"\n_Static_assert(sizeof(struct lightos_info) == {}, \"x\");\n",
            std::mem::size_of::<uapi::Info>() + 8
        ),
    )
    .unwrap();
    let out = Command::new("cc")
        .args(["-std=c11", "-fsyntax-only", "-I"])
        .arg(&include)
        .arg(&src)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("static assertion failed"));
}
