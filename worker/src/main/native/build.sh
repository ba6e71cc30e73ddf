#!/usr/bin/env bash
# Builds libsd_native_ops.so (sd_native_ops.cc) against the libtorch of a Python PyTorch install.
# Usage: JNI_INCLUDE=/path/to/jdk/include build.sh OUTPUT.so
#   TORCH_DIR  torch package folder (default: python3's torch); CUDA_HOME (default: nvcc's parent)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUTPUT="${1:?output .so path}"
TORCH="${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}"
CUDA="${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}"
JNI="${JNI_INCLUDE:?set JNI_INCLUDE to a JDK include folder (jni.h, linux/jni_md.h)}"
g++ -O2 -std=c++17 -shared -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 -DUSE_CUDA \
  -I"$TORCH/include" -I"$TORCH/include/torch/csrc/api/include" -I"$CUDA/include" -I"$JNI" -I"$JNI/linux" \
  "$HERE/sd_native_ops.cc" -o "$OUTPUT" \
  -L"$TORCH/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -Wl,-rpath,"$TORCH/lib"
