// Which cuBLASLt FP8 (e4m3 x e4m3 -> fp16) product configurations this GPU and cuBLASLt accept, and how fast the
// accepted one is against the fp16 product at SD 1.5's transformer shapes (batch 16): issue 17's FP8 linears
// (sd_native_ops.cc lt_matmul), and whether autotuning the fp16 products would pay (every algorithm the heuristic
// offers, timed, against its first pick). Each variant prints the heuristic's status and algorithms found and cublasLtMatmul's
// status, so a NOT_SUPPORTED is traced to the attribute that causes it. Values are zeros (statuses and times only).
// Build and run on the GPU machine (bench-build.sh's toolchain; the cuBLASLt that libtorch_cuda loads):
//   L=$(ldd $T/lib/libtorch_cuda.so | awk '$1 ~ /^libcublasLt/ {print $3}'); I=$(dirname $(ls $T/../nvidia/*/include/cublasLt.h | head -1))
//   g++ -O2 -std=c++17 scripts/gpu/probe_fp8_lt.cc -I/usr/local/cuda/include -I$I -L/usr/local/cuda/lib64 -lcudart $L -o /tmp/p && /tmp/p
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

struct Variant {
  const char* name;
  bool fp8;
  bool bias;
  int fast_accum;      // -1: attribute not set
  bool adjacent;       // B's scale 4 bytes after A's (one float[2]), else its own allocation
  cudaDataType_t out;  // C and D
  int a_mode = 0;      // CUBLASLT_MATMUL_DESC_A_SCALE_MODE: 0 scalar, 3 outer vector (one float per output feature)
  int b_mode = 0;      // B_SCALE_MODE: 0 scalar, 3 outer vector (one float per token)
  bool residual = false;  // beta 1, C = a residual (fp16) in its own buffer
};

void* dev(size_t bytes) {
  void* p = nullptr;
  cudaMalloc(&p, bytes);
  cudaMemset(p, 0, bytes);
  return p;
}

// Runs y (M, N) = x (M, K) · w (N, K)ᵀ [+ bias] as sd_native_ops.cc's lt_matmul lays it out ("TN", column-major
// D^T). Returns the matmul's status; iters > 0 times it (ms per product in *ms).
cublasStatus_t product(cublasLtHandle_t h, const Variant& v, int64_t m, int64_t n, int64_t k, void* x, void* w, void* y,
                       void* bias, const float* sa, const float* sb, void* ws, size_t ws_bytes, int iters, float* ms,
                       cublasStatus_t* heur, int* found) {
  cublasLtMatmulDesc_t op;
  cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  if (v.bias) {
    cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e));
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
    if (v.fp8) {
      int32_t bt = v.out;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt));
    }
  }
  if (v.fp8) {
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof(sa));
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof(sb));
    if (v.fast_accum >= 0) {
      int8_t f = static_cast<int8_t>(v.fast_accum);
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &f, sizeof(f));
    }
    if (v.a_mode != 0) {
      int32_t mode = v.a_mode;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode));
    }
    if (v.b_mode != 0) {
      int32_t mode = v.b_mode;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode));
    }
  }
  const cudaDataType_t in = v.fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16F;
  cublasLtMatrixLayout_t a, b, cd;
  cublasLtMatrixLayoutCreate(&a, in, k, n, k);
  cublasLtMatrixLayoutCreate(&b, in, k, m, k);
  cublasLtMatrixLayoutCreate(&cd, v.out, n, m, n);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  uint64_t wsb = ws_bytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
  cublasLtMatmulHeuristicResult_t r{};
  *found = 0;
  *heur = cublasLtMatmulAlgoGetHeuristic(h, op, a, b, cd, cd, pref, 1, &r, found);
  cublasStatus_t st = CUBLAS_STATUS_NOT_SUPPORTED;
  if (*heur == CUBLAS_STATUS_SUCCESS && *found > 0) {
    const float one = 1.f, zero = 0.f;
    void* c = v.residual ? static_cast<char*>(y) + m * n * 2 : y;  // a residual after D in the output buffer
    auto call = [&] {
      return cublasLtMatmul(h, op, &one, w, a, x, b, v.residual ? &one : &zero, c, cd, y, cd, &r.algo, ws,
                            r.workspaceSize, 0);
    };
    st = call();
    if (st == CUBLAS_STATUS_SUCCESS && iters > 0) {
      for (int i = 0; i < 5; ++i) call();
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0);
      cudaEventCreate(&e1);
      cudaEventRecord(e0);
      for (int i = 0; i < iters; ++i) call();
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      cudaEventElapsedTime(ms, e0, e1);
      *ms /= iters;
    }
    cudaError_t ce = cudaDeviceSynchronize();
    if (ce != cudaSuccess) std::printf("    CUDA error %s\n", cudaGetErrorString(ce));
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(cd);
  cublasLtMatrixLayoutDestroy(b);
  cublasLtMatrixLayoutDestroy(a);
  cublasLtMatmulDescDestroy(op);
  return st;
}

// fp16 y (M, N) = x (M, K)·wᵀ + bias as above, every algorithm the heuristic offers (up to 32) timed: the heuristic's
// first pick against the fastest, to see whether autotuning our cuBLASLt products would pay for a shape.
void sweep(cublasLtHandle_t h, int64_t m, int64_t n, int64_t k, void* x, void* w, void* y, void* bias, void* ws,
           size_t ws_bytes) {
  cublasLtMatmulDesc_t op;
  cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_BIAS;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e));
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  cublasLtMatrixLayout_t a, b, cd;
  cublasLtMatrixLayoutCreate(&a, CUDA_R_16F, k, n, k);
  cublasLtMatrixLayoutCreate(&b, CUDA_R_16F, k, m, k);
  cublasLtMatrixLayoutCreate(&cd, CUDA_R_16F, n, m, n);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  uint64_t wsb = ws_bytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
  cublasLtMatmulHeuristicResult_t r[32];
  int found = 0;
  cublasLtMatmulAlgoGetHeuristic(h, op, a, b, cd, cd, pref, 32, r, &found);
  float first = 0, best = 1e30f;
  int best_i = -1;
  for (int i = 0; i < found; ++i) {
    const float one = 1.f, zero = 0.f;
    auto call = [&] {
      return cublasLtMatmul(h, op, &one, w, a, x, b, &zero, y, cd, y, cd, &r[i].algo, ws, r[i].workspaceSize, 0);
    };
    if (r[i].workspaceSize > ws_bytes || call() != CUBLAS_STATUS_SUCCESS) continue;
    for (int j = 0; j < 3; ++j) call();
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventRecord(e0);
    for (int j = 0; j < 30; ++j) call();
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    ms /= 30;
    if (i == 0) first = ms;
    if (ms < best) {
      best = ms;
      best_i = i;
    }
  }
  std::printf("| %ld | %ld | %ld | %d | %.4f | %.4f (#%d) | %.2f |\n", (long)m, (long)k, (long)n, found, first, best,
              best_i, best > 0 ? first / best : 0.0);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(cd);
  cublasLtMatrixLayoutDestroy(b);
  cublasLtMatrixLayoutDestroy(a);
  cublasLtMatmulDescDestroy(op);
}

}  // namespace

int main() {
  cublasLtHandle_t h;
  cublasLtCreate(&h);
  std::printf("cuBLASLt %zu\n", cublasLtGetVersion());
  const size_t ws_bytes = 32u << 20;
  void* ws = dev(ws_bytes);
  float* pair = static_cast<float*>(dev(256));
  float* sa = static_cast<float*>(dev(1u << 20));  // room for outer-vector scales (N or M floats)
  float* sb = static_cast<float*>(dev(1u << 20));
  const float ones[2] = {1.f, 1.f};
  cudaMemcpy(pair, ones, 8, cudaMemcpyHostToDevice);
  cudaMemcpy(sa, ones, 4, cudaMemcpyHostToDevice);
  cudaMemcpy(sb, ones, 4, cudaMemcpyHostToDevice);
  const int64_t M = 65536, N = 2560, K = 320;
  void* x = dev(65536 * 1280 * 2);  // the largest (M, K) below
  void* w = dev(32u << 20);  // the largest (N, K) below: 10240 x 1280 fp16
  void* y = dev(65536 * 2560 * 4);  // D and, after it, a residual
  void* bias = dev(1u << 16);
  std::vector<Variant> vs = {
      {"fp16 + bias (the fp16 path)", false, true, -1, false, CUDA_R_16F},
      {"fp8 -> fp16, no bias, fast accum unset", true, false, -1, false, CUDA_R_16F},
      {"fp8 -> fp16, bias fp16, fast accum unset", true, true, -1, false, CUDA_R_16F},
      {"fp8 -> fp16, bias fp16, fast accum 0", true, true, 0, false, CUDA_R_16F},
      {"fp8 -> fp16, bias fp16, fast accum 1", true, true, 1, false, CUDA_R_16F},
      {"fp8 -> fp16, bias fp16, fast accum 0, scales adjacent (lt_matmul's)", true, true, 0, true, CUDA_R_16F},
      {"fp8 -> fp16, no bias, fast accum 0, scales adjacent", true, false, 0, true, CUDA_R_16F},
      {"fp8 -> bf16, bias bf16, fast accum 0", true, true, 0, false, CUDA_R_16BF},
      {"fp8 -> fp16, bias, fast accum 1, A scalar, B outer vector (per token)", true, true, 1, false, CUDA_R_16F, 0, 3},
      {"fp8 -> fp16, bias, fast accum 1, A and B outer vectors", true, true, 1, false, CUDA_R_16F, 3, 3},
      {"fp8 -> fp16, no bias, fast accum 1, A and B outer vectors", true, false, 1, false, CUDA_R_16F, 3, 3},
      {"fp8 -> fp16, bias + residual (beta 1), fast accum 1, scalars", true, true, 1, false, CUDA_R_16F, 0, 0, true},
      {"fp8 -> fp16, bias + residual, fast accum 1, A and B outer vectors", true, true, 1, false, CUDA_R_16F, 3, 3, true},
      {"fp8 -> bf16, bias bf16, fast accum 1, A and B outer vectors", true, true, 1, false, CUDA_R_16BF, 3, 3},
  };
  for (const Variant& v : vs) {
    cublasStatus_t heur;
    int found;
    float ms = 0;
    const float* a = v.adjacent ? pair : sa;
    const float* b = v.adjacent ? pair + 1 : sb;
    cublasStatus_t st = product(h, v, M, N, K, x, w, y, bias, a, b, ws, ws_bytes, 0, &ms, &heur, &found);
    std::printf("%-72s heuristic %s (%d found), matmul %s\n", v.name, cublasLtGetStatusName(heur), found,
                cublasLtGetStatusName(st));
  }
  // times at SD 1.5's batch-16 shapes: (M, K, N) of q|k|v, GEGLU's projection and attn2's q per level
  const int64_t shapes[][3] = {{65536, 320, 960}, {65536, 320, 2560}, {65536, 320, 320}, {16384, 640, 1920},
                               {16384, 640, 5120}, {4096, 1280, 3840}, {4096, 1280, 10240}};
  std::printf("\n| M | K | N | fp16 + bias ms | fp8 + bias ms (fast accum 0) | fast accum 1 | fp16 / fp8 |\n");
  for (const auto& s : shapes) {
    float t16 = 0, t8 = 0, t8f = 0;
    cublasStatus_t heur;
    int found;
    product(h, vs[0], s[0], s[2], s[1], x, w, y, bias, sa, sb, ws, ws_bytes, 50, &t16, &heur, &found);
    product(h, vs[3], s[0], s[2], s[1], x, w, y, bias, sa, sb, ws, ws_bytes, 50, &t8, &heur, &found);
    product(h, vs[4], s[0], s[2], s[1], x, w, y, bias, sa, sb, ws, ws_bytes, 50, &t8f, &heur, &found);
    std::printf("| %ld | %ld | %ld | %.4f | %.4f | %.4f | %.2f |\n", (long)s[0], (long)s[1], (long)s[2], t16, t8, t8f,
                t8 > 0 ? t16 / t8 : 0.0);
  }
  // ff.net.2's products (input: the GEGLU gate's output, which per-token scales would let a kernel write as FP8), with
  // its residual: fp16 against FP8 with outer-vector scales
  const Variant f16r{"fp16 + bias + residual", false, true, -1, false, CUDA_R_16F, 0, 0, true};
  const Variant f8r{"fp8 outer vectors + bias + residual", true, true, 1, false, CUDA_R_16F, 3, 3, true};
  const int64_t ff2[][3] = {{65536, 1280, 320}, {16384, 2560, 640}, {4096, 5120, 1280}};
  std::printf("\n| M | K | N | fp16 + bias + residual ms | fp8 (outer-vector scales) ms | fp16 / fp8 |\n");
  for (const auto& s : ff2) {
    float t16 = 0, t8 = 0;
    cublasStatus_t heur;
    int found;
    cublasStatus_t a16 = product(h, f16r, s[0], s[2], s[1], x, w, y, bias, sa, sb, ws, ws_bytes, 50, &t16, &heur, &found);
    cublasStatus_t a8 = product(h, f8r, s[0], s[2], s[1], x, w, y, bias, sa, sb, ws, ws_bytes, 50, &t8, &heur, &found);
    std::printf("| %ld | %ld | %ld | %.4f (%s) | %.4f (%s) | %.2f |\n", (long)s[0], (long)s[1], (long)s[2], t16,
                cublasLtGetStatusName(a16), t8, cublasLtGetStatusName(a8), t8 > 0 ? t16 / t8 : 0.0);
  }
  // fp16 products: the heuristic's pick against the fastest of its algorithms (SD 1.5's batch-16 shapes the profile
  // names as below the peak: N = 320 at 64x64, the out-projections, ff.net.2)
  const int64_t fp16_shapes[][3] = {{65536, 320, 320}, {65536, 1280, 320}, {65536, 320, 960}, {65536, 320, 2560},
                                    {16384, 640, 640}, {16384, 2560, 640}, {4096, 1280, 1280}};
  std::printf("\n| M | K | N | algorithms | heuristic's first ms | fastest ms (index) | first / fastest |\n");
  for (const auto& s : fp16_shapes) sweep(h, s[0], s[2], s[1], x, w, y, bias, ws, ws_bytes);
  return 0;
}
