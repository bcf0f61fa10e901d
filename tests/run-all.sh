#!/usr/bin/env bash
# `make test`: lint, host unit tests, then the VM suite in one boot. The last line is the total,
# "N passed, N failed", adding host and guest tests; any failure anywhere exits non-zero.
source "$(dirname "$0")/../qemu/lib.sh"
cd "$LIGHTOS_ROOT"
start=$(date +%s)

say "building what is out of date: kernel (once per cache key), module, guest binaries, VM test suite"
make -s --no-print-directory guest-tests

say "lint: cargo fmt --check, cargo clippy -D warnings"
make -s --no-print-directory lint || die "lint failed"

say "host tests: cargo test"
mkdir -p build
# The ONNX model zoo's light networks (lightos-graph's tests), from the onnx wheel, cached once.
LIGHTOS_LIGHT_MODELS=$(tests/models/fetch-light.sh) || die "could not fetch the ONNX light models (tests/models/fetch-light.sh)"
export LIGHTOS_LIGHT_MODELS
set +e
cargo test --workspace --exclude lightos-vm-tests --no-fail-fast 2>&1 | tee build/host-tests.log
host_rc=${PIPESTATUS[0]}
set -e
sum() { sed -n "s/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\\$1/p" "$2" | paste -sd+ | bc; }
host_pass=$(sum 1 build/host-tests.log); host_fail=$(sum 2 build/host-tests.log)
host_pass=${host_pass:-0}; host_fail=${host_fail:-0}
[ "$host_rc" != 0 ] && [ "$host_fail" = 0 ] && host_fail=1

# The last "PREFIX: P passed, F failed" line of LOG, as "P F" ("0 1", one failure, without one).
counts_of() { # PREFIX LOG
    local c
    c=$(sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$2" | tail -n1)
    echo "${c:-0 1}"
}

# A host script's checks: it runs, its output goes to LOG, and its last line "PREFIX: P passed, F
# failed" adds to the host's counts (no such line: one failure).
host_script() { # SCRIPT LOG PREFIX
    set +e
    "$1" | tee "$2"
    set -e
    local counts
    counts=$(counts_of "$3" "$2")
    host_pass=$((host_pass + ${counts% *})); host_fail=$((host_fail + ${counts#* }))
}

# The photonic mesh against an independent implementation (neurophox, from PyPI): one test per case.
say "host interop: the photonic mesh against neurophox (tests/python/neurophox-mesh.sh)"
host_script tests/python/neurophox-mesh.sh build/host-interop.log interop

# The graph engine against ONNX Runtime (PyPI): the nine light networks with random weights, one test each.
say "host interop: the nine light networks and three transformer models against onnxruntime (tests/python/onnx-interop.sh)"
host_script tests/python/onnx-interop.sh build/host-onnx-interop.log interop

# The Python package: the wheel built by maturin, installed into a fresh venv, its pytest suite.
say "host: the Python package (tests/python/python-package.sh: maturin, a fresh venv, pytest)"
host_script tests/python/python-package.sh build/host-python.log python

say "host: lightos-agent with tritonclient and promtool (tests/agent/agent.sh)"
host_script tests/agent/agent.sh build/host-agent.log agent

# The exact logits the guest's photonic network tests compare with (vm_photonic_graph): SqueezeNet
# and ResNet-50 with the random weights of seed 1, run in process here (seconds; minutes under TCG).
say "host references for the guest: SqueezeNet and ResNet-50 logits (lightos model run --on local)"
mkdir -p build/guest-data
for m in squeezenet resnet50; do
    rm -rf "build/guest-data/$m"
    target/debug/lightos --json model run "$LIGHTOS_LIGHT_MODELS/light_$m.onnx" --on local --random-weights 1 \
        --logits --output-dir "build/guest-data/$m" > "build/guest-data/$m.json" || die "the $m reference"
    cp build/guest-data/$m/input-*.npy "build/guest-data/$m.input.npy"
    cp "$(sed -n 's/^ *"file": "\(.*\)",$/\1/p' "build/guest-data/$m.json" | grep -v /input- | head -n1)" \
        "build/guest-data/$m.logits.npy"
done

say "VM suite: booting the guest (two photonic NPUs) with lightos_core.ko and $(ls build/guest/tests | wc -l) test programs"
adds=(); for t in build/guest/tests/* "$LIGHTOS_LIGHT_MODELS"/light_* build/guest-data/*.npy \
    build/interop/transformers/*.onnx build/interop/transformers/*.npy; do
    [ -e "$t" ] && adds+=(--add "$t")
done
set +e
qemu/run --photonic 2 --memory 2G --timeout "${LIGHTOS_TEST_TIMEOUT:-1800}" --log build/vm/test-serial.log "${adds[@]}" -- sh run-suite.sh
vm_rc=$?
set -e
grep -qE '^guest: [0-9]+ passed, [0-9]+ failed$' build/vm/test-serial.log \
    || say "the VM suite reported no totals (status $vm_rc): counted as 1 failure"
counts=$(counts_of guest build/vm/test-serial.log)
guest_pass=${counts% *} guest_fail=${counts#* }
[ "$vm_rc" != 0 ] && [ "$guest_fail" = 0 ] && { say "the VM run failed (status $vm_rc) though every test passed"; guest_fail=1; }

# The Python package in the guest, against the real module: a second boot with the host's filesystem
# shared read-only (qemu/run --host-fs), so the host's Python, NumPy, pytest and onnxruntime run there
# with the wheel python-package.sh installed.
say "VM: the Python package in the guest (qemu/run --host-fs, one photonic NPU; tests/python/guest.sh)"
site=$(ls -d "$LIGHTOS_ROOT"/build/python/fresh/lib/python3*/site-packages 2>/dev/null | head -n1 || true)
py=$(tests/python/venv.sh python 2>/dev/null || true)
agent_py=$(tests/python/venv.sh agent 2>/dev/null || true)
promtool=$(tests/agent/promtool.sh 2>/dev/null || true)
counts="0 1"
if [ -n "$site" ] && [ -n "$py" ] && [ -n "$agent_py" ]; then
    set +e
    qemu/run --host-fs --photonic 1 --memory 2G --timeout "${LIGHTOS_TEST_TIMEOUT:-1800}" \
        --log build/vm/python-serial.log --add tests/python/guest.sh \
        -- sh guest.sh "$py" "$site" "$LIGHTOS_ROOT" "$LIGHTOS_LIGHT_MODELS" "$agent_py" "$promtool"
    py_rc=$?
    set -e
    counts=$(counts_of guest-python build/vm/python-serial.log)
    [ "$py_rc" != 0 ] && [ "${counts#* }" = 0 ] && { say "the Python guest run failed (status $py_rc) though every test passed"; counts="${counts% *} 1"; }
else
    say "no wheel installed by python-package.sh (or no virtualenv): the guest's Python tests count as 1 failure"
fi
guest_pass=$((guest_pass + ${counts% *})) guest_fail=$((guest_fail + ${counts#* }))

# The agent's dashboard in Debian's headless Chromium on the host, loaded from the agent in a third
# boot through a host port forward (tests/agent/dashboard.sh); counted with the guest's tests.
say "VM: the agent's dashboard in a real browser (tests/agent/dashboard.sh: Chromium on the host, the agent in the guest)"
set +e
tests/agent/dashboard.sh | tee build/vm/dashboard.log
set -e
counts=$(counts_of dashboard build/vm/dashboard.log)
guest_pass=$((guest_pass + ${counts% *})) guest_fail=$((guest_fail + ${counts#* }))

elapsed=$(( $(date +%s) - start ))
say "host: $host_pass passed, $host_fail failed; guest: $guest_pass passed, $guest_fail failed; $((elapsed / 60)) min $((elapsed % 60)) s"
passed=$((host_pass + guest_pass)) failed=$((host_fail + guest_fail))
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
