#!/bin/sh
# The VM suite, run inside the guest by tests/run-all.sh: every vm_* test binary (libtest), every c_*
# client, and the CLI checks. Ends with "guest: N passed, N failed"; exits non-zero on any failure.
passed=0 failed=0

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# The photonic NPUs (run-all.sh boots with two) and binding them to / unbinding them from
# lightos_photonic. The photonic suites need NPU 0 bound alone, as photonic0; vm_photonic_pair needs
# every NPU bound, NPU i as photonic<i>; the others test the executor path and assume no photonic
# backend (so each switch also exercises unbind and rebind). The driver names NPUs in probe order,
# reusing the lowest free index, so binding in address order gives NPU i the name photonic<i>.
DRV=/sys/bus/pci/drivers/lightos_photonic
# The NPUs' PCI addresses in address order (the glob sorts): NPU i is served by emulator i, whose
# fault-injection channel is /dev/ttyS<i+1>. (qemu/run also attaches a plain ivshmem function with
# the same ids; only the doorbell variant has an MSI-X table, BAR1.)
npu_addrs() { for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] && [ -e $d/resource1 ] && basename "$d"; done; }
npu_bound() { [ -e "$DRV/$1" ]; }
npu_attach() { npu_bound "$1" || echo "$1" > $DRV/bind; }
npu_detach() { ! npu_bound "$1" || echo "$1" > $DRV/unbind; }
# NPU 0 alone (the others unbound first, so NPU 0 gets photonic0).
npu_bind() { set -- $(npu_addrs); first=$1; shift
    for a in "$@"; do npu_detach "$a" || return; done; npu_attach "$first"; }
# Every NPU, in address order.
npu_bind_all() { for a in $(npu_addrs); do npu_attach "$a" || return; done; }
npu_unbind() { for a in $(npu_addrs); do npu_detach "$a" || return; done; }

# The fast-path suites need null0 (module parameter null_backend=1); every other suite runs on the
# module as qemu/run loaded it. Reloading between suites is safe: no descriptor is open then.
NULL_LOADED=0
module_with_null() {
    [ "$NULL_LOADED" = "$1" ] && return
    rmmod lightos_core || return
    if [ "$1" = 1 ]; then insmod /lib/modules/lightos_core.ko null_backend=1
    else insmod /lib/modules/lightos_core.ko; fi || return
    NULL_LOADED=$1
}

# Runs one test program and adds its counts.
suite() {
    t=$1 name=${1#./}
    echo "[guest] === $name"
    case $name in vm_fastpath*|vm_photonic_chain) module_with_null 1 ;; *) module_with_null 0 ;; esac
    case $name in vm_photonic_pair) npu_bind_all ;; vm_photonic*) npu_bind ;; *) npu_unbind ;; esac
    case $name in
        vm_*) "$t" --test-threads=1 > /tmp/out 2>&1; rc=$?
              counts=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' /tmp/out) ;;
        c_*)  "$t" > /tmp/out 2>&1; rc=$?
              counts=$(sed -n 's/^c_client: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' /tmp/out) ;;
    esac
    cat /tmp/out
    if [ -z "$counts" ]; then
        echo "[guest] $name exited with status $rc and no summary: counted as 1 failure"
        add 0 1
    else
        add $counts
        [ "$rc" != 0 ] && [ "${counts#* }" = 0 ] && { echo "[guest] $name exited $rc"; add 0 1; }
    fi
}

# Surprise removal takes the NPU away for the rest of the boot: it runs after everything else.
LAST=./vm_photonic_removal
for t in ./vm_* ./c_*; do
    [ -x "$t" ] && [ "$t" != "$LAST" ] && suite "$t"
done

# The CLI as a user runs it.
# Executors a check started in the background and left running (one that served fewer jobs than its
# --max-jobs) are stopped after it, so that no later check's jobs are routed to them.
check() {
    if eval "$2" > /tmp/out 2>&1; then echo "cli: $1 ... ok"; add 1 0
    else echo "cli: $1 ... FAILED"; cat /tmp/out; add 0 1; fi
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
# The fuzzer's smoke run (tests/fuzz; `make fuzz` is the long one, on the debug kernel): generated call
# sequences against every bound NPU with a fixed seed, so every `make test` runs the same programs (this
# kernel has no kcov to steer by); no emulator faults here, so the NPUs stay cool for the checks below.
# Then the module's counters must be back to zero, and every saved reproducer must replay cleanly.
echo "[guest] === lightos-fuzz smoke"
npu_bind_all
if lightos-fuzz run --seconds "${LIGHTOS_FUZZ_SMOKE_SECONDS:-45}" --seed 17 --procs 2 > /tmp/out 2>&1 \
        && lightos-fuzz check >> /tmp/out 2>&1; then
    grep -E '^(fuzz: done|check):' /tmp/out; echo "fuzz: smoke run ... ok"; add 1 0
else
    cat /tmp/out; echo "fuzz: smoke run ... FAILED"; add 0 1
fi
for f in ./fuzz-regression-*.json; do
    [ -e "$f" ] || continue
    check "fuzz regression ${f#./fuzz-regression-} replays without a kernel report" "lightos-fuzz replay --repeat 3 $f"
done
# The allocation-failure sweep of every call kind (`make fuzz` adds the probe and module-init sweeps on
# the debug kernel): each allocation of each ioctl, mmap, open and close fails in turn and must give
# ENOMEM with nothing changed, or the call's normal result. It is the regression test of the bugs it
# found (JOB_FETCH losing a job, SUBMIT ending an admitted job as DEVICE_LOST; docs/RELIABILITY.md).
echo "[guest] === lightos-fuzz failnth (calls)"
if lightos-fuzz failnth --no-probe --no-init > /tmp/out 2>&1; then
    tail -n 1 /tmp/out; echo "fuzz: allocation-failure sweep of every call kind ... ok"; add 1 0
else
    grep -E 'VIOLATION|^failnth: [0-9]+ ioctls' /tmp/out; echo "fuzz: allocation-failure sweep of every call kind ... FAILED"; add 0 1
fi

check "unbinding the photonic NPU removes photonic0, binding brings it back" \
      "S=/sys/kernel/debug/lightos/stats; npu_bind && grep -q 'backend photonic0' \$S && npu_unbind && ! grep -q 'backend photonic0' \$S && npu_bind && grep -q 'backend photonic0' \$S && npu_unbind"
check "lightos info prints the ABI" "lightos info | grep -q '^ABI              1\.'"
check "lightos info --json is JSON with the ABI" "lightos info --json | grep -q '\"abi\":{\"major\":1'"
check "lightos info on a missing node fails with a hint" \
      "! lightos --device /dev/nonexistent info 2>&1 && lightos --device /dev/nonexistent info 2>&1 | grep -q insmod"

check "lightos run matmul without a backend fails with a hint" \
      "! lightos run matmul 2>&1 && lightos run matmul 2>&1 | grep -q 'lightos executor'"
check "lightos executor under a name already registered fails and prints the kernel's reason" \
      "{ lightos executor --name dup0 2>/dev/null & P=\$!; }; for i in \$(seq 40); do grep -q 'backend dup0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; ! lightos executor --name dup0 2>/tmp/e; kill \$P; wait \$P 2>/dev/null; cat /tmp/e; grep -q 'EXECUTOR_REGISTER failed: EEXIST (name: a backend of that name is registered)' /tmp/e"
check "lightos run matmul --m 0 is refused" "! lightos run matmul --m 0 2>&1 && lightos run matmul --m 0 2>&1 | grep -q 'must be 1 to 4096'"
check "lightos run matmul through lightos executor matches the f64 reference" \
      "lightos executor --name cli0 --max-jobs 2 & for i in \$(seq 40); do lightos run matmul --m 8 --k 8 --n 8 --repeats 2 > /tmp/r 2>&1 && break; sleep 0.5; done; cat /tmp/r; grep -q 'max |error| vs f64 reference   0' /tmp/r"

check "lightos run mlp on lightosd's cpu0 and photonic0 agrees with the f64 reference, --json too" \
      "npu_bind && { lightosd --name mlp0 --max-jobs 200 2>/dev/null & } && for i in \$(seq 40); do grep -q 'backend mlp0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos run mlp --backend mlp0,photonic0 --layers 32,48,10 --batch 8 > /tmp/mlp && cat /tmp/mlp && grep -q 'mlp0 .* ok' /tmp/mlp && grep -q 'photonic0 .* ok' /tmp/mlp && lightos --json run mlp --backend mlp0 --layers 8,4 --batch 2 | grep -q '\"runs\":\[{'"
check "lightos devices lists lightosd's backend with its ops, dtypes and determinism, photonic0 with its temperature, and the local CPU with its kernels (LIGHTOS_CPU_ISA lowers them, a bad value is refused)" \
      "npu_bind && { lightosd --name dev0 --max-jobs 1 2>/dev/null & } && for i in \$(seq 40); do grep -q 'backend dev0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos devices > /tmp/d && cat /tmp/d && grep -q '^  dev0 (backend [0-9]*, executor)' /tmp/d && grep -q 'dtypes *f32 f16 bf16 i8 fp8e4m3 spikeevent' /tmp/d && grep -q 'deterministic  all ops' /tmp/d && grep -q 'thermal *[0-9.]* °C, normal' /tmp/d && grep -q '^local:' /tmp/d && grep -q 'kernels [a-z0-9]* (f32 ' /tmp/d && lightos --json devices | grep -q '\"kernel\":\[{' && LIGHTOS_CPU_ISA=portable lightos devices | grep -q 'kernels portable (f32 portable 6x16, int8 portable, bf16 via f32' && ! LIGHTOS_CPU_ISA=avx9000 lightos devices 2>/tmp/e && grep -q 'expected one of portable, avx2, avxvnni, avx512' /tmp/e"
check "lightosd --backend cuda in the VM (no GPU) says no CUDA driver, exits 69 and registers nothing" \
      "lightosd --backend cuda --name nogpu0 2>/tmp/e; [ \$? = 69 ] && grep -q 'no CUDA driver' /tmp/e && ! grep -q 'backend nogpu0' /sys/kernel/debug/lightos/stats"
check "lightos devices says why there is no GPU in the VM (no NVML), in --json too" \
      "lightos devices | grep -q '^  gpus: none (no CUDA driver: NVML' && lightos --json devices | grep -q '\"gpus\":\[\]' && lightos --json devices | grep -q '\"gpus_unavailable\":\"no CUDA driver: NVML'"
check "lightos run mlp on an unknown backend fails and names it" \
      "! lightos run mlp --backend nope0 --layers 4,2 2>/tmp/e; grep -q \"no device named 'nope0'\" /tmp/e"
check "lightos run mlp saves and reloads its model (LMLP) and refuses a broken file" \
      "{ lightosd --name mlp1 --max-jobs 20 2>/dev/null & } && for i in \$(seq 40); do grep -q 'backend mlp1' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos run mlp --backend mlp1 --layers 6,5,3 --batch 2 --save /tmp/m.lmlp && lightos run mlp --backend mlp1 --model /tmp/m.lmlp --batch 2 | grep -q 'MLP \[6, 5, 3\]' && head -c 40 /tmp/m.lmlp > /tmp/bad.lmlp && ! lightos run mlp --backend mlp1 --model /tmp/bad.lmlp 2>/tmp/e; grep -q 'length does not match' /tmp/e"
check "lightos thermal shows photonic0's guard" \
      "npu_bind && lightos thermal | grep -q '^photonic0 (backend [0-9]*): normal' && lightos thermal --json | grep -q '\"period_ns\":1000000'"
check "lightos thermal --events stops after --timeout without an event" \
      "lightos thermal --events --timeout 0.2 2>&1 | grep -q 'no event for'"
check "lightos snn-demo classifies the generated blobs well above chance" \
      "lightos snn-demo --json | grep -Eq '\"accuracy\":(0\.[89]|1)'"
check "lightos thermal --count without --events is refused" "! lightos thermal --count 1 2>/dev/null"
check "lightos snn-demo --encode kernel without a SPIKE_ENCODE backend fails with a hint" \
      "! lightos snn-demo --encode kernel 2>&1 && lightos snn-demo --encode kernel 2>&1 | grep -q 'lightos executor'"
check "lightos snn-demo encodes through a kernel ring and multiplies on photonic0" \
      "npu_bind && { lightos executor --name snn0 --max-jobs 300 & } && for i in \$(seq 40); do grep -q 'backend snn0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos snn-demo --encode kernel --synapses photonic0 > /tmp/snn && cat /tmp/snn && grep -q 'photonic0 (MATMUL' /tmp/snn && grep -q 'input ring' /tmp/snn && grep -Eq 'accuracy +(8|9)[0-9]\.|accuracy +100' /tmp/snn"

check "lightos top shows photonic0's telemetry, model and where the next job goes" \
      "npu_bind && lightos top --iterations 3 --interval 0.2 > /tmp/top && cat /tmp/top && grep -Eq '^photonic0 +normal +[0-9]+\.[0-9]+' /tmp/top && grep -q '^next job (1.50 W for 1.00 s, sparsity 0.00) → photonic0' /tmp/top"
check "lightos top --json gives the devices and the previewed placement" \
      "lightos top --json --iterations 1 | grep -q '\"next_job\":{\"degraded\":false,\"device\":\"photonic0\"'"
check "lightos top refuses a zero interval, an absurd job profile and an unknown policy" \
      "! lightos top --interval 0 2>/dev/null && lightos top --iterations 1 --job-sparsity 2 2>&1 | grep -q 'absurd job profile' && ! lightos top --policy nope 2>/dev/null"
# bench0 serves exactly the 5 jobs below (1 warm-up, 4 timed) and exits: a daemon left running
# would hold the module and fail the removal suite's rmmod.
check "lightos bench times a MATMUL on photonic0 and an executor side by side" \
      "npu_bind && { lightosd --name bench0 --max-jobs 5 2>/dev/null & } && for i in \$(seq 40); do grep -q 'backend bench0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos bench --backend bench0,photonic0 --size 64 --repeats 4 --warmup 1 > /tmp/bench && cat /tmp/bench && grep -Eq '^bench0 +[0-9.]+ .* 1\.000\$' /tmp/bench && grep -Eq '^photonic0 +[0-9.]+' /tmp/bench"
check "lightos bench --json reports every device and refuses bad sizes and unknown devices" \
      "lightos bench --backend photonic0 --size 32 --repeats 2 --json | grep -q '\"device\":\"photonic0\"' && ! lightos bench --size 0 2>/dev/null && lightos bench --backend nope0 2>&1 | grep -q 'nope0'"
check "lightos governor places a job stream on photonic0 and an executor and finishes every job" \
      "npu_bind && { lightosd --name gv0 2>/dev/null & P=\$!; }; for i in \$(seq 40); do grep -q 'backend gv0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done; lightos governor --devices photonic0,gv0 --jobs 9 --interval 20 > /tmp/gov; R=\$?; kill \$P; wait \$P 2>/dev/null; cat /tmp/gov; [ \$R = 0 ] && grep -q '^9 jobs in' /tmp/gov && grep -q '^governor: 9 decisions (0 degraded)' /tmp/gov"
check "lightos governor refuses an unknown device and an empty stream" \
      "lightos governor --devices nope0 2>&1 | grep -q 'nope0' && ! lightos governor --jobs 0 2>/dev/null"
if [ -x "$LAST" ]; then suite "$LAST"; else echo "[guest] $LAST missing: counted as 1 failure"; add 0 1; fi

# The console shows errors only; lockdep and some sanitizers report at KERN_WARNING, so the whole log
# is read here (with lockdep in the test kernel, an inversion anywhere in the suite fails this check).
check "the kernel log, every level, has no BUG, WARNING, lockdep or sanitizer report" \
      "lightos-fuzz kernel-log"

echo "guest: $passed passed, $failed failed"
[ "$failed" = 0 ]
