#!/usr/bin/env bash
# Build tiny-cuda-nn's PyTorch extension (`tinycudann`) from source for this machine's GPU, for
# one CUDA architecture (a build for every architecture takes far longer), into the active
# Python environment; then run the `gpu`-marked parity tests against it.
#
#   . .venv/bin/activate && bash tools/build_tcnn.sh [SOURCE_DIR]
#
# SOURCE_DIR: a checkout of https://github.com/NVlabs/tiny-cuda-nn with its submodules
# (git clone --recursive); without one, it is cloned into .tcnn-src (needs the network).
# TCNN_CUDA_ARCHITECTURES (e.g. 90 for H100/H200, 86 for RTX 30xx) overrides the architecture
# read from the GPU. Needs nvcc of the CUDA version torch was built with, and a C++17 compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-.tcnn-src}
if [ ! -d "$src/bindings/torch" ]; then
  git clone --recursive https://github.com/NVlabs/tiny-cuda-nn "$src"
fi
if [ -z "${TCNN_CUDA_ARCHITECTURES:-}" ]; then
  TCNN_CUDA_ARCHITECTURES=$(python - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit("build_tcnn: torch sees no CUDA device; set TCNN_CUDA_ARCHITECTURES")
major, minor = torch.cuda.get_device_capability()
print(f"{major}{minor}")
PY
)
fi
export TCNN_CUDA_ARCHITECTURES
echo "build_tcnn: building tinycudann for sm_${TCNN_CUDA_ARCHITECTURES} from $src" >&2
(cd "$src/bindings/torch" && pip install --no-build-isolation --no-deps .)
python -c "import tinycudann; print('build_tcnn: tinycudann imports')"
python -m pytest -m gpu -q tests
