#!/usr/bin/env bash
# The CUDA worker on a bare host (no Docker), once: what worker/Dockerfile builds into the image.
#   1. a CUDA libtorch 2.7.1: pip's torch 2.7.1+cu128 in build/torch-venv (or TORCH_DIR=an existing torch 2.7.1
#      package folder, e.g. of a conda env; DJL 0.35.1's JNI is built for 2.7.1, cu128 ships in its jar)
#   2. libsd_native_ops.so built against it by worker/src/main/native/build.sh (needs g++ and CUDA 12.8's nvcc:
#      CUDA_HOME, or nvcc on PATH; CUDA_ARCHS as there, default this machine's GPU)
#   3. build/cuda.env with the settings DJL and the worker need (scripts/run-local.sh reads it), then
#      `worker.jar doctor` with them, which says in one line what is still wrong.
# Use the settings elsewhere with: set -a; . build/cuda.env; set +a; java -jar worker/target/worker.jar run
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
if [ -z "${TORCH_DIR:-}" ]; then
  if [ ! -x build/torch-venv/bin/python ]; then
    python3 -m venv build/torch-venv
    build/torch-venv/bin/pip install --quiet torch==2.7.1 --index-url https://download.pytorch.org/whl/cu128
  fi
  TORCH_DIR="$(build/torch-venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
fi
export TORCH_DIR
[ -f "$TORCH_DIR/lib/libtorch_cuda.so" ] || { echo "setup-cuda.sh: $TORCH_DIR/lib has no libtorch_cuda.so: not a CUDA torch" >&2; exit 2; }
command -v nvcc >/dev/null || [ -n "${CUDA_HOME:-}" ] || export CUDA_HOME=/usr/local/cuda
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}" \
  bash worker/src/main/native/build.sh "$PWD/build/native/libsd_native_ops.so"

# DJL finds CUDA's runtime through JNA, which searches the linker cache and jna.library.path (not
# LD_LIBRARY_PATH): pip's torch keeps libcudart in site-packages/nvidia/cuda_runtime/lib.
CUDART="$(find "$TORCH_DIR/.." -name 'libcudart.so.12*' 2>/dev/null | head -1)"
cat > build/cuda.env <<ENV
# written by scripts/setup-cuda.sh: the CUDA libtorch, DJL's JNI flavor for it, and the native ops
PYTORCH_LIBRARY_PATH=$TORCH_DIR/lib
PYTORCH_VERSION=2.7.1
PYTORCH_FLAVOR=cu128
SD_NATIVE_OPS=$PWD/build/native/libsd_native_ops.so
ENV
[ -n "$CUDART" ] && echo "JDK_JAVA_OPTIONS=-Djna.library.path=$(dirname "$CUDART")" >> build/cuda.env
echo "setup-cuda.sh: wrote build/cuda.env:"
cat build/cuda.env
mvn -B -ntp -q -DskipTests package -pl worker -am
set -a; . build/cuda.env; set +a
java -jar worker/target/worker.jar doctor
