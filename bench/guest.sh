#!/bin/sh
# Runs inside the guest for `make bench` (bench/run.sh): the executor-path benchmarks with the
# photonic NPU unbound (its guard and emulator must not share the CPUs with them), then the
# thermal guard benchmark with it bound, cyclictest running through the dynamic loader it ships
# with (the guest has no glibc of its own), then the tiled photonic MATMUL against the CPU backend.
set -e
DRV=/sys/bus/pci/drivers/lightos_photonic
npu=$(for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ] && [ -e $d/resource1 ] && basename "$d"; done; true)
[ -n "$npu" ] || { echo "guest.sh: no photonic NPU (ivshmem-doorbell function) found" >&2; exit 1; }
if [ -e "$DRV/$npu" ]; then echo "$npu" > $DRV/unbind; fi
./bench_buffers
./bench_submit
./bench_spikes
echo "$npu" > $DRV/bind
./bench_thermal ./ld-linux-x86-64.so.2 --library-path /opt/lightos ./cyclictest
./bench_photonic_tiled
