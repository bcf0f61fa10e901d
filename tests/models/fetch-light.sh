#!/usr/bin/env bash
# Prints the directory holding the ONNX model zoo's nine "light" networks (AlexNet, ZFNet-512, VGG-19,
# ResNet-50, DenseNet-121, Inception v1 and v2, ShuffleNet, SqueezeNet) and their reference outputs,
# fetching them the first time from the `onnx` wheel on PyPI (pinned, checked against its SHA-256,
# only onnx/backend/test/data/light/ unpacked) into ${LIGHTOS_CACHE:-~/.cache/lightos}/models/<wheel>/,
# outside the repo. Nobody here wrote these models. Progress and errors go to stderr; stdout is only
# the path. Exits non-zero if it cannot (no network the first time: say so, the caller skips).
set -euo pipefail
say() { printf '\033[1;34m[lightos]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[lightos] error:\033[0m %s\n' "$*" >&2; exit 1; }
version=1.23.2
wheel=onnx-$version-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
sha256=c03ecf6b835d136108eeaeeafbd0026fc7b3cf98661409fbc6b63d5a29361348
dir=${LIGHTOS_CACHE:-$HOME/.cache/lightos}/models/onnx-$version
light=$dir/onnx/backend/test/data/light
if [ ! -e "$dir/.complete" ]; then
    say "fetching the ONNX model zoo's light networks (onnx $version wheel from PyPI, 8.9 MB, once)"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 -d "$tmp" "onnx==$version" >&2 \
        || die "could not download onnx==$version from PyPI"
    echo "$sha256  $tmp/$wheel" | sha256sum --check --quiet >&2 || die "$wheel: SHA-256 mismatch"
    rm -rf "$dir"; mkdir -p "$dir"
    python3 - "$tmp/$wheel" "$dir" <<'PY' || die "could not unpack $wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("onnx/backend/test/data/light/") or n.startswith("onnx-") and n.endswith(("LICENSE", "NOTICE")):
            z.extract(n, sys.argv[2])
PY
    touch "$dir/.complete"
fi
echo "$light"
