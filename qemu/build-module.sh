#!/usr/bin/env bash
# Builds lightos_core.ko out of tree against the cached kernel build, with warnings as errors and
# clippy (and objtool's and modpost's warnings too), into build/module/ (the source tree stays clean).
# Prints the .ko's path.
source "$(dirname "$0")/lib.sh"

KBUILD=$(kernel_build_dir)
[ -f "$KBUILD/.lightos-complete" ] || die "no kernel build for this configuration; run 'make kernel'"
OUT=$(module_out_dir)
mkdir -p "$OUT"
# Warnings the compilers do not turn into errors (objtool's, modpost's) fail the build too.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set -o pipefail
make -s -C "$KBUILD" M="$LIGHTOS_ROOT" MO="$OUT" $(kmake_args) KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror CLIPPY=1 modules 2>&1 \
    | tee "$log" >&2 || die "lightos_core.ko failed to build"
grep -q 'warning:' "$log" && die "lightos_core.ko built with warnings (objtool's and modpost's count as errors here)"
ko=$OUT/kernel/lightos_core/lightos_core.ko
[ -f "$ko" ] || die "the build produced no $ko"
echo "$ko"
