//! `lightos-fuzz failnth`: allocation-failure injection over every ioctl, the mmap and fault
//! paths, the photonic NPU's probe and the module's init, with the calling thread's `fail-nth`
//! (needs the debug kernel, root). See docs/RELIABILITY.md, "Allocation-failure injection".
//!
//! Each call kind ([`kinds`]) is swept ([`sweep`]): set up without injection, then for n = 1, 2, ...
//! the n-th allocation of the call fails; the call must fail with `ENOMEM` and leave no trace
//! ([`state`]), or succeed as without injection when the allocation was optional; the sweep ends
//! at the first n where nothing fired. Then the probe and init paths ([`probe`]), then kmemleak.

mod fixture;
mod inject;
mod kinds;
mod kmemleak;
mod probe;
mod state;
mod sweep;

use crate::sys;
use clap::Args;

/// Options of `lightos-fuzz failnth`.
#[derive(Args, Debug)]
pub struct FailNthArgs {
    /// Sweep only the call kinds whose name contains this (repeatable; e.g. "SUBMIT").
    #[arg(long)]
    only: Vec<String>,
    /// The largest n tried per sweep (a sweep still failing there is a violation).
    #[arg(long, default_value_t = 5000)]
    max_n: u32,
    /// Skip the call kinds (ioctls, mmap, open, close): only the probe and init sweeps.
    #[arg(long)]
    no_calls: bool,
    /// Skip the photonic probe sweep.
    #[arg(long)]
    no_probe: bool,
    /// Skip the module-init sweep.
    #[arg(long)]
    no_init: bool,
    /// Try every k-th n of the module-init sweep (1: all).
    #[arg(long, default_value_t = 1)]
    init_stride: u32,
    /// Skip the kmemleak scan at the end.
    #[arg(long)]
    no_kmemleak: bool,
    /// Make each call once without injection and check its cleanup, then stop (checks the
    /// setups; needs no fault injection, so it runs on the default kernel too).
    #[arg(long)]
    no_inject: bool,
}

/// Runs the allocation-failure sweeps; `Err` on any violation, or when fault injection is missing.
pub fn run(args: &FailNthArgs) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("failnth: needs root (debugfs, module loading, driver binding)".into());
    }
    let fail = if args.no_inject {
        None
    } else {
        inject::configure().map_err(|e| format!("failnth: fault injection unavailable: {e}"))?;
        Some(sys::FailNth::open().map_err(|e| format!("failnth: fail-nth: {e}"))?)
    };
    let mut kmsg = inject::Kmsg::open()?;
    let kmemleak = fail.is_some() && !args.no_kmemleak && kmemleak::clear();
    let started = std::time::Instant::now();

    let world = {
        let fd = fixture::open()?;
        sweep::World {
            photonic0: fixture::backend_id(fd.0, "photonic0")?,
        }
    };
    let mut tally = sweep::Tally::default();
    for kind in kinds::all() {
        if args.no_calls {
            break;
        }
        if !args.only.is_empty() && !args.only.iter().any(|o| kind.name.contains(o.as_str())) {
            continue;
        }
        if kind.needs == sweep::Needs::Photonic && world.photonic0.is_none() {
            println!(
                "failnth: {:<44} skipped (no photonic0; boot with --photonic)",
                kind.name
            );
            tally.skipped.push(kind.name);
            continue;
        }
        if let Err(e) = sweep::sweep(
            &kind,
            &world,
            fail.as_ref(),
            &mut kmsg,
            args.max_n,
            &mut tally,
        ) {
            eprintln!("failnth: VIOLATION {}: {e}", kind.name);
            tally.violations.push(format!("{}: {e}", kind.name));
        }
    }
    let ioctl_injected = tally.injected;
    // The probe and init sweeps run with injection and a full run (not with --only).
    let probe_paths = fail.as_ref().filter(|_| args.only.is_empty());
    let probe = match probe_paths.filter(|_| !args.no_probe) {
        None => 0,
        Some(fail) => {
            probe::sweep_bind(fail, &mut kmsg, args.max_n, &mut tally).unwrap_or_else(|e| {
                tally.violations.push(format!("probe: {e}"));
                0
            })
        }
    };
    let init = match probe_paths.filter(|_| !args.no_init) {
        None => 0,
        Some(fail) => {
            let stride = args.init_stride.max(1);
            probe::sweep_init(fail, &mut kmsg, args.max_n, stride, &mut tally).unwrap_or_else(|e| {
                tally.violations.push(format!("module init: {e}"));
                0
            })
        }
    };
    if kmemleak {
        match kmemleak::scan() {
            Ok((related, unrelated)) => {
                for s in &related {
                    eprintln!("failnth: VIOLATION kmemleak: {s}");
                    tally
                        .violations
                        .push(format!("kmemleak: {}", s.lines().next().unwrap_or("")));
                }
                println!(
                    "failnth: kmemleak: {} suspects from the swept paths, {} unrelated",
                    related.len(),
                    unrelated.len()
                );
                for s in &unrelated {
                    println!(
                        "failnth: kmemleak (unrelated): {}",
                        s.lines().next().unwrap_or("")
                    );
                }
            }
            Err(e) => tally.violations.push(format!("kmemleak: {e}")),
        }
    } else {
        println!("failnth: kmemleak: not scanned");
    }
    tally.kernel_reports(&mut kmsg, "the run");
    for (site, count) in &tally.tolerated {
        println!("failnth: tolerated {count:>3}x: {site}");
    }
    for other in &tally.other_errnos {
        println!("failnth: clean failure, errno not ENOMEM: {other}");
    }
    for report in &tally.core_reports {
        println!("failnth: core-kernel report (not lightos_core): {report}");
    }
    println!(
        "failnth: {} ioctls, {} call kinds{}, {} tries, {} failures injected ({} ENOMEM, {} tolerated, \
         {} other errno), ioctls/mmap {}, probe {}, init {}, {} core-kernel reports, {} violations, {} s",
        tally.ioctls.len(),
        tally.kinds,
        if tally.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} skipped: {})", tally.skipped.len(), tally.skipped.join(", "))
        },
        tally.tries,
        tally.injected,
        tally.enomem,
        tally.tolerated_total(),
        tally.other_errnos.len(),
        ioctl_injected,
        probe,
        init,
        tally.core_reports.len(),
        tally.violations.len(),
        started.elapsed().as_secs()
    );
    if tally.violations.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "failnth: {} violations:\n  {}",
            tally.violations.len(),
            tally.violations.join("\n  ")
        ))
    }
}
