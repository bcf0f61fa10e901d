//! The photonic MATMUL's tiling: double-buffered (the default) and single-buffered give the same
//! results within the device's error, every weight tile is counted, the time split grows, and the
//! debugfs switch refuses anything but 0 and 1.

use lightos_runtime::JobStatus;
use lightos_vm_tests::photonic;
use std::{collections::HashMap, fs};

const TILING: &str = "/sys/kernel/debug/lightos-photonic0/tiling";

fn tiling() -> HashMap<String, u64> {
    fs::read_to_string(TILING)
        .expect("the tiling debugfs file (is the driver bound?)")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap()))
        .collect()
}

fn set_double(on: bool) {
    fs::write(TILING, if on { "1\n" } else { "0\n" }).unwrap();
    assert_eq!(tiling()["double_buffer"], u64::from(on));
}

/// Restores the default (double-buffered) when the test ends, passed or failed.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(TILING, "1");
    }
}

#[test]
fn double_and_single_buffered_tiling_agree_and_count_every_tile() {
    photonic::npu_ready(0);
    let _restore = Restore;
    assert_eq!(
        tiling()["double_buffer"],
        1,
        "double buffering is the default"
    );
    // 2 output-column tiles × 3 K tiles of the 64-wide mesh, one row chunk: 6 weight tiles.
    let (m, k, n) = (100, 150, 128);
    for double in [true, false] {
        set_double(double);
        let before = tiling();
        let (status, err) = photonic::matmul(0, m, k, n);
        let after = tiling();
        assert_eq!(status, JobStatus::Ok, "double_buffer {double}");
        assert!(
            err < lightos_runtime::tolerance::PHOTONIC_MATMUL,
            "double_buffer {double}: relative error {err}"
        );
        assert_eq!(
            after["tiles"] - before["tiles"],
            6,
            "double_buffer {double}"
        );
        for key in ["stage_ns", "program_ns", "compute_ns", "readback_ns"] {
            assert!(
                after[key] > before[key],
                "double_buffer {double}: {key} did not grow"
            );
        }
    }
}

#[test]
fn the_tiling_switch_accepts_only_0_and_1() {
    photonic::npu_ready(0);
    let _restore = Restore;
    for bad in ["2", "yes", "10", "1 "] {
        assert!(fs::write(TILING, bad).is_err(), "{bad:?} was accepted");
    }
    assert_eq!(tiling()["double_buffer"], 1);
}
