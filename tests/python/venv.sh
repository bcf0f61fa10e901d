#!/usr/bin/env bash
# Prints the python of a virtualenv holding tests/python/requirements-SET.txt (SET: the first argument,
# default physics; `onnx` is onnx, onnxruntime and tract for the graph engine's interop), creating it the first
# time: ${LIGHTOS_CACHE:-~/.cache/lightos}/venv/<key>, outside the repo, where <key> is the first 16 hex
# digits of sha256(requirements file + python version), so an edit of the file or another python gets a
# fresh one. Progress and errors go to stderr; stdout is only the path. Exits non-zero if it cannot.
#
#     py=$(tests/python/venv.sh) && "$py" qemu/photonic-emu/tests/neurophox_mesh.py mesh.json
#     py=$(tests/python/venv.sh onnx) && "$py" tests/python/onnx_interop.py ...
#
# PYTHON picks the interpreter (default python3). Needs the venv module and, the first time, PyPI.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
set_name=${1:-physics}
req=$here/requirements-$set_name.txt
[ -f "$req" ] || { printf 'venv.sh: no %s\n' "$req" >&2; exit 2; }
python=${PYTHON:-python3}
say() { printf '\033[1;34m[lightos]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[lightos] error:\033[0m %s\n' "$*" >&2; exit 1; }

command -v "$python" >/dev/null || die "venv.sh: no $python on PATH (set PYTHON)"
pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') || die "venv.sh: $python does not run"
key=$({ cat "$req"; echo "python $pyver"; } | sha256sum | cut -c1-16)
venv=${LIGHTOS_CACHE:-$HOME/.cache/lightos}/venv/$key

if [ ! -f "$venv/.complete" ]; then
    mkdir -p "$(dirname "$venv")"
    # One creator at a time; whoever waited finds it done.
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$venv/.complete" ]; then
        start=$(date +%s)
        say "creating the $set_name virtualenv (python $pyver, $(grep -cE '^[^#[:space:]]' "$req") pinned packages) in $venv"
        rm -rf "$venv"
        log=$(mktemp)
        trap 'rm -f "$log"' EXIT
        if ! "$python" -m venv "$venv" >"$log" 2>&1; then
            cat "$log" >&2; rm -rf "$venv"
            die "venv.sh: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
        fi
        # --no-deps: the file pins everything needed (neurophox's own metadata asks for tensorflow and torch).
        if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
                --no-deps --require-virtualenv -r "$req" >"$log" 2>&1; then
            cat "$log" >&2; rm -rf "$venv"
            die "venv.sh: pip could not install $req (is PyPI reachable?)"
        fi
        touch "$venv/.complete"
        say "$set_name virtualenv ready in $(( $(date +%s) - start )) s"
    fi
fi
echo "$venv/bin/python"
