//! `lightosd --backend cuda` where CUDA cannot run: "no CUDA driver" and exit status 69, before
//! touching /dev/lightos. Skips on a machine with the NVIDIA driver and libraries.

use std::process::Command;

#[test]
fn backend_cuda_without_a_driver_says_so_and_exits_69() {
    if lightos_cuda::probe::missing_libraries().is_empty() {
        eprintln!("skipped: CUDA libraries are present here");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lightosd"))
        .args(["--backend", "cuda", "--device", "/nonexistent/lightos"])
        .output()
        .expect("lightosd runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("no CUDA driver"), "{stderr}");
    assert!(
        !stderr.contains("nonexistent"),
        "it stops before opening the device: {stderr}"
    );
}

#[test]
fn an_unknown_backend_is_refused_with_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_lightosd"))
        .args(["--backend", "tpu"])
        .output()
        .expect("lightosd runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cpu") && stderr.contains("cuda"),
        "{stderr}"
    );
}
