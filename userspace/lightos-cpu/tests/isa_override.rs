//! `LIGHTOS_CPU_ISA` lowers the kernels a process picks (read once per process, so each case runs
//! this test binary again as a child with the variable set) and a bad value is an error that names
//! the accepted ones.

use lightos_cpu::gemm::isa::{IsaLevel, Kernels, ISA_ENV};
use lightos_cpu::{Gemm, MatRef};
use std::process::Command;

const CHILD: &str = "LIGHTOS_CPU_ISA_TEST_CHILD";

/// In the child: print what the process picked and the result of a small exact product.
fn child() {
    match Gemm::new(2) {
        Ok(g) => {
            let a: Vec<i8> = (0..7 * 300).map(|i| (i % 251) as u8 as i8).collect();
            let b: Vec<i8> = (0..300 * 5).map(|i| (i * 7 % 253) as u8 as i8).collect();
            let mut c = vec![0i32; 35];
            g.run_i8(
                MatRef::row_major(&a, 7, 300).unwrap(),
                MatRef::row_major(&b, 300, 5).unwrap(),
                &mut c,
                5,
            )
            .unwrap();
            println!("KERNELS: {}", g.kernels());
            println!("LEVEL: {}", g.kernels().level);
            println!("SUM: {}", c.iter().map(|&v| i64::from(v)).sum::<i64>());
        }
        Err(e) => println!("ERROR: {e}"),
    }
}

fn run_child(value: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lowering_the_isa_picks_lower_kernels",
            "--nocapture",
        ])
        .env(ISA_ENV, value)
        .env(CHILD, "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn lowering_the_isa_picks_lower_kernels() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let mut sums = Vec::new();
    for level in IsaLevel::ALL {
        let out = run_child(level.name());
        let want = Kernels::at_most(level);
        assert_eq!(line(&out, "LEVEL: "), want.level.name(), "{out}");
        assert_eq!(line(&out, "KERNELS: "), want.to_string(), "{out}");
        if want.level != level {
            eprintln!(
                "skipped: {level}: {} (got {})",
                level.available().unwrap_err(),
                want.level
            );
        }
        assert_eq!(
            line(&out, "KERNELS: ").contains("below this CPU's best level"),
            want.below_best(),
            "{out}"
        );
        sums.push(line(&out, "SUM: ").to_string());
    }
    assert!(
        sums.windows(2).all(|w| w[0] == w[1]),
        "INT8 is exact on every kernel: {sums:?}"
    );
    let out = run_child("avx9000");
    assert!(
        line(&out, "ERROR: ").contains("expected one of portable, avx2, avxvnni, avx512"),
        "{out}"
    );
}
