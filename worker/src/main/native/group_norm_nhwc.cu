// GroupNorm (+ optional SiLU) for fp16 tensors in channels-last (NHWC) memory layout, for inference.
//
// PyTorch's CUDA group_norm only reads NCHW: given a channels-last tensor it copies it to NCHW and
// returns NCHW, which costs two transposes per norm and throws away what channels-last convolutions
// gain. These kernels read and write NHWC directly, in three launches:
//   1. per-channel sums of (x - p) and (x - p)^2 over the pixels of each sample, where p is the
//      channel's value at the sample's first pixel (a shift that keeps the variance exact when the
//      mean is large against the spread), accumulated in fp32 with atomics from pixel chunks;
//   2. per (sample, group): mean and 1/sqrt(var + eps) from the channel sums, folded with gamma into
//      a per-(sample, channel) scale; 3. y = (x - mean) * scale + beta (SiLU), 8 halves per load.
// No torch headers here: sd_native_ops.cc allocates the tensors and passes raw pointers and the
// current stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxColumnsPerThread = 4;  // 8 channels a column: C <= 8 * 256 * 4 = 8192

union Pack8 {
  uint4 u;
  __half2 h[4];
};

__global__ void channel_sums(const __half* __restrict__ x, float* __restrict__ sums, int64_t hw, int c,
                             int64_t rows_per_block, int threads_per_row, int columns_per_thread) {
  const int n = blockIdx.y;
  const int c8 = c / 8;
  const int lane = threadIdx.x % threads_per_row;
  const int slot = threadIdx.x / threads_per_row;
  const int slots = blockDim.x / threads_per_row;
  if (slot >= slots) return;
  const __half* sample = x + static_cast<int64_t>(n) * hw * c;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * rows_per_block;
  int64_t row1 = row0 + rows_per_block;
  if (row1 > hw) row1 = hw;

  float s1[kMaxColumnsPerThread][8];
  float s2[kMaxColumnsPerThread][8];
  float pivot[kMaxColumnsPerThread][8];
  for (int k = 0; k < columns_per_thread; ++k) {
    const int col = lane + k * threads_per_row;
    Pack8 p;
    p.u = col < c8 ? reinterpret_cast<const uint4*>(sample)[col] : make_uint4(0, 0, 0, 0);
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(p.h[j]);
      pivot[k][2 * j] = f.x;
      pivot[k][2 * j + 1] = f.y;
    }
    for (int j = 0; j < 8; ++j) {
      s1[k][j] = 0.f;
      s2[k][j] = 0.f;
    }
  }
  for (int64_t row = row0 + slot; row < row1; row += slots) {
    const uint4* r = reinterpret_cast<const uint4*>(sample + row * c);
    for (int k = 0; k < columns_per_thread; ++k) {
      const int col = lane + k * threads_per_row;
      if (col >= c8) break;
      Pack8 p;
      p.u = r[col];
      for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(p.h[j]);
        const float a = f.x - pivot[k][2 * j];
        const float b = f.y - pivot[k][2 * j + 1];
        s1[k][2 * j] += a;
        s2[k][2 * j] += a * a;
        s1[k][2 * j + 1] += b;
        s2[k][2 * j + 1] += b * b;
      }
    }
  }
  float* out = sums + static_cast<int64_t>(n) * c * 2;
  for (int k = 0; k < columns_per_thread; ++k) {
    const int col = lane + k * threads_per_row;
    if (col >= c8) break;
    for (int j = 0; j < 8; ++j) {
      const int ch = col * 8 + j;
      atomicAdd(out + 2 * ch, s1[k][j]);
      atomicAdd(out + 2 * ch + 1, s2[k][j]);
    }
  }
}

// One thread per (sample, group): mean and scale per channel.
__global__ void group_stats(const __half* __restrict__ x, const float* __restrict__ sums,
                            const __half* __restrict__ gamma, float* __restrict__ mean_out,
                            float* __restrict__ scale_out, int n_samples, int64_t hw, int c, int groups, float eps) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= n_samples * groups) return;
  const int n = idx / groups;
  const int g = idx % groups;
  const int d = c / groups;
  const __half* first = x + static_cast<int64_t>(n) * hw * c;  // the pivots: pixel 0 of the sample
  const float* s = sums + static_cast<int64_t>(n) * c * 2;
  const double count = static_cast<double>(hw) * d;
  double total = 0;
  for (int ch = g * d; ch < (g + 1) * d; ++ch) {
    total += static_cast<double>(s[2 * ch]) + static_cast<double>(hw) * __half2float(first[ch]);
  }
  const double mean = total / count;
  double sq = 0;
  for (int ch = g * d; ch < (g + 1) * d; ++ch) {
    const double shift = mean - __half2float(first[ch]);  // (x - mean) = (x - p) - shift
    sq += s[2 * ch + 1] - 2.0 * shift * s[2 * ch] + hw * shift * shift;
  }
  double var = sq / count;
  if (var < 0) var = 0;
  const float rstd = static_cast<float>(1.0 / sqrt(var + eps));
  for (int ch = g * d; ch < (g + 1) * d; ++ch) {
    mean_out[static_cast<int64_t>(n) * c + ch] = static_cast<float>(mean);
    scale_out[static_cast<int64_t>(n) * c + ch] = gamma != nullptr ? rstd * __half2float(gamma[ch]) : rstd;
  }
}

__global__ void apply_norm(const __half* __restrict__ x, __half* __restrict__ y, const float* __restrict__ mean,
                           const float* __restrict__ scale, const __half* __restrict__ beta, int64_t hw, int c,
                           int64_t packs, bool silu) {
  const int c8 = c / 8;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < packs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int col = static_cast<int>(i % c8);
    const int64_t n = i / (hw * c8);
    const float* m = mean + n * c + col * 8;
    const float* a = scale + n * c + col * 8;
    Pack8 p;
    p.u = reinterpret_cast<const uint4*>(x)[i];
    Pack8 q;
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(p.h[j]);
      float u = (f.x - m[2 * j]) * a[2 * j];
      float v = (f.y - m[2 * j + 1]) * a[2 * j + 1];
      if (beta != nullptr) {
        u += __half2float(beta[col * 8 + 2 * j]);
        v += __half2float(beta[col * 8 + 2 * j + 1]);
      }
      if (silu) {
        u = u / (1.f + __expf(-u));
        v = v / (1.f + __expf(-v));
      }
      q.h[j] = __floats2half2_rn(u, v);
    }
    reinterpret_cast<uint4*>(y)[i] = q.u;
  }
}

}  // namespace

// Whether the kernels handle this shape (otherwise the caller falls back to PyTorch's group_norm).
extern "C" bool sd_group_norm_nhwc_supported(int c, int groups) {
  return c % 8 == 0 && c % groups == 0 && c / 8 <= kThreads * kMaxColumnsPerThread;
}

// x, y: (n, hw, c) fp16, 16-byte aligned; gamma, beta: (c) fp16 or null; work: 4 * n * c floats,
// zeroed by the caller (channel sums, then mean and scale). Returns a CUDA error code (0 = success).
extern "C" int sd_group_norm_nhwc(const void* x, void* y, const void* gamma, const void* beta, float* work,
                                  int n, int64_t hw, int c, int groups, float eps, bool silu, int sm_count,
                                  cudaStream_t stream) {
  const int c8 = c / 8;
  const int columns = (c8 + kThreads - 1) / kThreads;
  const int threads_per_row = (c8 + columns - 1) / columns;
  const int slots = kThreads / threads_per_row;
  const int threads = threads_per_row * slots;
  // enough blocks to fill the GPU twice over, each with at least a few rows per slot
  int64_t chunks = (2LL * sm_count + n - 1) / n;
  const int64_t max_chunks = (hw + 4 * slots - 1) / (4 * slots);
  if (chunks > max_chunks) chunks = max_chunks;
  if (chunks < 1) chunks = 1;
  const int64_t rows_per_block = (hw + chunks - 1) / chunks;
  chunks = (hw + rows_per_block - 1) / rows_per_block;
  float* sums = work;
  float* mean = work + 2LL * n * c;
  float* scale = mean + static_cast<int64_t>(n) * c;
  const auto* xh = static_cast<const __half*>(x);
  channel_sums<<<dim3(static_cast<unsigned>(chunks), n), threads, 0, stream>>>(xh, sums, hw, c, rows_per_block,
                                                                                threads_per_row, columns);
  const int pairs = n * groups;
  group_stats<<<(pairs + 127) / 128, 128, 0, stream>>>(xh, sums, static_cast<const __half*>(gamma), mean, scale, n, hw,
                                                        c, groups, eps);
  const int64_t packs = static_cast<int64_t>(n) * hw * c8;
  int64_t blocks = (packs + kThreads - 1) / kThreads;
  if (blocks > 32LL * sm_count) blocks = 32LL * sm_count;
  apply_norm<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(xh, static_cast<__half*>(y), mean, scale,
                                                                      static_cast<const __half*>(beta), hw, c, packs,
                                                                      silu);
  return static_cast<int>(cudaGetLastError());
}
