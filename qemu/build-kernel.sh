#!/usr/bin/env bash
# Configures and builds the guest kernel into the cache, once per key (qemu/lib.sh: kernel_key).
# Prints the build directory on stdout. A second run with the same key returns at once.
source "$(dirname "$0")/lib.sh"

"$LIGHTOS_ROOT/qemu/fetch-kernel.sh"
BUILD=$(kernel_build_dir)
if [ -f "$BUILD/.lightos-complete" ]; then echo "$BUILD"; exit 0; fi

say "configuring Linux $KVER, $LIGHTOS_KERNEL flavour (cache key $(basename "$BUILD"))"
rm -rf "$BUILD"; mkdir -p "$BUILD"
LOG=$BUILD/build.log
kmake() { make -C "$KSRC" O="$BUILD" $(kmake_args) "$@" >>"$LOG" 2>&1; }

# Turns the fragment into scripts/config arguments and applies them.
apply_fragment() {
    local args=() line name val
    while IFS= read -r line; do
        if [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=y$ ]]; then args+=(-e "${BASH_REMATCH[1]}")
        elif [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=m$ ]]; then args+=(-m "${BASH_REMATCH[1]}")
        elif [[ $line =~ ^CONFIG_([A-Za-z0-9_]+)=(.*)$ ]]; then args+=(--set-val "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
        elif [[ $line =~ ^#\ CONFIG_([A-Za-z0-9_]+)\ is\ not\ set$ ]]; then args+=(-d "${BASH_REMATCH[1]}")
        fi
    done < <(cat "${FRAGMENTS[@]}")
    "$KSRC/scripts/config" --file "$BUILD/.config" "${args[@]}"
}

kmake tinyconfig || die "make tinyconfig failed (log: $LOG)"
# tinyconfig is 32-bit on x86 and Rust is offered only on x86_64: switch first, then apply the fragment
# twice (options such as RUST only appear once their dependencies are settled).
"$KSRC/scripts/config" --file "$BUILD/.config" -e 64BIT
kmake olddefconfig || die "olddefconfig failed (log: $LOG)"
for pass in 1 2; do apply_fragment; kmake olddefconfig || die "olddefconfig failed (log: $LOG)"; done

# Every option the fragment asks for must have survived olddefconfig.
bad=()
while IFS= read -r line; do
    if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
        grep -qx "$line" "$BUILD/.config" || bad+=("${BASH_REMATCH[1]}")
    elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
        grep -q "^${BASH_REMATCH[1]}=" "$BUILD/.config" && bad+=("${BASH_REMATCH[1]} (should be off)")
    fi
done < <(cat "${FRAGMENTS[@]}")
if [ ${#bad[@]} -gt 0 ]; then
    make -C "$KSRC" O="$BUILD" $(kmake_args) rustavailable >&2 || true
    die "the kernel config did not take: ${bad[*]} (log: $LOG)"
fi

jobs=$(nproc)
say "building Linux $KVER ($LIGHTOS_KERNEL flavour) with Rust, -j$jobs (about 18 min on 2 cores; once per cache key; log: $LOG)"
start=$(date +%s)
( while sleep 60; do say "  kernel build: $(( ($(date +%s) - start) / 60 )) min elapsed, $(grep -c '^  [A-Z]' "$LOG" || true) steps done"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
if ! kmake -j"$jobs" bzImage modules; then
    tail -n 40 "$LOG" >&2
    die "kernel build failed (full log: $LOG)"
fi
kill $ticker 2>/dev/null || true
touch "$BUILD/.lightos-complete"
say "kernel built in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
echo "$BUILD"
