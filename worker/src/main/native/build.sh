#!/usr/bin/env bash
# Builds libsd_native_ops.so (sd_native_ops.cc + the CUDA kernels of group_norm_nhwc.cu and geglu.cu) against the
# libtorch of a Python PyTorch install.
# Usage: JNI_INCLUDE=/path/to/jdk/include build.sh OUTPUT.so
#   TORCH_DIR  torch package folder (default: python3's torch); CUDA_HOME (default: nvcc's parent)
#   CUDA_ARCH  GPU architecture of the kernels (default: this machine's GPU, else 90; 80 = A100, 89 = Ada)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUTPUT="${1:?output .so path}"
TORCH="${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}"
CUDA="${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}"
JNI="${JNI_INCLUDE:?set JNI_INCLUDE to a JDK include folder (jni.h, linux/jni_md.h)}"
# the kernels' GPU architecture: CUDA_ARCH, else this machine's GPU, else Hopper (90); PTX is embedded
# too, so newer GPUs can run them (an older one falls back to PyTorch's group_norm at run time)
DETECTED="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)"
ARCH="${CUDA_ARCH:-${DETECTED:-90}}"
OBJ="$(mktemp -d)"
trap 'rm -rf "$OBJ"' EXIT
for CU in group_norm_nhwc geglu; do
  "$CUDA/bin/nvcc" -O3 -std=c++17 -Xcompiler -fPIC -gencode "arch=compute_$ARCH,code=[sm_$ARCH,compute_$ARCH]" \
    -c "$HERE/$CU.cu" -o "$OBJ/$CU.o"
done &
NVCC=$!
g++ -O2 -std=c++17 -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 -DUSE_CUDA \
  -I"$TORCH/include" -I"$TORCH/include/torch/csrc/api/include" -I"$CUDA/include" -I"$JNI" -I"$JNI/linux" \
  -c "$HERE/sd_native_ops.cc" -o "$OBJ/sd_native_ops.o"
wait "$NVCC"
g++ -shared "$OBJ/sd_native_ops.o" "$OBJ/group_norm_nhwc.o" "$OBJ/geglu.o" -o "$OUTPUT" \
  -L"$TORCH/lib" -L"$CUDA/lib64" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -lcudart \
  -Wl,-rpath,"$TORCH/lib" -Wl,-rpath,"$CUDA/lib64"
