#!/usr/bin/env bash
# lightos-agent on the host (tests/agent/test_agent.py with pytest): models in process (no
# /dev/lightos here), Triton's tritonclient as the client, promtool (from Debian's prometheus
# package, tests/agent/promtool.sh) checking /metrics. One line per check, then
# "agent: P passed, F failed". The same tests run in the guest against the module (tests/python/guest.sh).
source "$(dirname "$0")/../../qemu/lib.sh"
source "$(dirname "$0")/../pytest-counts.sh"
cd "$LIGHTOS_ROOT"
set +e
out=build/agent
rm -rf "$out"; mkdir -p "$out"
passed=0 failed=0
fail() { echo "agent: $1 ... FAILED"; failed=$((failed + 1)); }
if ! cargo build -q -p lightos-agent 2>"$out/build.log"; then
    fail "cargo build -p lightos-agent: $(grep -m1 '^error' "$out/build.log")"
elif ! py=$(tests/python/venv.sh agent 2>"$out/venv.err"); then
    fail "no virtualenv (tests/python/venv.sh agent: $(tail -n1 "$out/venv.err"))"
elif ! promtool=$(tests/agent/promtool.sh 2>"$out/promtool.err"); then
    fail "no promtool (tests/agent/promtool.sh: $(tail -n1 "$out/promtool.err"))"
else
    PROMTOOL=$promtool LIGHTOS_AGENT=$PWD/${CARGO_TARGET_DIR:-target}/debug/lightos-agent \
        "$py" -m pytest -v -p no:cacheprovider tests/agent/test_agent.py > "$out/pytest.log" 2>&1
    pytest_add agent "$out/pytest.log"
fi
echo "agent: $passed passed, $failed failed"
