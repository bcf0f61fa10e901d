#!/usr/bin/env bash
# The graph engine against ONNX Runtime (PyPI), on the ONNX model zoo's nine light networks with random
# weights and on three transformer models built with onnx.helper (an encoder layer, a GPT-2 block, the
# other ABI 1.13 ops): onnx_interop.py prepare writes each network with seeded random weights, a random input and
# ONNX Runtime's output; `lightos model run --on local` (the same program the kernel runs, on the CPU
# backend's kernels in this process) runs it from the .npy input; onnx_interop.py compare checks the
# relative L2 error (tolerance 1e-4: float32 with a different summation order). One line per network,
# then "interop: P passed, F failed". A virtualenv that cannot be made is a failure, never a skip.
source "$(dirname "$0")/../../qemu/lib.sh"
cd "$LIGHTOS_ROOT"
set +e
mkdir -p build/interop/onnx
passed=0 failed=0
fail() { echo "$1 ... FAILED"; failed=$((failed + 1)); }
tests/python/venv.sh onnx 2>&1 >build/interop/python-onnx | tee build/interop/venv-onnx.err >&2
venv_rc=${PIPESTATUS[0]}
py=$(cat build/interop/python-onnx)
models=${LIGHTOS_LIGHT_MODELS:-$(tests/models/fetch-light.sh)}
if [ "$venv_rc" != 0 ] || [ -z "$py" ]; then
    fail "onnxruntime: no python virtualenv (tests/python/venv.sh onnx exit $venv_rc: $(sed 's/\x1b\[[0-9;]*m//g' build/interop/venv-onnx.err | grep -v '^[[:space:]]*$' | tail -n1))"
elif ! cargo build -q -p lightos-cli; then
    fail "onnxruntime: cargo build -p lightos-cli"
else
    lightos=${CARGO_TARGET_DIR:-target}/debug/lightos
    for name in bvlc_alexnet zfnet512 vgg19 resnet50 densenet121 inception_v1 inception_v2 shufflenet squeezenet; do
        dir=build/interop/onnx/$name
        rm -rf "$dir"; mkdir -p "$dir"
        if ! input=$("$py" tests/python/onnx_interop.py prepare "$models/light_$name.onnx" "$dir" 7 2>"$dir/prepare.err"); then
            fail "onnxruntime: $name: prepare: $(tail -n1 "$dir/prepare.err")"
            continue
        fi
        if ! "$lightos" --json model run "$dir/model.onnx" --on local --input "$input=$dir/input.npy" \
                --output-dir "$dir/out" >"$dir/run.json" 2>"$dir/run.err"; then
            fail "onnxruntime: $name: lightos model run: $(tail -n1 "$dir/run.err")"
            continue
        fi
        got=$(sed -n 's/^ *"file": "\(.*\)",$/\1/p' "$dir/run.json" | head -n1)
        if line=$("$py" tests/python/onnx_interop.py compare "$dir/expected.npy" "$got" "$name" 1e-4 2>&1); then
            echo "$line"; passed=$((passed + 1))
        else
            fail "${line:-onnxruntime: $name: no comparison}"
        fi
        rm -f "$dir/model.onnx"   # hundreds of MB for VGG-19
    done
    # Transformer blocks built with onnx.helper (tests/python/transformer_models.py): the encoder
    # layer, the GPT-2 block (int64 token ids) and one of every other ABI 1.13 op. The guest runs
    # the same files on cpu0 (tests/run-all.sh copies build/interop/transformers into it).
    dir=build/interop/transformers
    rm -rf "$dir"; mkdir -p "$dir"
    if ! built=$("$py" tests/python/transformer_models.py build "$dir" 7 2>"$dir/build.err"); then
        fail "onnxruntime: transformer blocks: build: $(tail -n1 "$dir/build.err")"
    else
        while read -r name input; do
            if ! "$lightos" --json model run "$dir/$name.onnx" --on local --input "$input=$dir/$name.input.npy" \
                    --output-dir "$dir/out-$name" >"$dir/$name.run.json" 2>"$dir/$name.run.err"; then
                fail "onnxruntime: $name: lightos model run: $(tail -n1 "$dir/$name.run.err")"
                continue
            fi
            got=$(sed -n 's/^ *"file": "\(.*\)",$/\1/p' "$dir/$name.run.json" | head -n1)
            if line=$("$py" tests/python/onnx_interop.py compare "$dir/$name.expected.npy" "$got" "$name" 1e-4 2>&1); then
                echo "$line"; passed=$((passed + 1))
            else
                fail "${line:-onnxruntime: $name: no comparison}"
            fi
        done <<<"$built"
    fi
fi
echo "interop: $passed passed, $failed failed"
