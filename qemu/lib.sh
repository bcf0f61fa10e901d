# Shared settings and helpers for the qemu/ scripts. Source it; do not run it.
#
# Everything heavy (kernel source, kernel build, bindgen) lives in the cache, outside the repo:
#   $LIGHTOS_CACHE (default ~/.cache/lightos)
#     tools/bin/bindgen         bindgen-cli, installed with cargo
#     src/linux-$KVER/          the unpacked, checksum-verified kernel source
#     build/$KEY/               one kernel build per key (version, config fragment, rustc, bindgen, clang)
#     apt-sid/                  a private apt configuration used only to download the source package

set -euo pipefail

LIGHTOS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIGHTOS_CACHE=${LIGHTOS_CACHE:-$HOME/.cache/lightos}
KVER=7.2.13
KDEB=linux-source-7.2_7.2.13-1_all.deb
KDEB_SHA256=30a8c5fc63f9028a62e6d7b3f7f43bee67425dbce2a05fceba83f9b87c92083d
LLVM_SUFFIX=-19
KSRC=$LIGHTOS_CACHE/src/linux-$KVER
# The kernel flavour: "default" (make test, make demo: qemu/kernel.config plus lockdep,
# qemu/kernel-lockdep.config), "debug" (make fuzz: qemu/kernel.config plus lockdep, KASAN, KFENCE,
# UBSAN, kmemleak, fault injection, kcov; qemu/kernel-debug.config) or "bench" (the guest part of
# make bench: qemu/kernel.config alone, no lockdep, as a production kernel runs; lockdep multiplies
# the cost of every lock under TCG and would measure itself). Each is its own cache key.
LIGHTOS_KERNEL=${LIGHTOS_KERNEL:-default}
case $LIGHTOS_KERNEL in
    default) FRAGMENTS=("$LIGHTOS_ROOT/qemu/kernel.config" "$LIGHTOS_ROOT/qemu/kernel-lockdep.config") ;;
    debug) FRAGMENTS=("$LIGHTOS_ROOT/qemu/kernel.config" "$LIGHTOS_ROOT/qemu/kernel-debug.config") ;;
    bench) FRAGMENTS=("$LIGHTOS_ROOT/qemu/kernel.config") ;;
    *) printf 'LIGHTOS_KERNEL must be "default", "debug" or "bench", not "%s"\n' "$LIGHTOS_KERNEL" >&2; exit 2 ;;
esac
export PATH=$LIGHTOS_CACHE/tools/bin:$HOME/.cargo/bin:$PATH

# Print a progress line on stderr, prefixed so it stands out in long logs.
say() { printf '\033[1;34m[lightos]\033[0m %s\n' "$*" >&2; }

# Print an error and exit non-zero.
die() { printf '\033[1;31m[lightos] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The cache key of a kernel build: anything that changes the produced kernel or the ABI its modules need.
kernel_key() {
    {
        echo "$KVER"
        cat "${FRAGMENTS[@]}"
        rustc -vV
        bindgen --version 2>/dev/null || echo "no-bindgen"
        "clang$LLVM_SUFFIX" --version | head -n1
    } | sha256sum | cut -c1-16
}

# The build directory of the current key.
kernel_build_dir() { echo "$LIGHTOS_CACHE/build/$(kernel_key)"; }

# Where build-module.sh puts lightos_core.ko for the current flavour (build/module, build/module-debug).
module_out_dir() {
    if [ "$LIGHTOS_KERNEL" = default ]; then echo "$LIGHTOS_ROOT/build/module"
    else echo "$LIGHTOS_ROOT/build/module-$LIGHTOS_KERNEL"; fi
}

# A kernel make must not inherit flags from a make that called us (e.g. `-s` from `make -s test`
# silences the build log the progress ticker reads) nor its jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL

# Arguments every kernel make needs.
kmake_args() { echo "LLVM=$LLVM_SUFFIX"; }
