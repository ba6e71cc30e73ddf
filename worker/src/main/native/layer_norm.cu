// LayerNorm over the last dimension for fp16 rows, optionally after a residual add:
//   y = (x - mean) / sqrt(var + eps) * gamma + beta             (torch.nn.functional.layer_norm)
//   s = x + d (fp16, as PyTorch's add), y = layer_norm(s)      (the add + norm of a transformer block)
// PyTorch's vectorized_layer_norm_kernel runs far below the memory bandwidth on the UNet's rows (C = 320 ... 1280,
// tens of thousands of rows). Here a row lives in the registers of a group of `lpr` lanes (4, 8, 16 or 32 of a
// warp; K packs of 8 halves each, all loads issued at once), mean and variance are two exact passes over the
// registers in fp32 (shuffle reductions in the group), and the result is written with 16-byte stores.
// No torch headers here: sd_native_ops.cc allocates the tensors and passes raw pointers and the stream.
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "half_pack.cuh"

#include <cstdint>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxPacks = 8;  // packs of 8 halves per lane: C <= 32 * 8 * 8 = 2048

__device__ __forceinline__ float group_sum(float v, int lpr) {
  for (int o = lpr / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);  // stays in aligned groups
  return v;
}

// One row per group of lpr lanes. d, sum: null for a plain LayerNorm; otherwise s = x + d is written to sum
// and normalised. gamma, beta: (c) or null. Fp8 = false: y gets the fp16 result (y8 and scale unused); Fp8 = true:
// y8 gets (x - mean) * rstd * scale as e4m3 bytes (gamma, beta and y unused). Everything before the output is the same
// code for both.
template <int K, bool Fp8>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(const __half* __restrict__ x, const __half* __restrict__ d, __half* __restrict__ sum,
                      __half* __restrict__ y, const __half* __restrict__ gamma, const __half* __restrict__ beta,
                      uint8_t* __restrict__ y8, float scale, int64_t rows, int c, int lpr, float eps) {
  const int c8 = c / 8;
  const int lane = threadIdx.x % lpr;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / lpr) + threadIdx.x / lpr;
  // no early return: every lane of the warp takes part in the shuffles, rows past the end compute on zeros
  const bool valid = row < rows;
  const int64_t base = (valid ? row : 0) * c8;
  Pack8 p[K];  // the row stays in fp16 registers, converted on each pass (fewer registers, more rows resident)
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int col = lane + k * lpr;
    p[k].u = valid && col < c8 ? reinterpret_cast<const uint4*>(x)[base + col] : make_uint4(0, 0, 0, 0);
  }
  if (d != nullptr) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int col = lane + k * lpr;
      if (valid && col < c8) {
        Pack8 q;
        q.u = reinterpret_cast<const uint4*>(d)[base + col];
#pragma unroll
        for (int j = 0; j < 4; ++j) p[k].h[j] = __hadd2(p[k].h[j], q.h[j]);
        reinterpret_cast<uint4*>(sum)[base + col] = p[k].u;
      }
    }
  }
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < K; ++k) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(p[k].h[j]);
      s += f.x + f.y;  // columns past c are zeros
    }
  }
  const float mean = group_sum(s, lpr) / c;
  float q = 0.f;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    if (lane + k * lpr < c8) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(p[k].h[j]);
        const float t = f.x - mean, u = f.y - mean;
        q = fmaf(t, t, fmaf(u, u, q));
      }
    }
  }
  const float rstd = rsqrtf(group_sum(q, lpr) / c + eps);
  if (!valid) return;
  if constexpr (Fp8) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int col = lane + k * lpr;
      if (col >= c8) continue;
      __nv_fp8x2_storage_t o[4];  // pairs of e4m3 bytes, the first value in the low byte (memory order)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(p[k].h[j]);
        o[j] = __nv_cvt_float2_to_fp8x2(make_float2((f.x - mean) * rstd * scale, (f.y - mean) * rstd * scale),
                                        __NV_SATFINITE, __NV_E4M3);
      }
      reinterpret_cast<uint2*>(y8)[base + col] =
          make_uint2(static_cast<uint32_t>(o[0]) | static_cast<uint32_t>(o[1]) << 16,
                     static_cast<uint32_t>(o[2]) | static_cast<uint32_t>(o[3]) << 16);  // 8 bytes per pack
    }
  } else {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int col = lane + k * lpr;
      if (col >= c8) continue;
      Pack8 g, b, o;
      g.u = gamma != nullptr ? __ldg(reinterpret_cast<const uint4*>(gamma) + col) : make_uint4(0, 0, 0, 0);
      b.u = beta != nullptr ? __ldg(reinterpret_cast<const uint4*>(beta) + col) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 gf = gamma != nullptr ? __half22float2(g.h[j]) : make_float2(1.f, 1.f);
        const float2 bf = __half22float2(b.h[j]);  // zeros without beta
        const float2 f = __half22float2(p[k].h[j]);
        o.h[j] = __floats2half2_rn(fmaf((f.x - mean) * rstd, gf.x, bf.x), fmaf((f.y - mean) * rstd, gf.y, bf.y));
      }
      reinterpret_cast<uint4*>(y)[base + col] = o.u;
    }
  }
}

// Lanes per row: the fewest of 4, 8, 16, 32 that hold the row in at most kMaxPacks packs each (C = 320: 8 lanes
// of 5 packs; 640: 16 of 5; 1280: 32 of 5; 768: 16 of 6).
int lanes_for(int c8) {
  int lpr = 4;
  while (lpr < 32 && (c8 + lpr - 1) / lpr > kMaxPacks) lpr *= 2;
  return lpr;
}

}  // namespace

// Whether the kernel handles rows of c halves (otherwise the caller uses PyTorch's layer_norm).
extern "C" bool sd_layer_norm_supported(int c) { return c > 0 && c % 8 == 0 && c / 8 <= 32 * kMaxPacks; }

namespace {

// Launches layer_norm_kernel<K, Fp8> for the rows' packs per lane. Returns a CUDA error code (0 = success).
template <bool Fp8>
int launch_layer_norm(const void* x, const void* d, void* sum, void* y, const void* gamma, const void* beta, void* y8,
                      float scale, int64_t rows, int c, float eps, cudaStream_t stream) {
  if (rows == 0) return 0;
  const int c8 = c / 8;
  const int lpr = lanes_for(c8);
  const int packs = (c8 + lpr - 1) / lpr;
  const int64_t rows_per_block = kThreads / lpr;
  const auto blocks = static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
  const auto* xh = static_cast<const __half*>(x);
  const auto* dh = static_cast<const __half*>(d);
  auto* sh = static_cast<__half*>(sum);
  auto* yh = static_cast<__half*>(y);
  const auto* g = static_cast<const __half*>(gamma);
  const auto* b = static_cast<const __half*>(beta);
  auto* y8b = static_cast<uint8_t*>(y8);
  switch (packs) {
#define SD_LN_CASE(K)                                                                                              \
  case K:                                                                                                          \
    layer_norm_kernel<K, Fp8><<<blocks, kThreads, 0, stream>>>(xh, dh, sh, yh, g, b, y8b, scale, rows, c, lpr, eps); \
    break;
    SD_LN_CASE(1)
    SD_LN_CASE(2)
    SD_LN_CASE(3)
    SD_LN_CASE(4)
    SD_LN_CASE(5)
    SD_LN_CASE(6)
    SD_LN_CASE(7)
    SD_LN_CASE(8)
#undef SD_LN_CASE
    default:
      return static_cast<int>(cudaErrorInvalidValue);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

// x, y (and d, sum when d is not null): (rows, c) fp16, contiguous, 16-byte aligned; gamma, beta: (c) fp16,
// 16-byte aligned, or null. With d: sum = x + d, y = layer_norm(sum). Returns a CUDA error code (0 = success).
extern "C" int sd_layer_norm(const void* x, const void* d, void* sum, void* y, const void* gamma, const void* beta,
                             int64_t rows, int c, float eps, cudaStream_t stream) {
  return launch_layer_norm<false>(x, d, sum, y, gamma, beta, nullptr, 0.f, rows, c, eps, stream);
}

// The normalised rows without affine as FP8 e4m3 bytes: y8 (rows, c) = e4m3((s - mean) * rstd * scale), saturating
// (__NV_SATFINITE), s = x (d null) or s = x + d written to sum (fp16, as sd_layer_norm writes it). x, d, sum as for
// sd_layer_norm (c as sd_layer_norm_supported says); y8: (rows, c) bytes, contiguous, 8-byte aligned. |(s - mean) *
// rstd| <= sqrt(c - 1), so a scale with scale * sqrt(c) <= 448 (e4m3's largest finite value) never saturates. The
// conversion exists on every architecture (cvt.rn.satfinite.e4m3x2.f32 from sm_89; cuda_fp8.h emulates it before). Returns a CUDA
// error code (0 = success).
extern "C" int sd_layer_norm_fp8(const void* x, const void* d, void* sum, void* y8, float scale, int64_t rows, int c,
                                 float eps, cudaStream_t stream) {
  return launch_layer_norm<true>(x, d, sum, nullptr, nullptr, nullptr, y8, scale, rows, c, eps, stream);
}
