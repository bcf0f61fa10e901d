#!/bin/sh
# The Python package and the agent's clients in the guest (run by tests/run-all.sh as
#   qemu/run --host-fs --photonic 1 --add tests/python/guest.sh -- \
#       sh guest.sh PYTHON SITE ROOT MODELS AGENT_PYTHON PROMTOOL):
# the host's PYTHON (a virtualenv with pytest, onnx and onnxruntime) and the wheel installed at SITE
# (by tests/python/python-package.sh) run through `host-run`, against the real module with lightosd
# as cpu0 and one photonic NPU: `import lightos` lists the kernel's devices, pytest runs
# tests/python/test_buffers.py and test_guest.py, and once every client has exited the module's
# counters must be back to zero. Then AGENT_PYTHON (tritonclient, pytest) runs tests/agent/test_agent.py
# against lightos-agent serving through the module. One line per check; the last
# "guest-python: P passed, F failed".
PY=$1 SITE=$2 ROOT=$3 MODELS=$4 AGENT_PY=$5 PROMTOOL=$6
passed=0 failed=0
ok() { echo "guest-python: $1 ... ok"; passed=$((passed + 1)); }
fail() { echo "guest-python: $1 ... FAILED"; failed=$((failed + 1)); }

lightosd --name cpu0 2>/tmp/lightosd.err &
daemon=$!
for _ in $(seq 100); do grep -q 'backend cpu0' /sys/kernel/debug/lightos/stats && break; sleep 0.1; done

export HOST_RUN_ENV="PYTHONPATH=$SITE LIGHTOS_LIGHT_MODELS=$MODELS"
if host-run "$PY" -c 'import lightos; print(lightos.devices())' > /tmp/devices 2>&1 \
        && grep -q "'name': 'cpu0'" /tmp/devices && grep -q "'name': 'photonic0'" /tmp/devices; then
    ok "python -c 'import lightos; print(lightos.devices())' lists the kernel's cpu0 and photonic0"
else
    cat /tmp/devices; fail "python -c 'import lightos; print(lightos.devices())'"
fi

# Runs pytest (python $1, then its arguments) in the host's filesystem and adds its counts.
pytest_run() {
    py=$1; shift
    host-run "$py" -m pytest -v -p no:cacheprovider "$@" > /tmp/pytest.log 2>&1
    grep -E ' (PASSED|FAILED|ERROR|SKIPPED)' /tmp/pytest.log | sed 's/^/  /'
    summary=$(tail -n 1 /tmp/pytest.log)
    p=$(echo "$summary" | grep -oE '[0-9]+ passed' | cut -d' ' -f1)
    f=0; for n in $(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | cut -d' ' -f1); do f=$((f + n)); done
    if [ -z "$p" ] && [ "$f" = 0 ]; then cat /tmp/pytest.log; fail "pytest reported nothing: $summary"; fi
    [ "$f" != 0 ] && sed -n '/= FAILURES =/,$p' /tmp/pytest.log | head -n 150
    passed=$((passed + ${p:-0})) failed=$((failed + f))
    echo "guest-python: pytest: $summary"
}
pytest_run "$PY" "$ROOT/tests/python/test_buffers.py" "$ROOT/tests/python/test_guest.py"

# The agent, serving through the module (cpu0), with Triton's client.
export HOST_RUN_ENV="LIGHTOS_AGENT=/run/guest/usr/bin/lightos-agent PROMTOOL=$PROMTOOL"
pytest_run "$AGENT_PY" "$ROOT/tests/agent/test_agent.py"

# Every executor (the agent's executor test restarts cpu0 as its own process).
kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; killall -q lightosd; sleep 1
if lightos-fuzz check > /tmp/check 2>&1; then
    ok "the module's counters are back to zero after every Python client exited ($(tail -n 1 /tmp/check))"
else
    cat /tmp/check; fail "the module's counters after the Python clients"
fi
echo "guest-python: $passed passed, $failed failed"
