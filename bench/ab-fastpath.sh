#!/usr/bin/env bash
# bench/ab-fastpath.sh COMMIT [ROUNDS]: the fast-path benchmark (bench_fastpath) on lightos_core as
# built from COMMIT and as built from the working tree, alternately in one boot of the bench kernel
# (no lockdep), ROUNDS times each (default 3), so that a kernel-side change is measured against its
# parent on the same machine and in the same guest. Prints, per row, the median LightOS time of each
# build over the rounds and their ratio (new / old; TCG's run-to-run spread is large, so read the
# medians, not one round). Not part of `make bench` (it needs a second build).
source "$(dirname "$0")/../qemu/lib.sh"
cd "$LIGHTOS_ROOT"
old=${1:?usage: bench/ab-fastpath.sh COMMIT [ROUNDS]}
rounds=${2:-3}
export LIGHTOS_KERNEL=bench
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree/old" >/dev/null 2>&1; rm -rf "$tree"' EXIT
git worktree add --detach "$tree/old" "$old" >/dev/null || die "no commit $old"
say "building lightos_core at $old (bench kernel)"
(cd "$tree/old" && make -s --no-print-directory module) || die "lightos_core at $old failed to build"
cp "$tree/old/build/module-bench/kernel/lightos_core/lightos_core.ko" "$tree/old_core.ko"
make -s --no-print-directory module
cargo build -q --release --target x86_64-unknown-linux-musl -p lightos-bench --bin bench_fastpath
cat > "$tree/ab.sh" <<GUEST
for round in \$(seq $rounds); do
  for which in old new; do
    if [ \$which = old ]; then insmod ./old_core.ko null_backend=1
    else insmod /lib/modules/lightos_core.ko null_backend=1; fi
    echo "=== \$which"
    ./bench_fastpath | grep '^|' | grep -v -e '---' -e 'LightOS path'
    rmmod lightos_core
  done
done
GUEST
qemu/run --no-module --memory 2G --timeout 900 --cmdline kmemleak=off --add "$tree/old_core.ko" \
    --add "$tree/ab.sh" --add target/x86_64-unknown-linux-musl/release/bench_fastpath -- sh ab.sh \
    | tr -d '\r' | awk -F'|' '
        /^=== / { which = $0; sub(/^=== /, "", which); next }
        /^\|/ { row = $2; gsub(/^ +| +$/, "", row); t = $3 + 0; n[which, row]++; v[which, row, n[which, row]] = t
                if (!(row in seen)) { seen[row] = 1; order[++rows] = row } }
        function median(w, r,   k, i, j, x, a) { k = n[w, r]; for (i = 1; i <= k; i++) a[i] = v[w, r, i]
            for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
        END { printf "| row (LightOS time per primitive, median of %d rounds) | old | new | new / old |\n| --- | --- | --- | --- |\n", n["old", order[1]]
              for (i = 1; i <= rows; i++) { r = order[i]; o = median("old", r); m = median("new", r)
                  printf "| %s | %.2f µs | %.2f µs | %.2f |\n", r, o, m, (o > 0 ? m / o : 0) } }'
