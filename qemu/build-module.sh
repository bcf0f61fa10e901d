#!/usr/bin/env bash
# Builds lightos_core.ko out of tree against the cached kernel build, with warnings as errors and
# clippy, into build/module/ (the source tree stays clean). Prints the .ko's path.
source "$(dirname "$0")/lib.sh"

KBUILD=$(kernel_build_dir)
[ -f "$KBUILD/.lightos-complete" ] || die "no kernel build for this configuration; run 'make kernel'"
OUT=$(module_out_dir)
mkdir -p "$OUT"
make -s -C "$KBUILD" M="$LIGHTOS_ROOT" MO="$OUT" $(kmake_args) KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror CLIPPY=1 modules >&2 \
    || die "lightos_core.ko failed to build"
ko=$OUT/kernel/lightos_core/lightos_core.ko
[ -f "$ko" ] || die "the build produced no $ko"
echo "$ko"
