#!/usr/bin/env bash
# Prints the python of a virtualenv holding the benchmark baselines (numpy, threadpoolctl, onnx,
# onnxruntime, torch for the CPU), creating it the first time: ${LIGHTOS_CACHE:-~/.cache/lightos}/bench-venv/<key>,
# outside the repo, where <key> is the first 16 hex digits of sha256(the pin list below + python version),
# so a change of a pin or another python gets a fresh one. Progress and errors go to stderr; stdout is
# only the path. Exits non-zero if it cannot.
#
#     py=$(bench/venv.sh) && "$py" bench/torch_cpu.py 2 256 512
#
# PYTHON picks the interpreter (default python3; the pins are wheels for CPython 3.11 on x86_64 Linux).
# Needs the venv module and, the first time, PyPI: about 2.3 GB of wheels, 4.2 GB on disk.
#
# torch: PyPI has only the CUDA build for x86_64 Linux. Its libraries (libtorch_cuda.so, libtorch_cpu.so,
# libtorch_python.so) name CUDA libraries as DT_NEEDED, so `import torch` fails without them even when
# only the CPU is used. We install torch with --no-deps plus exactly the nvidia wheels that provide those
# libraries (and nvjitlink, which cusparse and cufft need); torch's other dependencies (triton, cusolver,
# cuda-bindings, cuda-toolkit, nvtx, cccl, about 0.5 GB) are not needed to import it or run CPU ops.
set -euo pipefail
python=${PYTHON:-python3}
say() { printf '\033[1;34m[lightos]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[lightos] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Every package is pinned and installed with --no-deps: this list is the whole environment.
pins='
numpy==2.4.6
threadpoolctl==3.8.0
onnx==1.23.2
protobuf==7.36.2
ml_dtypes==0.7.0
typing_extensions==4.16.0
onnxruntime==1.32.0
flatbuffers==25.12.19
packaging==26.4
torch==2.15.0
sympy==1.14.0
mpmath==1.3.0
networkx==3.6.1
jinja2==3.1.6
MarkupSafe==3.0.4
filelock==4.3.2
fsspec==2026.9.0
nvidia-cuda-runtime==13.2.86
nvidia-cuda-cupti==13.2.86
nvidia-cuda-nvrtc==13.2.86
nvidia-cublas==13.4.1.3
nvidia-cudnn-cu13==9.26.0.51
nvidia-cufft==12.2.0.57
nvidia-cufile==1.17.1.22
nvidia-cusparse==12.7.10.12
nvidia-cusparselt-cu13==0.8.1
nvidia-nvjitlink==13.5.37
nvidia-nccl-cu13==2.30.7
nvidia-nvshmem-cu13==3.7.2
'

command -v "$python" >/dev/null || die "bench/venv.sh: no $python on PATH (set PYTHON)"
pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') || die "bench/venv.sh: $python does not run"
key=$({ printf '%s' "$pins"; echo "python $pyver"; } | sha256sum | cut -c1-16)
venv=${LIGHTOS_CACHE:-$HOME/.cache/lightos}/bench-venv/$key

if [ ! -f "$venv/.complete" ]; then
    mkdir -p "$(dirname "$venv")"
    # One creator at a time; whoever waited finds it done.
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$venv/.complete" ]; then
        start=$(date +%s)
        say "creating the benchmark virtualenv (python $pyver, $(printf '%s' "$pins" | grep -c .) pinned packages, about 2.3 GB to download) in $venv"
        rm -rf "$venv"
        log=$(mktemp)
        req=$(mktemp)
        trap 'rm -f "$log" "$req"' EXIT
        printf '%s' "$pins" >"$req"
        if ! "$python" -m venv "$venv" >"$log" 2>&1; then
            cat "$log" >&2; rm -rf "$venv"
            die "bench/venv.sh: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
        fi
        # --no-cache-dir: the wheels are large and a venv is rebuilt only when a pin changes.
        if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-cache-dir \
                --no-deps --only-binary=:all: --require-virtualenv -r "$req" >"$log" 2>&1; then
            cat "$log" >&2; rm -rf "$venv"
            die "bench/venv.sh: pip could not install the pinned baselines (is PyPI reachable? these pins are wheels for CPython 3.11+ on x86_64)"
        fi
        # Not marked complete unless the baselines really run here.
        if ! (cd / && "$venv/bin/python" - >"$log" 2>&1) <<'PY'; then
import numpy, threadpoolctl, onnx, onnxruntime, torch
a = torch.ones(8, 8, dtype=torch.bfloat16)
assert torch.matmul(a, a)[0, 0].item() == 8
b = torch.ones(8, 8, dtype=torch.int8)
assert torch._int_mm(b, b)[0, 0].item() == 8
assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
PY
            cat "$log" >&2; rm -rf "$venv"
            die "bench/venv.sh: the new virtualenv cannot import or run torch/onnxruntime"
        fi
        touch "$venv/.complete"
        say "benchmark virtualenv ready in $(( $(date +%s) - start )) s ($(du -sh "$venv" | cut -f1))"
    fi
fi
echo "$venv/bin/python"
