#!/usr/bin/env bash
# The agent's dashboard in a real browser (tests/agent/test_dashboard.py): the guest (one photonic
# NPU, cpu0) runs lightos-agent over three MLPs (on cpu0, on photonic0, and placed by the
# PowerGovernor); QEMU forwards a host loopback port to it; on the host, Debian's headless Chromium
# (tests/agent/chromium.sh) loads the page through the forward while the test sends requests, heats
# photonic0 (through a flag the guest polls) and saves a screenshot it inspects. One line per
# check, then "dashboard: P passed, F failed". The screenshot: $DASHBOARD_SCREENSHOT (default
# build/dashboard/dashboard.png); its path is printed.
source "$(dirname "$0")/../../qemu/lib.sh"
source "$(dirname "$0")/../pytest-counts.sh"
cd "$LIGHTOS_ROOT"
set +e
out=$LIGHTOS_ROOT/build/dashboard
rm -rf "$out"; mkdir -p "$out"
screenshot=${DASHBOARD_SCREENSHOT:-$out/dashboard.png}
mkdir -p "$(dirname "$screenshot")"
passed=0 failed=0
fail() { echo "dashboard: $1 ... FAILED"; failed=$((failed + 1)); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lightos-dashboard.XXXXXX")
flag_server=
trap '[ -n "$flag_server" ] && kill $flag_server 2>/dev/null; rm -rf "$work"' EXIT
if ! chrome=$(tests/agent/chromium.sh 2>"$out/chromium.err"); then
    fail "no Chromium (tests/agent/chromium.sh: $(tail -n1 "$out/chromium.err"))"
elif ! bpy=$(tests/python/venv.sh browser 2>"$out/venv.err") || ! apy=$(tests/python/venv.sh agent 2>>"$out/venv.err"); then
    fail "no virtualenv (tests/python/venv.sh: $(tail -n1 "$out/venv.err"))"
else
    # The models (onnx, in the agent's virtualenv) and the agent's config, read by the guest
    # through the host share.
    (cd tests/agent && "$apy" - "$work" <<'PY'
import sys, test_agent
root = sys.argv[1]
for name, width, device in [("mlp", 16, "cpu0"), ("pmlp", 64, "photonic0"), ("gmlp", 32, "governor")]:
    test_agent.mlp_model(f"{root}/models/{name}/1/model.onnx", hidden=width)
    with open(f"{root}/models/{name}/config.toml", "w") as f:
        f.write(f'device = "{device}"\nmax_batch = 4\n')
PY
    ) || fail "writing the models"
    printf '[server]\nhttp = "0.0.0.0:8000"\ngrpc = "0.0.0.0:8001"\nthreads = 1\n[models]\nrepository = "/host%s/models"\n' \
        "$work" > "$work/agent.toml"
    mkdir -p "$work/flags"
    flag_port=$(free_port) port=$(free_port)
    python3 -m http.server --bind 127.0.0.1 --directory "$work/flags" "$flag_port" > "$out/flags.log" 2>&1 &
    flag_server=$!
    qemu/run --host-fs --photonic 1 --memory 2G --forward "$port:8000" --log "$out/serial.log" \
        --add tests/agent/dashboard-guest.sh \
        -- sh dashboard-guest.sh "/host$work/agent.toml" "http://10.0.2.2:$flag_port" "$LIGHTOS_ROOT" \
        > "$out/vm.log" 2>&1 &
    vm=$!
    DASHBOARD_URL=http://127.0.0.1:$port DASHBOARD_FLAGS=$work/flags DASHBOARD_MODELS=mlp:16,pmlp:64,gmlp:32 \
        SCREENSHOT=$screenshot CHROMIUM=${chrome% *} CHROMEDRIVER=${chrome#* } \
        "$bpy" -m pytest -v -p no:cacheprovider tests/agent/test_dashboard.py > "$out/pytest.log" 2>&1
    pytest_add dashboard "$out/pytest.log"
    touch "$work/flags/done"
    wait $vm || fail "the guest (qemu/run exited $?; $out/serial.log)"
    grep -q "lightos-agent exited with 0" "$out/serial.log" \
        || fail "the agent in the guest did not stop cleanly ($out/serial.log)"
    [ -s "$screenshot" ] && echo "dashboard: screenshot at $screenshot"
fi
echo "dashboard: $passed passed, $failed failed"
