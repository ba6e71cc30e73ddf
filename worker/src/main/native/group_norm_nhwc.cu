// GroupNorm (+ optional SiLU) for fp16 tensors in channels-last (NHWC) memory layout, for inference.
//
// PyTorch's CUDA group_norm only reads NCHW: given a channels-last tensor it copies it to NCHW and
// returns NCHW, which costs two transposes per norm and throws away what channels-last convolutions
// gain. These kernels read and write NHWC directly, in three launches:
//   1. channel_sums: per-channel sums of (x - p) and (x - p)^2 over a chunk of one sample's pixels, where
//      p is the channel's value at the sample's first pixel (a shift that keeps the variance exact when the
//      mean is large against the spread), in fp32. A block is a grid of (pixel slot, channel column)
//      threads: each thread owns 8 (or 16) channels, keeps their sums in registers over its rows (several
//      16-byte loads in flight), the block adds its slots up in shared memory and writes one partial per
//      (chunk, channel): no atomics, no zeroed buffer, one wave of blocks over the GPU;
//   2. group_stats: a warp per (sample, group), or 2 to 16 warps where the group has many partials, adds them up in
//      fp64 (each lane with up to 8 pairs of loads in flight, the five sums reduced together by warp shuffles, shared
//      memory only between a group's warps) and folds mean, 1/sqrt(var + eps), gamma and beta into y = x * a + b per
//      (sample, channel);
//   3. apply_norm: the same thread grid as 1., each thread keeps a and b of its channels in registers and
//      writes y = x * a + b (then SiLU) over its rows, 8 halves per load.
// Optionally the input is x + bias[c] + nbias[n, c] (a convolution's output without its bias, and a ResNet block's
// time embedding): each kernel adds them in registers where it reads x, summed in fp32 and rounded once to fp16 as
// bias_add.cu rounds them, so the norm sees the very fp16 values bias_add would have written, and the bias pass (a
// read and a write of the tensor) and the biased tensor itself disappear.
// The input can also be the channel concatenation of two tensors read in place (TwoInputs: an up block's input and its
// skip connection, which diffusers' UpBlock2D and CrossAttnUpBlock2D concatenate with torch.cat(dim=1) before a ResNet
// block): a pixel's channels [0, c1) come from x1 and [c1, c) from x2. Only the loads differ (each 8-channel pack lies
// in one of the two), and the launches are split as for one tensor of c channels, so the output is bit for bit what
// the kernels give on the concatenation.
// group_stats stays a launch of its own: folded into apply_norm, each of its blocks would add up all of its sample's
// partials again (chunks * 2c floats, e.g. 86 chunks of 640 floats for 320 channels at 64x64 and batch 2).
// Small groups (issue 17: the 16x16 and 8x8 levels' launches took 4-6 us each, latency-bound) run in one launch
// instead, group_norm_one: a block per (sample, group) loads the group's hw * d values into registers once (all loads in
// flight together), adds them up (a block reduction), adds up their squared deviations from that mean (a second one: a
// two-pass variance from registers), folds gamma and beta as group_stats does (fp64) and writes y from the registers:
// one read and one write of the tensor instead of two reads and a write, one launch instead of three. one_pass() says
// which shapes take it (SD_GROUP_NORM_ONE_PASS: sd_group_norm_nhwc_set_one_pass).
// An e4m3 output (F8, sd_group_norm_nhwc_silu_e4m3 and sd_group_norm_nhwc_two_silu_e4m3: the FP8 input of a ResNet
// block's conv1 and conv2, conv_fp8.cu, SD_FP8_CONV): the same kernels up to the output, SiLU(y) in fp32 converted once
// to e4m3 (round to nearest even, saturating at +-448: __nv_cvt_float2_to_fp8x2 with __NV_SATFINITE, as layer_norm.cu's
// Fp8 output) with the static scale s_x = 1, bytes in the input's NHWC order (n, hw, c). Why a static 1 suffices:
// SiLU(v) >= -0.279 for every v, and v = x̂·gamma + beta with |x̂| <= sqrt(hw·d) bounded by the group's size, so only
// |gamma|·|x̂| + |beta| above 448 would saturate (SD's norms: |x̂| rarely beyond 10, |gamma|, |beta| of order 1); below,
// e4m3's normal range reaches down to 2^-6 and its subnormals to 2^-9, and values under 2^-10 (which round to 0) add
// at most 2^-10 per element to a convolution's sum, against the relative step 2^-4 of every normal value. A power of
// two also makes the scale itself exact: descale = s_w / s_x = s_w.
// No torch headers here: sd_native_ops.cc allocates the tensors and passes raw pointers and the
// current stream.
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "half_pack.cuh"

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace {

constexpr int kMaxThreads = 512;   // threads of a channel_sums / apply_norm block
constexpr int kMaxColumns = 2;     // 8-channel columns per thread: C <= 8 * 512 * 2 = 8192
constexpr int kStatsMaxWarps = 16;   // group_stats: warps per (sample, group) at most (a 512-thread block)
constexpr int kStatsBlockWarps = 4;  // ... warps per block where a group takes fewer (4 groups of one warp, 2 of two)
constexpr int kStatsUnroll = 8;      // ... (chunk, channel) pairs a lane loads at once

// The additive per-channel terms of the input: bias (c) and nbias (rows of c, row n at n * nbias_stride: stride c, or
// 0 for one row shared by every sample), each fp16 or null.
struct Addend {
  const __half* bias;
  const __half* nbias;
  int64_t nbias_stride;
};

// The kernels' input: x (n, hw, c), or the channel concatenation of x (n, hw, c1) and x2 (n, hw, c - c1) read in
// place (c1 and c - c1 multiples of 8, sd_group_norm_nhwc_two_supported: a 16-byte pack of 8 channels lies in one of
// them). The kernels take x, x2 and c1 (x2 null and c1 unused for one tensor) and read sample n's pixel rows through
// In::at(x, x2, c1, n, hw, c): pack(row, col, c8) the 8 channels [8 col, 8 col + 8) of pixel row `row` (one 16-byte
// load; c8 = c / 8), first(ch) channel ch of pixel 0 (group_stats' pivots). One tensor:
struct OneInput {
  const __half* x;
  __device__ __forceinline__ static OneInput at(const __half* x, const __half*, int, int n, int64_t hw, int c) {
    return {x + static_cast<int64_t>(n) * hw * c};
  }
  template <typename R>
  __device__ __forceinline__ uint4 pack(R row, int col, int c8) const {
    return reinterpret_cast<const uint4*>(x)[row * c8 + col];
  }
  __device__ __forceinline__ __half first(int ch) const { return x[ch]; }
  // group_norm_one's loads: the Vec (V halves) at channel ch of pixel row `row` (ch a multiple of V, V dividing 8)
  template <typename Vec>
  __device__ __forceinline__ Vec vec(int row, int ch, int c) const {
    return *reinterpret_cast<const Vec*>(x + row * c + ch);
  }
};

// Two tensors: channels [0, c1) from x1, [c1, c) from x2.
struct TwoInputs {
  const __half* x1;
  const __half* x2;
  int c1;
  __device__ __forceinline__ static TwoInputs at(const __half* x1, const __half* x2, int c1, int n, int64_t hw, int c) {
    return {x1 + static_cast<int64_t>(n) * hw * c1, x2 + static_cast<int64_t>(n) * hw * (c - c1), c1};
  }
  template <typename R>
  __device__ __forceinline__ uint4 pack(R row, int col, int c8) const {
    const int c1_8 = c1 / 8;
    return col < c1_8 ? reinterpret_cast<const uint4*>(x1)[row * c1_8 + col]
                      : reinterpret_cast<const uint4*>(x2)[row * (c8 - c1_8) + (col - c1_8)];
  }
  __device__ __forceinline__ __half first(int ch) const { return ch < c1 ? x1[ch] : x2[ch - c1]; }
  // (c1 a multiple of 8: a vector lies in one of the two)
  template <typename Vec>
  __device__ __forceinline__ Vec vec(int row, int ch, int c) const {
    return ch < c1 ? *reinterpret_cast<const Vec*>(x1 + row * c1 + ch)
                   : *reinterpret_cast<const Vec*>(x2 + row * (c - c1) + (ch - c1));
  }
};

// BIAS: x + b + t per channel as bias_add.cu computes it (fp32 sum in this order, rounded once to fp16), then as
// float; otherwise x as float. b, t: the packs of the bias and nbias row at the same 8 channels (zeros for none).
template <bool BIAS>
__device__ __forceinline__ void unpack_add(const Pack8& p, const Pack8& b, const Pack8& t, float* f) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    float2 v = __half22float2(p.h[j]);
    if (BIAS) {
      const float2 fb = __half22float2(b.h[j]);
      const float2 ft = __half22float2(t.h[j]);
      v = __half22float2(__floats2half2_rn(v.x + fb.x + ft.x, v.y + fb.y + ft.y));
    }
    f[2 * j] = v.x;
    f[2 * j + 1] = v.y;
  }
}

// Two e4m3 values (round to nearest even, saturating at +-448), the first in the low byte (memory order).
__device__ __forceinline__ unsigned int e4m3x2(float a, float b) {
  return static_cast<unsigned int>(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3));
}

// V e4m3 bytes (one store of 2, 4 or 8 bytes) from V / 2 pairs (e4m3x2: the first value in the low byte).
template <int V>
struct E4m3Of;
template <>
struct E4m3Of<2> {
  using T = unsigned short;
  __device__ __forceinline__ static T of(const unsigned int (&e)[1]) { return static_cast<unsigned short>(e[0]); }
};
template <>
struct E4m3Of<4> {
  using T = unsigned int;
  __device__ __forceinline__ static T of(const unsigned int (&e)[2]) { return e[0] | (e[1] << 16); }
};
template <>
struct E4m3Of<8> {
  using T = uint2;
  __device__ __forceinline__ static T of(const unsigned int (&e)[4]) {
    return make_uint2(e[0] | (e[1] << 16), e[2] | (e[3] << 16));
  }
};

// The packs of the bias and of sample n's nbias row at 8-channel column col (zeros for a term that is null, or when
// !has: a column the thread does not own).
__device__ __forceinline__ void load_addend(const Addend& add, int n, int col, bool has, Pack8& b, Pack8& t) {
  b.u = has && add.bias != nullptr ? reinterpret_cast<const uint4*>(add.bias)[col] : make_uint4(0, 0, 0, 0);
  t.u = has && add.nbias != nullptr ? reinterpret_cast<const uint4*>(add.nbias + n * add.nbias_stride)[col]
                                    : make_uint4(0, 0, 0, 0);
}

// Thread layout of channel_sums and apply_norm for C channels: `columns` 8-channel columns per thread,
// `tpr` threads per pixel row (thread t owns columns t, t + tpr, ...), `slots` rows side by side.
struct Layout {
  int columns;
  int tpr;
  int slots;
  int threads() const { return tpr * slots; }
};

Layout layout_for(int c) {
  const int c8 = c / 8;
  Layout l;
  l.columns = (c8 + kMaxThreads - 1) / kMaxThreads;
  l.tpr = (c8 + l.columns - 1) / l.columns;
  l.slots = kMaxThreads / l.tpr;
  return l;
}

// Rows (loads) per thread and iteration: more in flight for one column, fewer registers for two, and one fewer for one
// column with an addend (its bias and nbias packs take 8 more registers: with 4 rows ptxas spills at the 64 registers
// that two blocks of 512 threads per SM allow).
template <int COLS, bool BIAS>
__host__ __device__ constexpr int unroll() {
  return COLS == 1 ? (BIAS ? 3 : 4) : 2;
}

// Row indices within a sample: 32-bit in the kernels with an addend (fewer registers; sd_group_norm_nhwc_biased_supported
// keeps hw * c / 8 well below 2^31), 64-bit otherwise.
template <bool BIAS>
using Row = typename std::conditional<BIAS, int, int64_t>::type;

// The packs of U rows (row, row + slots, ...) in a thread's columns (lane, lane + tpr, ...), all loads issued
// before any is used; zeros past row1 and in the columns the thread does not own.
template <int U, int COLS, typename In, typename R>
__device__ __forceinline__ void load_rows(Pack8 (&v)[U][COLS], const In& rows, R row, R row1, int slots, int c8,
                                          int lane, int tpr, const bool (&has)[COLS]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const R r = row + static_cast<R>(u) * slots;
#pragma unroll
    for (int k = 0; k < COLS; ++k) {
      v[u][k].u = (r < row1 && has[k]) ? rows.pack(r, lane + k * tpr, c8) : make_uint4(0, 0, 0, 0);
    }
  }
}

template <int COLS, bool BIAS, typename In>
__global__ void __launch_bounds__(kMaxThreads, COLS == 1 ? 2 : 1)
    channel_sums(const __half* __restrict__ x, const __half* __restrict__ x2, int c1, Addend add,
                 float* __restrict__ partial, int64_t hw, int c, int64_t rows_per_block, int tpr) {
  constexpr int U = unroll<COLS, BIAS>();
  __shared__ __align__(16) float sh[kMaxThreads * 8 * COLS];
  const int n = blockIdx.y;
  const int chunk = blockIdx.x;
  const int c8 = c / 8;
  const int lane = threadIdx.x % tpr;
  const int slot = threadIdx.x / tpr;
  const int slots = blockDim.x / tpr;
  const In sample = In::at(x, x2, c1, n, hw, c);
  const int64_t first = static_cast<int64_t>(chunk) * rows_per_block;
  const Row<BIAS> row0 = static_cast<Row<BIAS>>(first);
  const Row<BIAS> row1 = static_cast<Row<BIAS>>(first + rows_per_block < hw ? first + rows_per_block : hw);

  float pivot[COLS][8], s1[COLS][8], s2[COLS][8];
  bool has[COLS];
  Pack8 xb[COLS], xt[COLS];  // the addend's bias and nbias packs (BIAS)
#pragma unroll
  for (int k = 0; k < COLS; ++k) {
    has[k] = lane + k * tpr < c8;
    if (BIAS) load_addend(add, n, lane + k * tpr, has[k], xb[k], xt[k]);
    Pack8 p;
    p.u = has[k] ? sample.pack(Row<BIAS>(0), lane + k * tpr, c8) : make_uint4(0, 0, 0, 0);  // pixel 0 of the sample
    unpack_add<BIAS>(p, xb[k], xt[k], pivot[k]);
#pragma unroll
    for (int j = 0; j < 8; ++j) s1[k][j] = s2[k][j] = 0.f;
  }
  // a column a thread does not own reads zeros (and a zero addend) against a zero pivot: it adds nothing
  for (Row<BIAS> row = row0 + slot; row < row1; row += U * slots) {
    Pack8 v[U][COLS];
    load_rows<U, COLS>(v, sample, row, row1, slots, c8, lane, tpr, has);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (row + static_cast<Row<BIAS>>(u) * slots >= row1) break;
#pragma unroll
      for (int k = 0; k < COLS; ++k) {
        float f[8];
        unpack_add<BIAS>(v[u][k], xb[k], xt[k], f);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float a = f[j] - pivot[k][j];
          s1[k][j] += a;
          s2[k][j] = fmaf(a, a, s2[k][j]);
        }
      }
    }
  }
  // the block's slots added up per channel: sh[slot * c + channel], s1 then s2
  float* out = partial + (static_cast<int64_t>(n) * gridDim.x + chunk) * 2 * c;
#pragma unroll
  for (int pass = 0; pass < 2; ++pass) {
#pragma unroll
    for (int k = 0; k < COLS; ++k) {
      if (!has[k]) continue;
      float* dst = sh + slot * c + (lane + k * tpr) * 8;
      const float* src = pass == 0 ? s1[k] : s2[k];
      reinterpret_cast<float4*>(dst)[0] = make_float4(src[0], src[1], src[2], src[3]);
      reinterpret_cast<float4*>(dst)[1] = make_float4(src[4], src[5], src[6], src[7]);
    }
    __syncthreads();
    for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
      float t = 0.f;
      for (int s = 0; s < slots; ++s) t += sh[s * c + ch];
      out[pass * c + ch] = t;
    }
    __syncthreads();
  }
}

// group_stats' pivots: channel ch's value at the sample's pixel 0 and the addend's terms at ch, as halves (x, b, t;
// b and t zero where the term is null), loaded by load_pivot and turned into the pivot by pivot_value apart, so that a
// lane issues all its loads before it waits for any.
template <typename In>
__device__ __forceinline__ void load_pivot(const In& first, const __half* bias, const __half* nbias_row, int ch, __half& x,
                                           __half& b, __half& t) {
  x = first.first(ch);
  b = bias != nullptr ? bias[ch] : __ushort_as_half(0);
  t = nbias_row != nullptr ? nbias_row[ch] : __ushort_as_half(0);
}

// The pivot as channel_sums<COLS, BIAS> took it: with an addend (biased) x + b + t as unpack_add<true> computes it (fp32
// sum in this order, rounded once to fp16), otherwise x.
__device__ __forceinline__ float pivot_value(bool biased, __half x, __half b, __half t) {
  return biased ? __half2float(__float2half_rn(__half2float(x) + __half2float(b) + __half2float(t))) : __half2float(x);
}

// Mean and 1/sqrt(var + eps) of each (sample, group) from the channel_sums partials (in fp64), folded with gamma and
// beta into ab = [a (c floats), b (c floats)] per sample, y = x * a + b.
//   sum over the group of (x - mean)^2 = sum over channels of s2 - 2 (mean - p) s1 + hw (mean - p)^2
// expanded into five sums: s1, s2 and p * s1 over the group's chunks * d (chunk, channel) pairs of partials, p and p^2
// over its d channels (d = c / groups). With an addend (bias or nbias not null) the pivots p are pixel 0's values with
// it, as channel_sums<COLS, true> took them.
// Layout: `wpg` warps (1, 2, 4, 8 or 16: stats_warps) per (sample, group) = item n * groups + g, blocks of
// max(wpg, kStatsBlockWarps) warps, consecutive items in consecutive warps. The group's 32 * wpg threads stride over
// its pairs (the (chunk, channel) index kept as two counters, no division per pair), each issuing the loads of
// kStatsUnroll pairs (partials and pivots) before it adds any; each warp adds the five sums up by xor shuffles (every
// lane gets the same bits), and the warps of one group add their totals in shared memory after one __syncthreads, in
// warp order (every thread again the same bits); then the group's threads write a and b of channels t, t + 32 * wpg,
// ... (t: the thread's index in the group; gamma, beta and the pivot of channel t are loaded before the sums). A
// block's spare warps past the last item redo the last item and write nothing (they must meet __syncthreads).
template <typename In>
__global__ void __launch_bounds__(kStatsMaxWarps * 32)
    group_stats(const __half* __restrict__ x, const __half* __restrict__ x2, int c1, Addend add,
                const float* __restrict__ partial, int chunks, const __half* __restrict__ gamma,
                const __half* __restrict__ beta, float* __restrict__ ab, int64_t hw, int c, int groups, int items,
                int wpg, float eps) {
  constexpr int U = kStatsUnroll;
  __shared__ double sh[kStatsMaxWarps][5];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int item0 = blockIdx.x * (static_cast<int>(blockDim.x / 32) / wpg) + warp / wpg;
  const bool live = item0 < items;
  const int item = live ? item0 : items - 1;
  const int n = item / groups;
  const int d = c / groups;
  const int ch0 = (item % groups) * d;
  const int threads = 32 * wpg;            // the group's threads
  const int t = (warp % wpg) * 32 + lane;  // this one among them
  const In first = In::at(x, x2, c1, n, hw, c);  // the pivots: pixel 0 of the sample
  const bool biased = add.bias != nullptr || add.nbias != nullptr;
  const __half* nbias_row = add.nbias != nullptr ? add.nbias + n * add.nbias_stride : nullptr;
  // channel t's pivot, gamma and beta (1 and 0 where null: the same a and b as without them), loaded ahead of the sums
  __half px_t = __ushort_as_half(0), pb_t = px_t, pt_t = px_t, gamma_t = __float2half(1.f), beta_t = px_t;
  if (t < d) {
    load_pivot(first, add.bias, nbias_row, ch0 + t, px_t, pb_t, pt_t);
    if (gamma != nullptr) gamma_t = gamma[ch0 + t];
    if (beta != nullptr) beta_t = beta[ch0 + t];
  }
  double v[5] = {0, 0, 0, 0, 0};  // s1, s2, ps1, p1, p2
  const float* part = partial + static_cast<int64_t>(n) * chunks * 2 * c + ch0;
  const int dk = threads / d;  // a stride of `threads` pairs: dk chunks and dj channels
  const int dj = threads % d;
  int k = t / d;  // pair t: chunk k, channel j of the group
  int j = t % d;
  while (k < chunks) {
    bool in[U];
    float q1[U], q2[U];  // the pairs' partial s1 and s2
    __half px[U], pb[U], pt[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      in[u] = k < chunks;
      const int off = k * 2 * c + j;  // < chunks * 2c, far below 2^31
      q1[u] = in[u] ? part[off] : 0.f;
      q2[u] = in[u] ? part[off + c] : 0.f;
      load_pivot(first, add.bias, nbias_row, ch0 + j, px[u], pb[u], pt[u]);  // j < d: a channel of the group
      j += dj;
      k += dk;
      if (j >= d) {
        j -= d;
        ++k;
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (!in[u]) continue;
      const double a = q1[u];
      v[0] += a;
      v[1] += q2[u];
      v[2] += static_cast<double>(pivot_value(biased, px[u], pb[u], pt[u])) * a;
    }
  }
  for (int jj = t; jj < d; jj += threads) {
    if (jj != t) load_pivot(first, add.bias, nbias_row, ch0 + jj, px_t, pb_t, pt_t);  // d > 32 * wpg
    const double p = pivot_value(biased, px_t, pb_t, pt_t);
    v[3] += p;
    v[4] += p * p;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
    for (int m = 0; m < 5; ++m) v[m] += __shfl_xor_sync(0xffffffffu, v[m], o);
  }
  if (wpg > 1) {  // the same for the whole block
    if (lane == 0) {
#pragma unroll
      for (int m = 0; m < 5; ++m) sh[warp][m] = v[m];
    }
    __syncthreads();
    const int w0 = warp - warp % wpg;
#pragma unroll
    for (int m = 0; m < 5; ++m) {
      double total = sh[w0][m];
      for (int w = 1; w < wpg; ++w) total += sh[w0 + w][m];
      v[m] = total;
    }
  }
  if (!live) return;
  const double s1 = v[0], s2 = v[1], ps1 = v[2], p1 = v[3], p2 = v[4];
  const double hwd = static_cast<double>(hw);
  const double mean = (s1 + hwd * p1) / (hwd * d);
  double var = (s2 - 2.0 * (mean * s1 - ps1) + hwd * (d * mean * mean - 2.0 * mean * p1 + p2)) / (hwd * d);
  if (var < 0) var = 0;
  const double rstd = 1.0 / sqrt(var + eps);
  float* a_out = ab + static_cast<int64_t>(n) * 2 * c;
  for (int jj = t; jj < d; jj += threads) {
    const int ch = ch0 + jj;
    if (jj != t) {  // d > 32 * wpg
      if (gamma != nullptr) gamma_t = gamma[ch];
      if (beta != nullptr) beta_t = beta[ch];
    }
    const double a = rstd * __half2float(gamma_t);
    const double b = __half2float(beta_t) - mean * a;
    a_out[ch] = static_cast<float>(a);
    a_out[c + ch] = static_cast<float>(b);
  }
}

// silu_note: SiLU as s / (1 + e^-s) with __expf and __fdividef (x · rcp.approx(y): 2 ulp, where an IEEE division is a
// dozen instructions with a slow path). With the IEEE division the SiLU passes were bound by their arithmetic, not by
// memory: on an H200 (issue 17, session 12's profile, batch 16) the normalising pass over 16x320x64x64 took 32.6 us with
// SiLU against 20.7 us without (4.05 TB/s), 34.8 us with the addend; the SiLU passes of a batch-16 UNet call 0.92 ms,
// of a 512x512 VAE decode 0.65 ms. For s below about -87, 1 + e^-s is above 2^126 (+inf below about -88.7) and
// __fdividef's quotient is -0 by its documented rule: SiLU's limit.
// Two outputs of y = x * a + b from their fp32 values s and t: SiLU of each (SILU, silu_note), then as an e4m3 pair
// into e (F8: e4m3x2, s in the low byte) or as fp16 into h. apply_norm's and group_norm_one's last step.
template <bool SILU, bool F8>
__device__ __forceinline__ void norm_out_pair(float s, float t, unsigned int& e, __half2& h) {
  if (SILU) {  // s·sigmoid(s): ex2.approx and rcp.approx (2 ulp), no IEEE division (see silu_note)
    s = __fdividef(s, 1.f + __expf(-s));
    t = __fdividef(t, 1.f + __expf(-t));
  }
  if constexpr (F8) {
    e = e4m3x2(s, t);
  } else {
    h = __floats2half2_rn(s, t);
  }
}

// F8: y gets e4m3 bytes (8 per pack: SiLU's fp32 value converted once, the file's header), else fp16.
template <int COLS, bool SILU, bool BIAS, typename In, bool F8 = false>
__global__ void __launch_bounds__(kMaxThreads, COLS == 1 ? 2 : 1)
    apply_norm(const __half* __restrict__ x, const __half* __restrict__ x2, int c1, Addend add, void* __restrict__ y,
               const float* __restrict__ ab, int64_t hw, int c, int64_t rows_per_block, int tpr) {
  static_assert(!F8 || SILU, "the e4m3 output follows SiLU");
  constexpr int U = unroll<COLS, BIAS>();
  const int n = blockIdx.y;
  const int c8 = c / 8;
  const int lane = threadIdx.x % tpr;
  const int slot = threadIdx.x / tpr;
  const int slots = blockDim.x / tpr;
  const In in = In::at(x, x2, c1, n, hw, c);
  using Out = typename std::conditional<F8, uint2, uint4>::type;  // a pack of 8 outputs
  Out* out = reinterpret_cast<Out*>(y) + static_cast<int64_t>(n) * hw * c8;  // in packs of 8
  // (in this form ptxas fits apply_norm<1, true, true> in 64 registers for sm_80 to sm_90 without spilling)
  const Row<BIAS> row0 = static_cast<Row<BIAS>>(blockIdx.x * rows_per_block);
  const Row<BIAS> row1 = static_cast<Row<BIAS>>(
      blockIdx.x * rows_per_block + rows_per_block < hw ? blockIdx.x * rows_per_block + rows_per_block : hw);

  float a[COLS][8], b[COLS][8];
  bool has[COLS];
  Pack8 xb[COLS], xt[COLS];  // the addend's bias and nbias packs (BIAS)
  const float* fold = ab + static_cast<int64_t>(n) * 2 * c;
#pragma unroll
  for (int k = 0; k < COLS; ++k) {
    const int col = lane + k * tpr;
    has[k] = col < c8;
    if (BIAS) load_addend(add, n, col, has[k], xb[k], xt[k]);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      a[k][j] = has[k] ? fold[col * 8 + j] : 0.f;
      b[k][j] = has[k] ? fold[c + col * 8 + j] : 0.f;
    }
  }
  for (Row<BIAS> row = row0 + slot; row < row1; row += U * slots) {
    Pack8 v[U][COLS];
    load_rows<U, COLS>(v, in, row, row1, slots, c8, lane, tpr, has);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const Row<BIAS> r = row + static_cast<Row<BIAS>>(u) * slots;
#pragma unroll
      for (int k = 0; k < COLS; ++k) {
        if (r >= row1 || !has[k]) continue;
        float f[8];
        unpack_add<BIAS>(v[u][k], xb[k], xt[k], f);
        Pack8 q;
        unsigned int e[4];  // F8: the e4m3 pairs
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          norm_out_pair<SILU, F8>(fmaf(f[2 * j], a[k][2 * j], b[k][2 * j]),
                                  fmaf(f[2 * j + 1], a[k][2 * j + 1], b[k][2 * j + 1]), e[j], q.h[j]);
        }
        if constexpr (F8) {
          out[r * c8 + lane + k * tpr] = E4m3Of<8>::of(e);
        } else {
          out[r * c8 + lane + k * tpr] = q.u;
        }
      }
    }
  }
}

// ---- one launch for small groups: group_norm_one ----------------------------------------------------------------

constexpr int kOneThreads = 512;  // threads of a group_norm_one block at most
constexpr int kOneMaxChannels = 1024;  // channels per group at most (their a and b, or addend terms, in shared memory)
constexpr int kOneVectorsPerThread = 4;  // vectors per thread the block size aims at (fewer threads for small groups)

// Values a thread holds at most with vectors of v halves: 48 (24 registers) for 8- and 16-byte vectors, 32 for 4-byte
// ones (whose many loads take more registers to address). With 64 halves ptxas spilled at the 64 registers that two
// 512-thread blocks per SM allow (and took 73-83 without that bound: one block per SM); with these none spills (62-64).
// A group of hw * d values fits a block where hw * d <= kOneThreads * one_halves(v): 24576, or 16384 for v = 2.
__host__ __device__ constexpr int one_halves(int v) {
  return v == 2 ? 32 : 48;
}

// The bits of V halves (one load or store: 4, 8 or 16 bytes).
template <int V>
struct HalvesOf;
template <>
struct HalvesOf<2> {
  using T = unsigned int;
};
template <>
struct HalvesOf<4> {
  using T = uint2;
};
template <>
struct HalvesOf<8> {
  using T = uint4;
};

template <int V>
union PackV {
  typename HalvesOf<V>::T u;
  __half2 h[V / 2];
};

// A thread's vectors t, t + threads, t + 2 threads, ... of a group whose pixel rows hold dv vectors each, as (pixel
// row, vector of the row) counters: a stride of `threads` vectors is dk rows and dj vectors (no division per vector).
// (Each walk starts from an opaque copy of t: otherwise the compiler keeps every vector's offset from the loads to the
// stores, a register each, 32 for V = 2, rather than recount them.)
struct VectorWalk {
  int row;
  int col;
  int dk;
  int dj;
  int dv;
  __device__ __forceinline__ VectorWalk(int t, int threads, int dv_) : dk(threads / dv_), dj(threads % dv_), dv(dv_) {
    asm volatile("" : "+r"(t));
    row = t / dv_;
    col = t % dv_;
  }
  __device__ __forceinline__ void next() {
    row += dk;
    col += dj;
    if (col >= dv) {
      col -= dv;
      ++row;
    }
  }
};

// Adds M doubles up over the block (whole warps, at most kOneThreads threads): xor shuffles in each warp, then every
// thread adds the warps' totals from sh in warp order (every thread gets the same bits). One __syncthreads: sh must not
// be written again before another barrier.
template <int M>
__device__ __forceinline__ void block_sum(double (&v)[M], double (&sh)[kOneThreads / 32][M]) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
    for (int m = 0; m < M; ++m) v[m] += __shfl_xor_sync(0xffffffffu, v[m], o);
  }
  if (threadIdx.x % 32 == 0) {
#pragma unroll
    for (int m = 0; m < M; ++m) sh[threadIdx.x / 32][m] = v[m];
  }
  __syncthreads();
  const int warps = blockDim.x / 32;
#pragma unroll
  for (int m = 0; m < M; ++m) {
    double total = sh[0][m];
    for (int w = 1; w < warps; ++w) total += sh[w][m];
    v[m] = total;
  }
}

// GroupNorm (+ SiLU) of one (sample, group) per block, blockIdx.x = n * groups + g, in one launch. The group's d
// channels (d = c / groups, a multiple of V; hw * d <= kOneThreads * one_halves(V), d <= kOneMaxChannels) at its hw
// pixels are hw * d / V vectors of V halves (16, 8 or 4 bytes: the group's first channel and the rows' stride are
// multiples of V); the block's threads (whole warps, threads * one_halves(V) / V >= the vectors) hold vectors t,
// t + threads, ... in registers, all loads issued before any is used. With an addend (BIAS), x + bias + nbias as
// unpack_add computes it (fp32 sum in this order, rounded once to fp16; the terms staged in shared memory), kept as the
// fp16 values. Then, two-pass from the registers, each sum added up per thread in fp32 and over the block in fp64
// (block_sum): the mean m = sum x / (hw d), then m_f = m rounded to fp32, s1 = sum (x - m_f), s2 = sum (x - m_f)^2:
//   mean = m_f + s1 / (hw d), var = s2 / (hw d) - (s1 / (hw d))^2 (the corrected two-pass formula), clamped at 0;
// a = rstd * gamma, b = beta - mean * a in fp64 as group_stats folds them (per channel, in shared memory as floats),
// and y = x * a + b (then SiLU: silu_note) as apply_norm writes it, from the registers (F8: as e4m3 bytes, as
// apply_norm<..., true> writes them).
template <int V, bool SILU, bool BIAS, typename In, bool F8 = false>
__global__ void __launch_bounds__(kOneThreads, 2)
    group_norm_one(const __half* __restrict__ x, const __half* __restrict__ x2, int c1, Addend add,
                   void* __restrict__ y, const __half* __restrict__ gamma, const __half* __restrict__ beta, int hw,
                   int c, int groups, float eps) {
  static_assert(!F8 || SILU, "the e4m3 output follows SiLU");
  using Vec = typename HalvesOf<V>::T;
  constexpr int K = one_halves(V) / V;  // vectors a thread holds at most
  __shared__ __align__(8) float sa[kOneMaxChannels];  // the group's bias terms (BIAS), then a
  __shared__ __align__(8) float sb[kOneMaxChannels];  // ... its nbias terms (BIAS), then b
  __shared__ double red1[kOneThreads / 32][1];
  __shared__ double red2[kOneThreads / 32][2];
  const int n = blockIdx.x / groups;
  const int d = c / groups;
  const int ch0 = (blockIdx.x % groups) * d;
  const int dv = d / V;
  const int vecs = hw * dv;  // <= kOneThreads * K
  const int threads = blockDim.x;
  const int t = threadIdx.x;
  const In in = In::at(x, x2, c1, n, hw, c);

  PackV<V> v[K];
  {
    VectorWalk w(t, threads, dv);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (w.row < hw) {
        v[k].u = in.template vec<Vec>(w.row, ch0 + w.col * V, c);
      } else {
        v[k].u = Vec{};
      }
      w.next();
    }
  }
  // channel t's gamma and beta (1 and 0 where null), loaded ahead of the sums
  __half gamma_t = __float2half(1.f), beta_t = __ushort_as_half(0);
  if (t < d) {
    if (gamma != nullptr) gamma_t = gamma[ch0 + t];
    if (beta != nullptr) beta_t = beta[ch0 + t];
  }
  if (BIAS) {
    const __half* nbias_row = add.nbias != nullptr ? add.nbias + n * add.nbias_stride : nullptr;
    for (int j = t; j < d; j += threads) {
      sa[j] = add.bias != nullptr ? __half2float(add.bias[ch0 + j]) : 0.f;
      sb[j] = nbias_row != nullptr ? __half2float(nbias_row[ch0 + j]) : 0.f;
    }
    __syncthreads();
    VectorWalk w(t, threads, dv);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (w.row < hw) {
#pragma unroll
        for (int j = 0; j < V / 2; ++j) {
          const int cc = w.col * V + 2 * j;
          const float2 f = __half22float2(v[k].h[j]);
          v[k].h[j] = __floats2half2_rn(f.x + sa[cc] + sb[cc], f.y + sa[cc + 1] + sb[cc + 1]);
        }
      }
      w.next();
    }
  }
  const double count = static_cast<double>(hw) * d;
  double m1[1];
  {
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (t + k * threads >= vecs) break;
#pragma unroll
      for (int j = 0; j < V / 2; ++j) {
        const float2 f = __half22float2(v[k].h[j]);
        s += f.x;
        s += f.y;
      }
    }
    m1[0] = s;
  }
  block_sum<1>(m1, red1);
  const float mf = static_cast<float>(m1[0] / count);
  double m2[2];
  {
    float s1 = 0.f, s2 = 0.f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      if (t + k * threads >= vecs) break;
#pragma unroll
      for (int j = 0; j < V / 2; ++j) {
        const float2 f = __half22float2(v[k].h[j]);
        const float a0 = f.x - mf;
        const float a1 = f.y - mf;
        s1 += a0;
        s2 = fmaf(a0, a0, s2);
        s1 += a1;
        s2 = fmaf(a1, a1, s2);
      }
    }
    m2[0] = s1;
    m2[1] = s2;
  }
  block_sum<2>(m2, red2);  // (the addend's readers of sa and sb passed block_sum<1>'s barrier)
  const double dev = m2[0] / count;
  const double mean = mf + dev;
  double var = m2[1] / count - dev * dev;
  if (var < 0) var = 0;
  const double rstd = 1.0 / sqrt(var + eps);
  for (int j = t; j < d; j += threads) {
    if (j != t) {  // d > threads
      if (gamma != nullptr) gamma_t = gamma[ch0 + j];
      if (beta != nullptr) beta_t = beta[ch0 + j];
    }
    const double a = rstd * __half2float(gamma_t);
    const double b = __half2float(beta_t) - mean * a;
    sa[j] = static_cast<float>(a);
    sb[j] = static_cast<float>(b);
  }
  __syncthreads();
  const int64_t out0 = static_cast<int64_t>(n) * hw * c;  // the sample's first output element
  VectorWalk w(t, threads, dv);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    if (w.row >= hw) break;
    PackV<V> q;
    unsigned int e[V / 2];  // F8: the e4m3 pairs
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      const int cc = w.col * V + 2 * j;
      const float2 f = __half22float2(v[k].h[j]);
      const float2 a = *reinterpret_cast<const float2*>(sa + cc);
      const float2 b = *reinterpret_cast<const float2*>(sb + cc);
      norm_out_pair<SILU, F8>(fmaf(f.x, a.x, b.x), fmaf(f.y, a.y, b.y), e[j], q.h[j]);
    }
    const int64_t at = out0 + w.row * c + ch0 + w.col * V;
    if constexpr (F8) {
      *reinterpret_cast<typename E4m3Of<V>::T*>(static_cast<uint8_t*>(y) + at) = E4m3Of<V>::of(e);
    } else {
      *reinterpret_cast<Vec*>(static_cast<__half*>(y) + at) = q.u;
    }
    w.next();
  }
}

// Blocks of `threads` threads of `kernel` that fit on one SM at once, cached per block size (warps).
template <typename Kernel>
int resident_blocks(Kernel kernel, int threads, std::atomic<int>* cache) {
  const int warps = (threads + 31) / 32;
  int v = cache[warps].load(std::memory_order_relaxed);
  if (v == 0) {
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, kernel, threads, 0) != cudaSuccess || v < 1) v = 1;
    cache[warps].store(v, std::memory_order_relaxed);
  }
  return v;
}

// The input as the launches pass it to the kernels (x, x2, c1: OneInput / TwoInputs).
struct Source {
  const __half* x;
  const __half* x2;  // null for OneInput
  int c1;            // TwoInputs: x's channels
};

// The kernels' variants by input: one tensor, one tensor with an addend, two tensors (no addend).
template <bool BIAS, typename In>
constexpr int variant() {
  return std::is_same<In, TwoInputs>::value ? 2 : BIAS ? 1 : 0;
}

std::atomic<int> sums_cache[2][kMaxColumns + 1][kMaxThreads / 32 + 1];
std::atomic<int> apply_cache[3][kMaxColumns + 1][3][kMaxThreads / 32 + 1];  // [variant][COLS][SILU + F8]

// (Two inputs split their rows by the one-input kernel's occupancy too: sum_chunks decides how each channel's sum is
// added up, so the same split gives the same fp32 partials, bit for bit, as on the concatenation.)
int sums_resident(const Layout& l, bool biased) {
  if (biased) {
    return l.columns == 1 ? resident_blocks(channel_sums<1, true, OneInput>, l.threads(), sums_cache[1][1])
                          : resident_blocks(channel_sums<2, true, OneInput>, l.threads(), sums_cache[1][2]);
  }
  return l.columns == 1 ? resident_blocks(channel_sums<1, false, OneInput>, l.threads(), sums_cache[0][1])
                        : resident_blocks(channel_sums<2, false, OneInput>, l.threads(), sums_cache[0][2]);
}

// Pixel chunks per sample (blocks along x): about one wave of `resident` blocks per SM over all samples, at
// least `min_rows` rows each. Sets rows_per_block.
int64_t chunks_for(int n, int64_t hw, int resident, int sm_count, int64_t min_rows, int64_t* rows_per_block) {
  int64_t chunks = static_cast<int64_t>(resident) * sm_count / n;
  const int64_t max_chunks = (hw + min_rows - 1) / min_rows;
  if (chunks > max_chunks) chunks = max_chunks;
  if (chunks < 1) chunks = 1;
  *rows_per_block = (hw + chunks - 1) / chunks;
  return (hw + *rows_per_block - 1) / *rows_per_block;
}

// channel_sums' chunks: at least 4 rows per slot and 16 per block (a partial is 2C floats against the 2C
// bytes of a row: 16 rows keep the partials at most 1/4 of the input, far less for large tensors).
// (The biased kernels may hold more registers, hence their own occupancy: `biased` must be the same here as at launch.)
int64_t sum_chunks(int n, int64_t hw, int c, bool biased, int sm_count, int64_t* rows_per_block) {
  const Layout l = layout_for(c);
  const int64_t min_rows = 4LL * l.slots > 16 ? 4LL * l.slots : 16;
  return chunks_for(n, hw, sums_resident(l, biased), sm_count, min_rows, rows_per_block);
}

template <int COLS, bool BIAS, typename In>
void launch_sums(const Layout& l, const dim3& grid, const Source& x, const Addend& add, float* partial, int64_t hw,
                 int c, int64_t rows_per_block, cudaStream_t stream) {
  channel_sums<COLS, BIAS, In><<<grid, l.threads(), 0, stream>>>(x.x, x.x2, x.c1, add, partial, hw, c, rows_per_block,
                                                                 l.tpr);
}

template <int COLS, bool SILU, bool BIAS, typename In, bool F8 = false>
void launch_apply(const Layout& l, const Source& x, const Addend& add, void* y, const float* ab, int n, int64_t hw, int c,
                  int sm_count, cudaStream_t stream) {
  const int resident = resident_blocks(apply_norm<COLS, SILU, BIAS, In, F8>, l.threads(),
                                       apply_cache[variant<BIAS, In>()][COLS][(SILU ? 1 : 0) + (F8 ? 1 : 0)]);
  int64_t rows_per_block = 0;
  const int64_t chunks = chunks_for(n, hw, resident, sm_count, static_cast<int64_t>(unroll<COLS, BIAS>()) * l.slots,
                                    &rows_per_block);
  apply_norm<COLS, SILU, BIAS, In, F8><<<dim3(static_cast<unsigned>(chunks), n), l.threads(), 0, stream>>>(
      x.x, x.x2, x.c1, add, y, ab, hw, c, rows_per_block, l.tpr);
}

// (f8: e4m3 output after SiLU, silu ignored)
template <int COLS, bool BIAS, typename In>
void dispatch_apply(bool silu, bool f8, const Layout& l, const Source& x, const Addend& add, void* y, const float* ab,
                    int n, int64_t hw, int c, int sm_count, cudaStream_t stream) {
  f8     ? launch_apply<COLS, true, BIAS, In, true>(l, x, add, y, ab, n, hw, c, sm_count, stream)
  : silu ? launch_apply<COLS, true, BIAS, In>(l, x, add, y, ab, n, hw, c, sm_count, stream)
         : launch_apply<COLS, false, BIAS, In>(l, x, add, y, ab, n, hw, c, sm_count, stream);
}

// group_stats' warps per (sample, group) for its chunks * d pairs of partials: the fewest of 1, 2, 4, 8, 16 that load
// them all in one round of kStatsUnroll pairs per lane, else 16. On an H200 (132 SMs), SD 1.5's UNet at batch 16 (16
// chunks from 16x16 up) takes one warp for 10 channels per group, two for 20 or 30, four for 40 or 60, eight for 80;
// at batch 2, 320 channels at 64x64 (86 chunks of 10) four, 640 at 64x64 (128 chunks of 20) sixteen. The same for one tensor and
// two (their chunks are the same), so both add in the same order.
int stats_warps(int64_t pairs) {
  int w = 1;
  while (w < kStatsMaxWarps && pairs > static_cast<int64_t>(32) * w * kStatsUnroll) w *= 2;
  return w;
}

// SD_GROUP_NORM_ONE_PASS (sd_group_norm_nhwc_set_one_pass): small groups in one launch (on) or all in three.
std::atomic<bool> one_pass_on{true};

// group_norm_one's vector for d channels per group: the most halves of 8, 4, 2 that divide d (0 for an odd d: the
// three launches).
int one_pass_width(int d) {
  return d % 8 == 0 ? 8 : d % 4 == 0 ? 4 : d % 2 == 0 ? 2 : 0;
}

// Whether (n, hw, c) in `groups` groups takes group_norm_one: the switch on, d = c / groups even, at most
// kOneMaxChannels, and a group's hw * d values fit in a block's registers (kOneThreads * one_halves: 24576 values,
// 16384 where d is not a multiple of 4). In SD 1.5's UNet (32 groups) that is the 8x8 level (hw * d: 2560 for 1280
// channels, 5120 for 2560), the 16x16 level (5120 for 640, 10240 for 1280, 15360 for 1920, 20480 for 2560) and the
// 32x32 level's 320 and 640 channels (10240, 20480), not its 960, 1280, 1920 (30720 and more) nor the 64x64 level
// (40960 for 320) nor the VAE (65536 and more). A block per (sample, group): n * 32 blocks, 64 at batch 2, 512 at
// batch 16; two blocks of 512 threads fit on an SM (64 registers a thread: the values take 24 at most), more of the
// smaller blocks of small groups. The same for one tensor and two (c = c1 + c2), so both stay bit for bit equal.
bool one_pass(int64_t hw, int c, int groups) {
  const int d = c / groups;
  const int v = one_pass_width(d);
  return one_pass_on.load(std::memory_order_relaxed) && v != 0 && d <= kOneMaxChannels &&
         hw * d <= static_cast<int64_t>(kOneThreads) * one_halves(v);
}

// group_norm_one's threads for a group of `vectors` vectors: about kOneVectorsPerThread each, whole warps, at most
// kOneThreads (then at most one_halves(V) / V each, as one_pass allows no more vectors).
int one_pass_threads(int64_t vectors) {
  int64_t t = (vectors + kOneVectorsPerThread - 1) / kOneVectorsPerThread;
  t = (t + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : t > kOneThreads ? kOneThreads : t);
}

template <int V, bool SILU, bool BIAS, typename In, bool F8>
void launch_one(const Source& x, const Addend& add, void* y, const __half* gamma, const __half* beta, int n,
                int64_t hw, int c, int groups, float eps, cudaStream_t stream) {
  const int threads = one_pass_threads(hw * (c / groups) / V);
  group_norm_one<V, SILU, BIAS, In, F8><<<n * groups, threads, 0, stream>>>(x.x, x.x2, x.c1, add, y, gamma, beta,
                                                                        static_cast<int>(hw), c, groups, eps);
}

template <bool SILU, bool BIAS, typename In, bool F8 = false>
void dispatch_one_width(const Source& x, const Addend& add, void* y, const __half* gamma, const __half* beta, int n,
                        int64_t hw, int c, int groups, float eps, cudaStream_t stream) {
  switch (one_pass_width(c / groups)) {
    case 8:
      launch_one<8, SILU, BIAS, In, F8>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream);
      break;
    case 4:
      launch_one<4, SILU, BIAS, In, F8>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream);
      break;
    default:
      launch_one<2, SILU, BIAS, In, F8>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream);
      break;
  }
}

// GroupNorm on input x (c channels) + add: in one launch where one_pass says so, else in three. A two-tensor input
// has no addend (BIAS false). f8: SiLU, then e4m3 bytes into y (silu ignored); else fp16 halves.
template <bool BIAS, typename In>
void group_norm(const Source& x, const Addend& add, void* y, const __half* gamma, const __half* beta, float* work, int n,
                int64_t hw, int c, int groups, float eps, bool silu, bool f8, int sm_count, cudaStream_t stream) {
  if (one_pass(hw, c, groups)) {
    f8     ? dispatch_one_width<true, BIAS, In, true>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream)
    : silu ? dispatch_one_width<true, BIAS, In>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream)
           : dispatch_one_width<false, BIAS, In>(x, add, y, gamma, beta, n, hw, c, groups, eps, stream);
    return;
  }
  const Layout l = layout_for(c);
  int64_t rows_per_block = 0;
  const int64_t chunks = sum_chunks(n, hw, c, BIAS, sm_count, &rows_per_block);
  float* partial = work;
  float* ab = work + static_cast<int64_t>(n) * chunks * 2 * c;
  const dim3 grid(static_cast<unsigned>(chunks), n);
  l.columns == 1 ? launch_sums<1, BIAS, In>(l, grid, x, add, partial, hw, c, rows_per_block, stream)
                 : launch_sums<2, BIAS, In>(l, grid, x, add, partial, hw, c, rows_per_block, stream);
  const int wpg = stats_warps(chunks * (c / groups));
  const int block_warps = wpg > kStatsBlockWarps ? wpg : kStatsBlockWarps;
  const int items = n * groups;
  const int per_block = block_warps / wpg;
  group_stats<In><<<(items + per_block - 1) / per_block, block_warps * 32, 0, stream>>>(
      x.x, x.x2, x.c1, add, partial, static_cast<int>(chunks), gamma, beta, ab, hw, c, groups, items, wpg, eps);
  l.columns == 1 ? dispatch_apply<1, BIAS, In>(silu, f8, l, x, add, y, ab, n, hw, c, sm_count, stream)
                 : dispatch_apply<2, BIAS, In>(silu, f8, l, x, add, y, ab, n, hw, c, sm_count, stream);
}

}  // namespace

// Whether the kernels handle this shape (otherwise the caller falls back to PyTorch's group_norm).
extern "C" bool sd_group_norm_nhwc_supported(int c, int groups) {
  return groups > 0 && c % 8 == 0 && c % groups == 0 && c / 8 <= kMaxThreads * kMaxColumns;
}

// Whether the kernels read the channel concatenation of c1 and c2 channels in place (sd_group_norm_nhwc_two): both
// multiples of 8 (a 16-byte pack of 8 channels lies in one tensor) and the concatenation supported.
extern "C" bool sd_group_norm_nhwc_two_supported(int c1, int c2, int groups) {
  return c1 > 0 && c2 > 0 && c1 % 8 == 0 && c2 % 8 == 0 && sd_group_norm_nhwc_supported(c1 + c2, groups);
}

// Whether sd_group_norm_nhwc (and sd_group_norm_nhwc_two, c = c1 + c2) normalise hw pixels of c channels in `groups`
// groups in one launch (group_norm_one) rather than three, as the switch is set now (any batch size: the choice does
// not depend on it).
extern "C" bool sd_group_norm_nhwc_one_pass(int64_t hw, int c, int groups) {
  return sd_group_norm_nhwc_supported(c, groups) && one_pass(hw, c, groups);
}

// SD_GROUP_NORM_ONE_PASS: small groups in one launch (true, the default) or every shape in three launches (false).
// Read at each launch: CUDA graphs keep the launches they captured.
extern "C" void sd_group_norm_nhwc_set_one_pass(bool on) {
  one_pass_on.store(on, std::memory_order_relaxed);
}

// Whether the kernels with an addend (bias or nbias) handle hw pixels of c channels: their row indices are 32-bit.
extern "C" bool sd_group_norm_nhwc_biased_supported(int64_t hw, int c) {
  return hw * (c / 8) < (1LL << 31) - 4LL * kMaxThreads;  // a thread's last row + U * slots stays below 2^31
}

// Floats of the work buffer sd_group_norm_nhwc needs for (n, hw, c) with (biased) or without an addend (bias or nbias
// not null): the channel_sums partials (n * chunks * 2c) and the folded a, b (n * 2c). It need not be zeroed. (The
// one-launch path uses none of it; the size does not depend on the switch, so a buffer sized before a change fits.)
// sd_group_norm_nhwc_two takes that of (n, hw, c1 + c2) without an addend.
extern "C" int64_t sd_group_norm_nhwc_work_floats(int n, int64_t hw, int c, bool biased, int sm_count) {
  int64_t rows_per_block = 0;
  const int64_t chunks = sum_chunks(n, hw, c, biased, sm_count, &rows_per_block);
  return static_cast<int64_t>(n) * (chunks + 1) * 2 * c;
}

namespace {

// sd_group_norm_nhwc and its e4m3 variant (f8).
int run_one(const void* x, void* y, const void* gamma, const void* beta, const void* bias, const void* nbias,
            int nbias_rows, float* work, int n, int64_t hw, int c, int groups, float eps, bool silu, bool f8,
            int sm_count, cudaStream_t stream) {
  const Source in{static_cast<const __half*>(x), nullptr, 0};
  const Addend add{static_cast<const __half*>(bias), static_cast<const __half*>(nbias),
                   nbias_rows == 1 ? 0 : static_cast<int64_t>(c)};
  const auto* g = static_cast<const __half*>(gamma);
  const auto* b = static_cast<const __half*>(beta);
  if (bias != nullptr || nbias != nullptr) {
    group_norm<true, OneInput>(in, add, y, g, b, work, n, hw, c, groups, eps, silu, f8, sm_count, stream);
  } else {
    group_norm<false, OneInput>(in, add, y, g, b, work, n, hw, c, groups, eps, silu, f8, sm_count, stream);
  }
  return static_cast<int>(cudaGetLastError());
}

// sd_group_norm_nhwc_two and its e4m3 variant (f8).
int run_two(const void* x1, const void* x2, void* y, const void* gamma, const void* beta, float* work, int n,
            int64_t hw, int c1, int c2, int groups, float eps, bool silu, bool f8, int sm_count, cudaStream_t stream) {
  const Source in{static_cast<const __half*>(x1), static_cast<const __half*>(x2), c1};
  group_norm<false, TwoInputs>(in, Addend{nullptr, nullptr, 0}, y, static_cast<const __half*>(gamma),
                               static_cast<const __half*>(beta), work, n, hw, c1 + c2, groups, eps, silu, f8, sm_count,
                               stream);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

// GroupNorm (+ SiLU) of x + bias + nbias. x, y: (n, hw, c) fp16, 16-byte aligned; gamma, beta: (c) fp16 or null;
// bias: (c) fp16 or null; nbias: (n, c), or (1, c) with nbias_rows = 1 (the same for every sample), fp16, or null
// (bias and nbias contiguous and 16-byte aligned; with either, sd_group_norm_nhwc_biased_supported); work: sd_group_norm_nhwc_work_floats floats, biased = (bias or
// nbias not null). Returns a CUDA error code (0 = success).
extern "C" int sd_group_norm_nhwc(const void* x, void* y, const void* gamma, const void* beta, const void* bias,
                                  const void* nbias, int nbias_rows, float* work, int n, int64_t hw, int c, int groups,
                                  float eps, bool silu, int sm_count, cudaStream_t stream) {
  return run_one(x, y, gamma, beta, bias, nbias, nbias_rows, work, n, hw, c, groups, eps, silu, false, sm_count,
                 stream);
}

// SiLU(GroupNorm(x + bias + nbias)) as e4m3 bytes: y8 (n, hw, c) = e4m3(SiLU(...)) with the static scale s_x = 1
// (the file's header: why 1 suffices), SiLU's fp32 value converted once (round to nearest even, saturating at +-448).
// Arguments and rules as sd_group_norm_nhwc's (y8 16-byte aligned); the kernels and their statistics are the same, so
// y8 differs from e4m3 of sd_group_norm_nhwc's fp16 output by at most one e4m3 step (the fp16 rounding between).
// Returns a CUDA error code (0 = success).
extern "C" int sd_group_norm_nhwc_silu_e4m3(const void* x, void* y8, const void* gamma, const void* beta,
                                            const void* bias, const void* nbias, int nbias_rows, float* work, int n,
                                            int64_t hw, int c, int groups, float eps, int sm_count,
                                            cudaStream_t stream) {
  return run_one(x, y8, gamma, beta, bias, nbias, nbias_rows, work, n, hw, c, groups, eps, true, true, sm_count,
                 stream);
}

// GroupNorm (+ SiLU) of the channel concatenation of x1 (n, hw, c1) and x2 (n, hw, c2), read in place: y (n, hw,
// c1 + c2) is bit for bit sd_group_norm_nhwc's on the concatenation. x1, x2, y fp16, 16-byte aligned;
// sd_group_norm_nhwc_two_supported(c1, c2, groups); gamma, beta: (c1 + c2) fp16 or null; work:
// sd_group_norm_nhwc_work_floats(n, hw, c1 + c2, false) floats. Returns a CUDA error code (0 = success).
extern "C" int sd_group_norm_nhwc_two(const void* x1, const void* x2, void* y, const void* gamma, const void* beta,
                                      float* work, int n, int64_t hw, int c1, int c2, int groups, float eps, bool silu,
                                      int sm_count, cudaStream_t stream) {
  return run_two(x1, x2, y, gamma, beta, work, n, hw, c1, c2, groups, eps, silu, false, sm_count, stream);
}

// sd_group_norm_nhwc_two with SiLU and the e4m3 output of sd_group_norm_nhwc_silu_e4m3: y8 (n, hw, c1 + c2) bytes,
// bit for bit sd_group_norm_nhwc_silu_e4m3's on the concatenation. Returns a CUDA error code (0 = success).
extern "C" int sd_group_norm_nhwc_two_silu_e4m3(const void* x1, const void* x2, void* y8, const void* gamma,
                                                const void* beta, float* work, int n, int64_t hw, int c1, int c2,
                                                int groups, float eps, int sm_count, cudaStream_t stream) {
  return run_two(x1, x2, y8, gamma, beta, work, n, hw, c1, c2, groups, eps, true, true, sm_count, stream);
}
