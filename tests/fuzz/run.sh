#!/usr/bin/env bash
# `make fuzz [SECONDS=…] [SEED=…] [PROCS=…]`: boots the debug kernel (qemu/kernel-debug.config, built
# once into the cache) with two photonic NPUs and runs tests/fuzz/guest.sh. Saves the serial log and any
# failing program under build/fuzz/, prints the run's figures (a row for docs/RELIABILITY.md) and exits
# non-zero when the run failed. `make fuzz REPLAY=file.json` runs one saved program instead.
source "$(dirname "$0")/../../qemu/lib.sh"
export LIGHTOS_KERNEL=debug
cd "$LIGHTOS_ROOT"
secs=${FUZZ_SECONDS:-300}
seed=${FUZZ_SEED:-$(date +%s)}
procs=${FUZZ_PROCS:-2}
sweep=${FUZZ_SWEEP:-1}
[[ $secs =~ ^[0-9]+$ ]] || die "SECONDS must be a number of seconds, not '$secs'"
[[ $seed =~ ^[0-9]+$ ]] || die "SEED must be a number, not '$seed'"
mkdir -p build/fuzz
stamp=$(date +%Y%m%d-%H%M%S)
log=build/fuzz/serial-$stamp.log

say "building the debug kernel (once per cache key; ~15 min on 2 cores), module and guest binaries"
make -s --no-print-directory guest

if [ -n "${FUZZ_REPLAY:-}" ]; then
    [ -f "$FUZZ_REPLAY" ] || die "REPLAY: no such file: $FUZZ_REPLAY"
    exec qemu/run --photonic 2 --memory 2G --no-panic --log "$log" --add "$FUZZ_REPLAY" \
        -- "lightos-fuzz replay --npus 2 $(basename "$FUZZ_REPLAY")"
fi

say "fuzzing for $secs s with seed $seed ($procs worker processes), then the allocation-failure sweep; serial log: $log"
set +e
# The debug kernel boots in ~40 s under TCG; the sweep and checks take a few minutes more.
qemu/run --photonic 2 --memory 2G --no-panic --timeout $((secs + 1800)) --log "$log" \
    --add tests/fuzz/guest.sh -- "sh guest.sh $secs $seed $procs $sweep"
rc=$?
set -e

# Failing programs, as JSON files `make fuzz REPLAY=…` and tests/fuzz/regressions take.
n=0
while IFS= read -r json; do
    n=$((n + 1)); f=build/fuzz/crash-$stamp-$n.json
    printf '%s\n' "$json" > "$f"; say "failing program saved: $f (replay: make fuzz REPLAY=$f)"
done < <(awk '/^=== lightos-fuzz program begin ===/{f=1;next}/^=== lightos-fuzz program end ===/{f=0}f' "$log")

done_line=$(grep -a '^fuzz: done:' "$log" | tail -n1 || true)
sweep_line=$(grep -a '^failnth: [0-9]* ioctls' "$log" | tail -n1 || true)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$done_line"; }
ko=$(module_out_dir)/kernel/lightos_core/lightos_core.ko
sites=$("llvm-objdump$LLVM_SUFFIX" -dr "$ko" | grep -c 'R_X86_64_.*__sanitizer_cov_trace_pc' || true)
pcs=$(field coverage_pcs)
cover="n/a"
if [ -n "$pcs" ] && [ "${sites:-0}" -gt 0 ]; then cover="$pcs of $sites kcov sites ($(( 100 * pcs / sites ))%)"; fi
# qemu/run exits 125 when the console shows a WARNING even though the guest passed: the sweep's core
# kernel WARNs (listed by it, not the module's) do that; the guest's own checks decide then.
result=PASS
{ [ "$rc" = 0 ] || [ "$rc" = 125 ]; } && grep -aq '^fuzz-guest: PASS' "$log" || result=FAIL
[ "$result" = PASS ] && [ "$rc" = 125 ] && say "the console shows kernel warnings the sweep attributed to the core kernel (see its output)"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
row="| $(date +%Y-%m-%d) | $seed | $(field seconds) s | $(field calls) | $(field ioctls) | $(field programs) | $(field distinct_ioctls) | $cover | $(field injected) | $(field emulator_faults) | ${sweep_line:-no sweep} | $result |"
printf '%s\n' "$row" >> build/fuzz/runs.md
say "machine: $cpu"
say "run: $row"
say "(appended to build/fuzz/runs.md; the columns are docs/RELIABILITY.md's)"
[ "$result" = PASS ] || die "the fuzz run failed (status $rc); serial log: $log"
