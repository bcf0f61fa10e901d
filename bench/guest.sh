#!/bin/sh
# Runs inside the guest for `make bench` (bench/run.sh): the buffer (musl and glibc), executor-path
# and fast-path benchmarks with the photonic NPU unbound (its guard and emulator must not share the CPUs with them), then the
# thermal guard benchmark with it bound, cyclictest running through the dynamic loader it ships
# with (the guest has no glibc of its own), then the tiled photonic MATMUL against the CPU backend.
set -e
# null0 for the fast path's benchmarks (bench_fastpath): the module again with null_backend=1 (only
# a routing rule naming null0 sends jobs there, so the other benchmarks do not see it).
rmmod lightos_core
insmod /lib/modules/lightos_core.ko null_backend=1
DRV=/sys/bus/pci/drivers/lightos_photonic
npu=$(for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] && [ -e $d/resource1 ] && basename "$d"; done; true)
[ -n "$npu" ] || { echo "guest.sh: no photonic NPU (ivshmem-doorbell function) found" >&2; exit 1; }
if [ -e "$DRV/$npu" ]; then echo "$npu" > $DRV/unbind; fi
./bench_buffers
# The same with glibc's memcpy: dynamically linked, run through the loader it ships with.
./ld-linux-x86-64.so.2 --library-path /opt/lightos ./bench_buffers_glibc
./bench_submit
./bench_spikes
./bench_fastpath
echo "$npu" > $DRV/bind
./bench_thermal ./ld-linux-x86-64.so.2 --library-path /opt/lightos ./cyclictest
./bench_photonic_tiled
# The graph engine's interception overhead: SqueezeNet (light, random weights) through /dev/lightos on
# cpu0 (lightosd, 2 threads) against the same program on the same kernels in this process (2 threads),
# alternately, three rounds of one warm-up and two timed runs each; medians of the six timed runs. The
# in-process engine packs the filters on every run here (--repack-weights), as lightosd does: the same work.
lightosd --name cpu0 --threads 2 2>/dev/null &
for i in $(seq 40); do grep -q 'backend cpu0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done
p50() { sed -n 's/^ *"p50": \([0-9.e+-]*\),*$/\1/p'; }
: > /tmp/local.ms; : > /tmp/kernel.ms
for round in 1 2 3; do
    lightos --json model bench light_squeezenet.onnx --on local --threads 2 --repack-weights --random-weights 1 --warmup 1 --repeat 2 | p50 >> /tmp/local.ms
    lightos --json model bench light_squeezenet.onnx --on cpu0 --random-weights 1 --warmup 1 --repeat 2 | p50 >> /tmp/kernel.ms
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
local_ms=$(median < /tmp/local.ms); kernel_ms=$(median < /tmp/kernel.ms)
echo BENCH-TABLE-BEGIN
echo "| SqueezeNet, batch 1 (guest, TCG) | median of 3 rounds (ms) | vs in process |"
echo "|---|---|---|"
awk -v l="$local_ms" 'BEGIN {printf "| in process (`lightos model bench --on local --repack-weights`, 2 threads) | %.0f | 1.000 |\n", l}'
awk -v k="$kernel_ms" -v l="$local_ms" 'BEGIN {printf "| through /dev/lightos on cpu0 (lightosd, 2 threads), 31 jobs a run | %.0f | %.3f |\n", k, k / l}'
echo BENCH-TABLE-END
