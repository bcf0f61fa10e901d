#!/usr/bin/env bash
# Builds the guest test suite into build/guest/tests: every integration test of tests/vm as a static
# musl binary, the C client (gcc, against include/uapi only) and the suite runner.
source "$(dirname "$0")/../qemu/lib.sh"
out=$LIGHTOS_ROOT/build/guest/tests
rm -rf "$out"; mkdir -p "$out"
cd "$LIGHTOS_ROOT"
cargo test -q --release --no-run --target x86_64-unknown-linux-musl -p lightos-vm-tests \
    --message-format=json-render-diagnostics > "$out/.cargo.json" || die "building the VM tests failed"
python3 - "$out" <<'PY'
import json, os, shutil, sys
out = sys.argv[1]
for line in open(os.path.join(out, ".cargo.json")):
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test") and msg.get("executable"):
        if msg["target"]["kind"] == ["test"]:
            shutil.copy(msg["executable"], os.path.join(out, "vm_" + msg["target"]["name"]))
PY
rm "$out/.cargo.json"
gcc -static -O2 -Wall -Werror -I include/uapi tests/c/get_info.c -o "$out/c_get_info"
cp tests/vm/run-suite.sh "$out/"
# The fuzzer's saved reproducers (tests/fuzz/regressions), replayed by run-suite.sh.
for f in tests/fuzz/regressions/*.json; do [ -e "$f" ] && cp "$f" "$out/fuzz-regression-$(basename "$f")"; done
true
