#!/usr/bin/env bash
# The Python package (userspace/lightos-python): maturin builds the abi3 wheel; a fresh virtualenv
# installs it with pip (and only numpy beside it) and imports it; then pytest runs
# tests/python/test_lightos.py with it (sessions against onnxruntime and the CLI, bad input, threads,
# the README's example). Without /dev/lightos (the host) the package runs the CPU backend in process
# and says so. One line per check, then "python: P passed, F failed". A virtualenv that cannot be made
# is a failure, never a skip.
source "$(dirname "$0")/../../qemu/lib.sh"
source "$(dirname "$0")/../pytest-counts.sh"
cd "$LIGHTOS_ROOT"
set +e
out=build/python
rm -rf "$out"; mkdir -p "$out"
passed=0 failed=0
fail() { echo "$1 ... FAILED"; failed=$((failed + 1)); }
ok() { echo "$1 ... ok"; passed=$((passed + 1)); }
py=$(tests/python/venv.sh python 2>"$out/venv.err")
if [ -z "$py" ]; then
    fail "python: no virtualenv (tests/python/venv.sh python: $(tail -n1 "$out/venv.err"))"
elif ! "$py" -m maturin build --quiet --release -m userspace/lightos-python/Cargo.toml -o "$out/wheels" \
        >"$out/maturin.log" 2>&1; then
    fail "python: maturin build: $(grep -m1 -E '^error|💥' "$out/maturin.log" || tail -n1 "$out/maturin.log")"
else
    wheel=$(ls "$out"/wheels/lightos-*.whl)
    ok "python: maturin built $(basename "$wheel")"
    # A fresh virtualenv: pip installs the wheel with numpy, its one dependency, and nothing else.
    if python3 -m venv "$out/fresh" >"$out/fresh.log" 2>&1 \
        && "$out/fresh/bin/pip" install --quiet --disable-pip-version-check --no-deps numpy==2.2.6 "$wheel" \
            >>"$out/fresh.log" 2>&1 \
        && devices=$("$out/fresh/bin/python" -c 'import lightos; print(lightos.devices())' 2>>"$out/fresh.log") \
        && grep -q "'name': 'local'" <<<"$devices"; then
        ok "python: pip install of the wheel into a fresh venv; lightos.devices() = ${devices:0:100}…"
    else
        fail "python: the wheel in a fresh venv: $(tail -n1 "$out/fresh.log")"
    fi
    site=$(cd "$(ls -d "$out"/fresh/lib/python3*/site-packages)" && pwd)
    cargo build -q -p lightos-cli
    LIGHTOS_FRESH_PYTHON=$PWD/$out/fresh/bin/python LIGHTOS_CLI=${CARGO_TARGET_DIR:-target}/debug/lightos LIGHTOS_LIGHT_MODELS=${LIGHTOS_LIGHT_MODELS:-$(tests/models/fetch-light.sh)} \
        PYTHONPATH="$site" "$py" -m pytest -v -p no:cacheprovider tests/python/test_lightos.py tests/python/test_buffers.py \
        >"$out/pytest.log" 2>&1
    pytest_add python "$out/pytest.log"
fi
echo "python: $passed passed, $failed failed"
