# The guest's side of tests/agent/dashboard.sh (busybox sh): cpu0, then lightos-agent with CONFIG
# (listening on the guest's 0.0.0.0:8000, which QEMU forwards to the host), then it follows the
# host's flags at FLAGS (an HTTP directory on the host, 10.0.2.2): `heat` injects a cooling failure
# and 2 W of runaway heat into photonic0 (a throttle), `cool` clears it, `done` stops the agent.
# ROOT is the repository on the host (for tests/python/npu_faults.py through host-run).
config=$1 flags=$2 root=$3
lightosd --name cpu0 &
cpu=$!
sleep 2
lightos-agent --config "$config" 2> /tmp/agent.log &
agent=$!
flag() { wget -q -O /dev/null "$flags/$1" 2>/dev/null; }
inject() { host-run python3 "$root/tests/python/npu_faults.py" 0 "$@"; }
heated= cooled= n=0
while ! flag done; do
    if [ -z "$heated" ] && flag heat; then inject "cooling-failure on" "runaway 2"; heated=1; fi
    if [ -z "$cooled" ] && flag cool; then inject clear; cooled=1; fi
    n=$((n + 1))
    if [ $n -gt 900 ]; then echo "[dashboard] no 'done' from the host within 15 min"; break; fi
    sleep 1
done
kill -TERM $agent
wait $agent
echo "[dashboard] lightos-agent exited with $?"
sed 's/^/[agent] /' /tmp/agent.log
kill $cpu
