#!/usr/bin/env bash
# Our Clements mesh against neurophox's numpy rectangular mesh (an independent implementation from
# PyPI), the same heater phases through the change of variables of docs/PHYSICS.md: for N in 2 3 8 16
# and two seeds, `dump_mesh N SEED` writes our mesh and its unitary, neurophox_mesh.py builds
# neurophox's and compares (max difference below 1e-10). One line per case, then
# "interop: P passed, F failed". A virtualenv that cannot be made is a failure, never a skip.
source "$(dirname "$0")/../../qemu/lib.sh"
cd "$LIGHTOS_ROOT"
set +e
mkdir -p build/interop
passed=0 failed=0
fail() { echo "$1 ... FAILED"; failed=$((failed + 1)); }
# venv.sh's progress and errors go to the terminal and to a file (its last line is the reason).
tests/python/venv.sh 2>&1 >build/interop/python | tee build/interop/venv.err >&2
venv_rc=${PIPESTATUS[0]}
py=$(cat build/interop/python)
if [ "$venv_rc" != 0 ] || [ -z "$py" ]; then
    fail "neurophox: no python virtualenv (tests/python/venv.sh exit $venv_rc: $(sed 's/\x1b\[[0-9;]*m//g' build/interop/venv.err | grep -v '^[[:space:]]*$' | tail -n1))"
elif ! cargo build --release -q -p photonic-emu --example dump_mesh; then
    fail "neurophox: cargo build --example dump_mesh"
else
    dump_mesh=${CARGO_TARGET_DIR:-target}/release/examples/dump_mesh
    for n in 2 3 8 16; do
        for seed in 1 2; do
            json=build/interop/mesh-$n-$seed.json
            if ! "$dump_mesh" "$n" "$seed" >"$json"; then
                fail "neurophox: N=$n seed=$seed: dump_mesh"
                continue
            fi
            if line=$("$py" qemu/photonic-emu/tests/neurophox_mesh.py "$json" 2>&1); then
                echo "$line"; passed=$((passed + 1))
            else
                fail "${line:-neurophox: N=$n seed=$seed: no output} (input: $json)"
            fi
        done
    done
fi
echo "interop: $passed passed, $failed failed"
