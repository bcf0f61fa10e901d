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
