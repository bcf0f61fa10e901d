#!/usr/bin/env bash
# bench/ab-fastpath.sh COMMIT: the fast-path benchmark (bench_fastpath) on lightos_core as built from
# COMMIT and as built from the working tree, alternately in one boot of the bench kernel (no lockdep),
# twice each, so that a kernel-side change is measured against its parent on the same machine and
# in the same guest. Prints each run's table rows. Not part of `make bench` (it needs a second build).
source "$(dirname "$0")/../qemu/lib.sh"
cd "$LIGHTOS_ROOT"
old=${1:?usage: bench/ab-fastpath.sh COMMIT}
export LIGHTOS_KERNEL=bench
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree/old" >/dev/null 2>&1; rm -rf "$tree"' EXIT
git worktree add --detach "$tree/old" "$old" >/dev/null || die "no commit $old"
say "building lightos_core at $old (bench kernel)"
(cd "$tree/old" && make -s --no-print-directory module) || die "lightos_core at $old failed to build"
cp "$tree/old/build/module-bench/kernel/lightos_core/lightos_core.ko" "$tree/old_core.ko"
make -s --no-print-directory module
cargo build -q --release --target x86_64-unknown-linux-musl -p lightos-bench --bin bench_fastpath
cat > "$tree/ab.sh" <<'GUEST'
for round in 1 2; do
  for which in old new; do
    if [ $which = old ]; then insmod ./old_core.ko null_backend=1
    else insmod /lib/modules/lightos_core.ko null_backend=1; fi
    echo "=== $which (round $round)"
    ./bench_fastpath | grep '^|' | grep -v -e '---' -e 'LightOS path'
    rmmod lightos_core
  done
done
GUEST
qemu/run --no-module --memory 2G --timeout 900 --cmdline kmemleak=off --add "$tree/old_core.ko" \
    --add "$tree/ab.sh" --add target/x86_64-unknown-linux-musl/release/bench_fastpath -- sh ab.sh \
    | grep -E '^(===|\|)'
