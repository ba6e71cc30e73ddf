#!/usr/bin/env bash
# CPU check of the cross-attention kernel's fragment indexing (cross_attention_emu.cpp says what it checks): extracts
# the kernel from worker/src/main/native/cross_attention.cu as host code, builds it with g++ (C++20, the CUDA
# toolkit's cuda_fp16.h for the half type) and runs the cases. Usage: scripts/gpu/cross_attention_emu.sh
# (CUDA_HOME: the toolkit, default nvcc's parent folder, else /usr/local/cuda). Exit status 0 when every case passes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CUDA="${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")")}"
[ -f "$CUDA/include/cuda_fp16.h" ] || CUDA=/usr/local/cuda
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$HERE/../../worker/src/main/native/cross_attention.cu" "$WORK/kernel_body.inc" <<'PY'
import sys
src = open(sys.argv[1]).read()
body = src[src.index("namespace {"):src.index("template <int D>\nint launch(")]
for old, new in [("__global__ void __launch_bounds__(kThreads, D > 80 ? 2 : 4)", "void"),
                 ("__device__ __forceinline__", "inline"),
                 ("extern __shared__ uint4 smem_u4[];", "uint4* smem_u4 = emu_smem;"),
                 ("__ldg(", "emu_ldg(")]:
    if old not in body:
        sys.exit("cross_attention_emu.sh: the kernel no longer has " + repr(old) + ": update the extraction")
    body = body.replace(old, new)
i = body.index("inline void mma16816")
j = body.index("\n}\n", i)
body = body[:i] + ("inline void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) "
                   "{ emu_mma(d, a, b0, b1); }") + body[j + 2:]
open(sys.argv[2], "w").write(body)
PY
g++ -std=c++20 -O1 -I"$CUDA/include" -I"$WORK" "$HERE/cross_attention_emu.cpp" -o "$WORK/emu" -lpthread
"$WORK/emu"
