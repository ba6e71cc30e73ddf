// Every ResNet block's time-embedding projection of a UNet call in one launch (issue 17):
//   y_i (B, N_i) = x (B, K) · W_iᵀ + b_i      for i < count, x shared (SiLU of the time embedding)
// diffusers' ResnetBlock2D projects SiLU(emb) with its own time_emb_proj: 22 blocks in SD 1.x/2.x (17 in SDXL), each
// a product of B rows (B = 1 when a batch shares its timestep) with a (C, 1280) weight, 22 cuBLASLt launches per UNet
// call that a trace of SD 1.5's batch-16 call on the H200 measured at 138 µs of GPU time in 24 launches; reading the
// 55 MB of weights once takes ~15 µs at the H200's ~4 TB/s. Here one launch reads them all, memory-bound.
// Layout of the work: one warp per kRowsPerWarp consecutive output features of one product (all B rows of x), each
// lane streaming 16-byte packs of the weight rows (kUnroll packs per row in flight) against x staged in shared memory
// (B·K halves, loaded once per block), fp32 accumulation, a warp-shuffle sum, the bias added in fp32 and one rounding
// to fp16. The warps' tasks run over the features of all products in order (a grid-stride loop); product i's
// features are [start[i], start[i + 1]) of a prefix table passed by value with the weight and bias pointers
// (kMaxProducts entries; the launcher splits a longer list over several launches).
// The weights are read by pointer at each call (no copy): LoRA patches written into them in place are seen.
// No torch headers here: sd_native_ops.cc checks the layouts and passes raw pointers and the current stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "half_pack.cuh"

#include <cstdint>

namespace {

constexpr int kMaxProducts = 64;  // per launch: SD 1.x/2.x have 22 ResNet blocks with a time embedding, SDXL 17
constexpr int kMaxRows = 16;      // B: accumulators in registers, kMaxRows · kRowsPerWarp per lane
constexpr int kRowsPerWarp = 2;   // output features per warp task (one x pack from shared memory serves both)
constexpr int kUnroll = 4;        // 16-byte weight packs per feature in flight per lane
constexpr int kThreads = 256;
constexpr int kSharedBytes = 48 * 1024;  // x (B, K) halves in shared memory: without an opt-in, at most 48 KB

struct TimeProjTable {
  const uint4* w[kMaxProducts];     // (N_i, K) row-major, 16-byte aligned
  const __half* bias[kMaxProducts];  // (N_i), or null
  int start[kMaxProducts + 1];       // start[i] = Σ_{j<i} N_j (features), start[count] = ΣN
  int count;
};

__device__ __forceinline__ void unpack(const uint4& v, float (&f)[8]) {
  Pack8 p;
  p.u = v;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 t = __half22float2(p.h[j]);
    f[2 * j] = t.x;
    f[2 * j + 1] = t.y;
  }
}

// MAXB: the smallest instantiated bound of b (1, 2, 4, 8, 16), so the accumulators stay in registers.
// y: product i's (b, N_i) output at y + b · start[i] (halves).
template <int MAXB>
__global__ void __launch_bounds__(kThreads) time_proj_kernel(const __grid_constant__ TimeProjTable t,
                                                             const uint4* __restrict__ x, __half* __restrict__ y,
                                                             int b, int k8) {
  extern __shared__ uint4 xs[];  // (b, k8) packs of 8 halves
  for (int i = threadIdx.x; i < b * k8; i += blockDim.x) xs[i] = x[i];
  __syncthreads();

  const int lane = threadIdx.x & 31;
  const int warps = gridDim.x * (kThreads / 32);
  const int tasks = t.start[t.count] / kRowsPerWarp;
  int prod = 0;  // the warp's tasks only move forward: the product index never goes back
  for (int task = blockIdx.x * (kThreads / 32) + threadIdx.x / 32; task < tasks; task += warps) {
    const int row = task * kRowsPerWarp;
    while (row >= t.start[prod + 1]) ++prod;
    const int n = t.start[prod + 1] - t.start[prod];
    const int f = row - t.start[prod];  // the task's first feature in its product (even: N_i is a multiple of 8)
    const uint4* w = t.w[prod] + static_cast<int64_t>(f) * k8;

    float acc[kRowsPerWarp][MAXB];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int s = 0; s < MAXB; ++s) acc[r][s] = 0.f;
    }
    for (int c0 = lane; c0 < k8; c0 += 32 * kUnroll) {
      uint4 wv[kUnroll][kRowsPerWarp];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          // streamed (evict first): each weight is read once per call
          wv[u][r] = c < k8 ? __ldcs(w + r * k8 + c) : make_uint4(0, 0, 0, 0);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
        if (c < k8) {
          float wf[kRowsPerWarp][8];
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) unpack(wv[u][r], wf[r]);
#pragma unroll
          for (int s = 0; s < MAXB; ++s) {
            if (s < b) {
              float xf[8];
              unpack(xs[s * k8 + c], xf);
#pragma unroll
              for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[r][s] = fmaf(wf[r][j], xf[j], acc[r][s]);
              }
            }
          }
        }
      }
    }
    // every lane ends with the warp's sums
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int s = 0; s < MAXB; ++s) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r][s] += __shfl_xor_sync(0xffffffffu, acc[r][s], o);
      }
    }
    // lane s writes sample s's two features
    float b0 = 0.f, b1 = 0.f;
    if (t.bias[prod] != nullptr && lane < b) {
      b0 = __half2float(t.bias[prod][f]);
      b1 = __half2float(t.bias[prod][f + 1]);
    }
    __half* out = y + static_cast<int64_t>(b) * t.start[prod] + f;
#pragma unroll
    for (int s = 0; s < MAXB; ++s) {
      if (s < b && lane == s) {
        *reinterpret_cast<__half2*>(out + static_cast<int64_t>(s) * n) =
            __floats2half2_rn(acc[0][s] + b0, acc[1][s] + b1);
      }
    }
  }
}

template <int MAXB>
cudaError_t launch(const TimeProjTable& t, const void* x, __half* y, int b, int k, int sm_count, cudaStream_t stream) {
  const int tasks = t.start[t.count] / kRowsPerWarp;
  const int warps_per_block = kThreads / 32;
  int blocks = (tasks + warps_per_block - 1) / warps_per_block;
  // a few blocks per SM, each staging x once; their warps loop over the rest of the tasks
  const int cap = 4 * (sm_count > 0 ? sm_count : 1);
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  const size_t shared = static_cast<size_t>(b) * k * sizeof(__half);
  time_proj_kernel<MAXB><<<blocks, kThreads, shared, stream>>>(t, static_cast<const uint4*>(x), y, b, k / 8);
  return cudaGetLastError();
}

}  // namespace

// Whether the kernel handles b rows of x (b, k) and count products of n[i] features each (otherwise the caller runs
// one product per block): 1 ≤ b ≤ 16, k a positive multiple of 8 with x (b, k) in 48 KB of shared memory, every n[i]
// a positive multiple of 8 (so each output block (b, n[i]) starts 16-byte aligned), b · Σn[i] in an int.
extern "C" bool sd_time_proj_supported(int b, int k, const int* n, int count) {
  if (b < 1 || b > kMaxRows || k < 8 || k % 8 != 0 || static_cast<int64_t>(b) * k * 2 > kSharedBytes || count < 1) {
    return false;
  }
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    if (n[i] < 8 || n[i] % 8 != 0) return false;
    total += n[i];
  }
  return total * b < (1LL << 31);
}

// y_i = x · w[i]ᵀ + bias[i] for i < count: x (b, k) fp16 contiguous, 16-byte aligned; w[i] (n[i], k) fp16 row-major,
// 16-byte aligned; bias[i] (n[i]) fp16 or null; y fp16, b · Σn halves, product i's (b, n[i]) row-major output at
// y + b · Σ_{j<i} n[j] (16-byte aligned where y is). Sizes as sd_time_proj_supported says. One launch per kMaxProducts
// products. Returns a CUDA error code (0 = success).
extern "C" int sd_time_proj(const void* x, const void* const* w, const void* const* bias, const int* n, int count,
                            void* y, int b, int k, int sm_count, cudaStream_t stream) {
  __half* out = static_cast<__half*>(y);
  for (int first = 0; first < count; first += kMaxProducts) {
    TimeProjTable t{};
    t.count = count - first < kMaxProducts ? count - first : kMaxProducts;
    t.start[0] = 0;
    for (int i = 0; i < t.count; ++i) {
      t.w[i] = static_cast<const uint4*>(w[first + i]);
      t.bias[i] = static_cast<const __half*>(bias[first + i]);
      t.start[i + 1] = t.start[i] + n[first + i];
    }
    cudaError_t err;
    if (b <= 1) {
      err = launch<1>(t, x, out, b, k, sm_count, stream);
    } else if (b <= 2) {
      err = launch<2>(t, x, out, b, k, sm_count, stream);
    } else if (b <= 4) {
      err = launch<4>(t, x, out, b, k, sm_count, stream);
    } else if (b <= 8) {
      err = launch<8>(t, x, out, b, k, sm_count, stream);
    } else {
      err = launch<16>(t, x, out, b, k, sm_count, stream);
    }
    if (err != cudaSuccess) return static_cast<int>(err);
    out += static_cast<int64_t>(b) * t.start[t.count];
  }
  return 0;
}
