#!/bin/sh
# `make fuzz`, inside the guest (tests/fuzz/run.sh boots it on the debug kernel with two NPUs and
# lightos_core.ko loaded). Usage: sh guest.sh SECONDS SEED PROCS [SWEEP (1, or 0 to skip the sweep)]
# Runs the fuzzer, checks the counters and the whole kernel log, unloads the module, asks kmemleak,
# then sweeps allocation failures. Ends with "fuzz-guest: PASS" or "fuzz-guest: FAIL: ...".
secs=$1 seed=$2 procs=$3 FUZZ_SWEEP=${4:-1}
fail=

# Boot-time kmemleak suspects (none are the module's) are forgotten: only what the run leaves counts.
KML=/sys/kernel/debug/kmemleak
[ -w $KML ] && { echo scan > $KML; echo clear > $KML; }

# Allocation-failure injection for the fuzzer's fail_nth steps: every allocation of the armed thread
# counts (sleeping ones, order-0 pages and highmem/vmalloc pages are skipped by default), quietly (a
# stack trace per injected failure would flood the console). The sweep sets its own verbosity.
for f in failslab fail_page_alloc; do
    d=/sys/kernel/debug/$f
    [ -d $d ] || continue
    echo N > $d/ignore-gfp-wait; echo 0 > $d/verbose
done
[ -d /sys/kernel/debug/fail_page_alloc ] && { echo 0 > /sys/kernel/debug/fail_page_alloc/min-order
    echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem; }

# Every NPU bound, so jobs also go to the photonic backends while the emulators are faulted.
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] && [ -e $d/resource1 ] || continue
    [ -e /sys/bus/pci/drivers/lightos_photonic/$(basename $d) ] || echo $(basename $d) > /sys/bus/pci/drivers/lightos_photonic/bind
done
npus=$(ls /sys/bus/pci/drivers/lightos_photonic/ | grep -c "^0000:")

lightos-fuzz run --seconds "$secs" --seed "$seed" --procs "$procs" --npus "$npus" || fail="$fail fuzzer"
lightos-fuzz check || fail="$fail counters"
# Reports of every level (the console shows only errors; lockdep reports at KERN_WARNING).
lightos-fuzz kernel-log || fail="$fail kernel-report"

# The module must unload (every NPU unbinds with it) and leave nothing behind.
rmmod lightos_core && echo "fuzz-guest: lightos_core unloaded" || fail="$fail rmmod"
if [ -w $KML ]; then
    sleep 6  # kmemleak only reports objects older than 5 s
    echo scan > $KML; echo scan > $KML
    if grep -q "unreferenced object" $KML; then
        echo "fuzz-guest: kmemleak suspects:"; cat $KML
        grep -q lightos $KML && fail="$fail kmemleak"
    fi
fi

# Last, the allocation-failure sweep (it loads the module again, many times). It reads the log itself
# and tells a report through lightos_core (a violation) from the core kernel's own (listed: a failed
# /proc/irq entry makes a later unbind WARN in remove_proc_entry, docs/RELIABILITY.md).
if [ "${FUZZ_SWEEP:-1}" = 1 ]; then
    insmod /lib/modules/lightos_core.ko || fail="$fail insmod"
    lightos-fuzz failnth || fail="$fail allocation-failure-sweep"
fi
if [ -z "$fail" ]; then echo "fuzz-guest: PASS"; else echo "fuzz-guest: FAIL:$fail"; exit 1; fi
