#!/usr/bin/env bash
# Builds libsd_native_ops.so (every .cc beside it: sd_native_ops.cc, profiler.cc (the Kineto profiler); every .cu:
# the CUDA kernels: group_norm_nhwc.cu, geglu.cu, bias_add.cu, layer_norm.cu, upsample_nearest.cu, time_proj.cu,
# self_attention.cu: the self- and cross-attention kernels; conv_fp8.cu: the FP8 3x3 convolution; half_pack.cuh is a
# header five of them share, wgmma_sm90.cuh one self_attention.cu and conv_fp8.cu share) against the
# libtorch of a Python PyTorch install. The one build of the native library: worker/Dockerfile runs it, and so do
# scripts/gpu/bench-build.sh (the benchmark machine) and the bare-host steps of docs/GPU.md.
# Usage: build.sh OUTPUT.so
#   TORCH_DIR    torch package folder (default: python3's torch); its lib/ must be the libtorch DJL runs on
#                (PYTORCH_LIBRARY_PATH)
#   JNI_INCLUDE  a JDK's include/ folder (jni.h, linux/jni_md.h); default: $JAVA_HOME/include
#   CUDA_HOME    default: nvcc's parent folder
#   CUDA_ARCHS   GPU architectures of the kernels, comma-separated: family names (Ampere = 80,86; Ada = 89;
#                Hopper = 90; Blackwell = 100,120) or compute capabilities (86, 8.9). Default: this machine's
#                GPU, else all four families. Machine code (SASS) is built for each, plus the PTX of the lowest,
#                which newer GPUs compile at load; on a GPU below the lowest the NHWC GroupNorm falls back to
#                PyTorch's group_norm (slower, correct), and so do our other kernels to PyTorch's ops. With Hopper
#                among them, self_attention.cu and conv_fp8.cu are built for sm_90a instead of sm_90 (wgmma and the
#                bulk copies are sm_90a instructions; -DSD_SELF_ATTENTION_SM90A tells its sd_self_attention_supported
#                and sd_cross_attention_supported so, -DSD_CONV_FP8_SM90A sd_conv3x3_fp8_supported); without it the
#                self- and cross-attentions run SDPA (and sd_conv3x3_fp8 is never supported).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUTPUT="${1:?usage: build.sh OUTPUT.so}"
TORCH="${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}"
CUDA="${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}"
JNI="${JNI_INCLUDE:-${JAVA_HOME:+$JAVA_HOME/include}}"
[ -f "$JNI/jni.h" ] || { echo "build.sh: set JNI_INCLUDE (or JAVA_HOME) to a JDK whose include/ has jni.h" >&2; exit 2; }
[ -f "$TORCH/include/torch/extension.h" ] || [ -d "$TORCH/include/ATen" ] \
  || { echo "build.sh: $TORCH has no include/ATen: set TORCH_DIR to a torch package with its C++ headers" >&2; exit 2; }

# CUDA_ARCHS -> compute capabilities without the dot, sorted, unique
DETECTED="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)"
ARCHS=()
for a in $(echo "${CUDA_ARCHS:-${DETECTED:-Ampere,Ada,Hopper,Blackwell}}" | tr ',;' '  '); do
  case "${a,,}" in
    ampere) ARCHS+=(80 86) ;;
    ada) ARCHS+=(89) ;;
    hopper) ARCHS+=(90) ;;
    blackwell) ARCHS+=(100 120) ;;
    [0-9]*) ARCHS+=("${a//./}") ;;
    *) echo "build.sh: CUDA_ARCHS: unknown architecture '$a' (Ampere, Ada, Hopper, Blackwell or e.g. 86)" >&2; exit 2 ;;
  esac
done
mapfile -t ARCHS < <(printf '%s\n' "${ARCHS[@]}" | sort -n -u)
GENCODE=()
for a in "${ARCHS[@]}"; do GENCODE+=(-gencode "arch=compute_$a,code=sm_$a"); done
GENCODE+=(-gencode "arch=compute_${ARCHS[0]},code=compute_${ARCHS[0]}")
echo "build.sh: torch $TORCH, CUDA $CUDA, kernels for $(printf 'sm_%s ' "${ARCHS[@]}")+ PTX compute_${ARCHS[0]}"

# cuBLASLt (sd_native_ops.cc's products with their bias and residual): its header from the toolkit, else from the
# nvidia wheel beside torch (pip's CUDA 13 torch: nvidia/cu13/include; CUDA 12: nvidia/cublas/include); the library
# libtorch_cuda loads, so both share one copy (the toolkit's where ldd does not name it)
CUBLAS_INC="$CUDA/include"
if [ ! -f "$CUBLAS_INC/cublasLt.h" ]; then
  CUBLAS_INC="$(dirname "$(ls "$(dirname "$TORCH")"/nvidia/*/include/cublasLt.h 2>/dev/null | head -1)")"
fi
[ -f "$CUBLAS_INC/cublasLt.h" ] \
  || { echo "build.sh: no cublasLt.h in $CUDA/include nor in $(dirname "$TORCH")/nvidia/*/include" >&2; exit 2; }
CUBLASLT="$({ ldd "$TORCH/lib/libtorch_cuda.so" 2>/dev/null || true; } | awk '$1 ~ /^libcublasLt\.so/ && $3 ~ /^\// {print $3; exit}')"
LINK_CUBLASLT=(-lcublasLt)
[ -z "$CUBLASLT" ] || LINK_CUBLASLT=("$CUBLASLT" -Wl,-rpath,"$(dirname "$CUBLASLT")")

# the C++ ABI torch was built with (pip wheels since 2.7: the new one)
ABI="$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)"
OBJ="$(mktemp -d)"
trap 'rm -rf "$OBJ"' EXIT
# every .cu (kernels, no torch headers) and .cc (JNI + ATen) file beside this script
SOURCES=("$HERE"/*.cu "$HERE"/*.cc)
# the sm_90a files' gencode (sm_90 -> sm_90a), with Hopper among the architectures; else empty
GENCODE_90A=()
if printf '%s\n' "${ARCHS[@]}" | grep -qx 90; then
  GENCODE_90A=("${GENCODE[@]/#arch=compute_90,code=sm_90/arch=compute_90a,code=sm_90a}")
fi
for SRC in "$HERE"/*.cu; do
  CODES=("${GENCODE[@]}")
  SM90A=
  case "$(basename "$SRC")" in
    self_attention.cu) SM90A=-DSD_SELF_ATTENTION_SM90A ;;
    conv_fp8.cu) SM90A=-DSD_CONV_FP8_SM90A ;;
  esac
  if [ -n "$SM90A" ] && [ ${#GENCODE_90A[@]} -gt 0 ]; then CODES=("${GENCODE_90A[@]}" "$SM90A"); fi
  "$CUDA/bin/nvcc" -O3 -std=c++17 -Xcompiler -fPIC --threads 0 "${CODES[@]}" -c "$SRC" -o "$OBJ/$(basename "$SRC").o" &
done
for SRC in "$HERE"/*.cc; do
  g++ -O2 -std=c++17 -fPIC -D_GLIBCXX_USE_CXX11_ABI=$ABI -DUSE_CUDA \
    -I"$TORCH/include" -I"$TORCH/include/torch/csrc/api/include" -I"$CUDA/include" -I"$CUBLAS_INC" -I"$JNI" -I"$JNI/linux" \
    -c "$SRC" -o "$OBJ/$(basename "$SRC").o" &
done
wait
OBJS=()
for SRC in "${SOURCES[@]}"; do
  o="$OBJ/$(basename "$SRC").o"
  [ -f "$o" ] || { echo "build.sh: compiling $(basename "$SRC") failed" >&2; exit 1; }
  OBJS+=("$o")
done
mkdir -p "$(dirname "$OUTPUT")"
g++ -shared "${OBJS[@]}" -o "$OUTPUT" \
  -L"$TORCH/lib" -L"$CUDA/lib64" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -lcudart "${LINK_CUBLASLT[@]}" \
  -Wl,-rpath,"$TORCH/lib" -Wl,-rpath,"$CUDA/lib64"
echo "build.sh: wrote $OUTPUT"
