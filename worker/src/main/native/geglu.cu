// GEGLU's gate for fp16 tensors: out = a * gelu(g), where a and g are the two halves of the last dimension
// of the feed-forward projection h = (..., 2I). PyTorch needs three passes over I-wide tensors for this
// (gelu, then the product, each reading and writing memory); this is one pass reading h and writing out,
// 8 halves per load, computed in fp32 (exact erf GELU, as torch.nn.functional.gelu by default).
// No torch headers here: sd_native_ops.cc allocates the tensors and passes raw pointers and the stream.
// A second kernel (geglu_fp8_kernel) writes the gate's output as FP8 (e4m3) with one float32 scale per row, the input
// of ff.net.2's FP8 product (sd_native_ops.cc feed_forward_fp8; docs/GPU.md, "What runs on CUDA" 8). The same kernels,
// instantiated for an e4m3 h (16 values per 16-byte pack, each times one float32 scale read from the device: ff.net.0.proj
// written as e4m3 by cuBLASLt with a static scale, SD_FP8_GEGLU; sd_native_ops.cc feed_forward_fp8_e4m3), write the same
// FP8 output from it.
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "half_pack.cuh"

#include <cfloat>
#include <cstdint>
#include <utility>

namespace {

__device__ __forceinline__ float gelu(float g) { return 0.5f * g * (1.f + erff(g * 0.70710678118654752f)); }

__global__ void geglu_kernel(const __half* __restrict__ h, __half* __restrict__ out, int64_t rows, int inner) {
  const int i8 = inner / 8;
  const int64_t packs = rows * i8;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < packs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / i8;
    const int col = static_cast<int>(i % i8);
    const uint4* in = reinterpret_cast<const uint4*>(h + row * 2 * inner);
    Pack8 a, g, o;
    a.u = in[col];
    g.u = in[i8 + col];
    for (int j = 0; j < 4; ++j) {
      const float2 fa = __half22float2(a.h[j]);
      const float2 fg = __half22float2(g.h[j]);
      o.h[j] = __floats2half2_rn(fa.x * gelu(fg.x), fa.y * gelu(fg.y));
    }
    reinterpret_cast<uint4*>(out)[i] = o.u;
  }
}

// e4m3's largest finite value.
constexpr float kE4m3Max = 448.f;
// The FP8 kernel's block: at most this many threads, each holding up to P packs of 8 outputs of its row in registers.
constexpr int kFp8Threads = 256;

// The FP8 kernels' rounding rule, per row of I gate values v (fp32): amax = max |v|, the stored scale s = amax / 448
// and the multiplier r = min(448 / amax, FLT_MAX), both IEEE fp32 divisions (round to nearest even) made once per row
// (s = r = 1 where s is not positive: an all-zero row), and each value stored as e4m3(v * r): the fp32 product rounded
// to nearest even, then converted to e4m3 rounding to nearest even and saturating at ±448 (__NV_SATFINITE). v * r
// replaces an IEEE division v / s per value (a dozen instructions with a slow-path branch, most of the kernel's issue
// slots after erff). Both v * r and the correctly rounded v / s are within 2^-23 (relative) of the exact v * 448 /
// amax, so the e4m3 byte can differ from e4m3(v / s), by one step, only where v * 448 / amax lies within 2^-23 of an
// e4m3 rounding boundary (a midpoint between two e4m3 values); and s * r = 1 within 2^-23, which the product
// dequantising with s cannot see against e4m3's 2^-4. The row's amax still maps to 448 (within 2^-23 of it: saturated,
// or rounded down to it). r's bound only matters for rows whose amax is below 448 / FLT_MAX (~1.3e-36), where 0 * inf
// would make NaN: never from fp16 h (a nonzero v is at least 2^-49, the smallest fp16 subnormal times gelu of it), kept
// so that sd_native_ops.cc's fallback (any float type) and KernelSelfCheck.gateFp8Reference follow the same rule.
__device__ __forceinline__ void row_scale(float amax, float& s, float& r) {
  s = amax / kE4m3Max;
  r = fminf(kE4m3Max / amax, FLT_MAX);
  if (!(s > 0.f)) {  // an all-zero row (or amax below 448 times the smallest float)
    s = 1.f;
    r = 1.f;
  }
}

// One pack of 8 outputs' input as loaded: 8 fp16 values of a and the 8 of g at the same columns.
struct RawPack {
  Pack8 a, g;
};

// Pack `col` of a row's a (its first i8 packs) and of g (the next i8) into p: two 16-byte loads, or zeros where !ok
// (past the row's end: the gate of zeros is 0 and leaves the row's amax alone).
__device__ __forceinline__ void load_pack(const uint4* in, int i8, int col, bool ok, RawPack& p) {
  p.a.u = ok ? in[col] : make_uint4(0u, 0u, 0u, 0u);
  p.g.u = ok ? in[i8 + col] : make_uint4(0u, 0u, 0u, 0u);
}

// One pack of V gate outputs of a row for the FP8 kernels: v = a * gelu(g) in fp32 from a loaded pack, as
// geglu_kernel computes them before its fp16 rounding; returns amax grown by their magnitudes. V = 8: the pack holds 8
// fp16 values of a and of g (inv unused); V = 16: 16 e4m3 values of each (byte j the j-th value), each converted exactly
// (through fp16, which holds every e4m3 value) and multiplied by inv in fp32 before the gate: a = e4m3(a8) * inv, g =
// e4m3(g8) * inv.
template <int V>
__device__ __forceinline__ float gate_pack(const RawPack& p, float (&v)[V], float amax, float inv);

template <>
__device__ __forceinline__ float gate_pack<8>(const RawPack& p, float (&v)[8], float amax, float) {
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 fa = __half22float2(p.a.h[e]);
    const float2 fg = __half22float2(p.g.h[e]);
    v[2 * e] = fa.x * gelu(fg.x);
    v[2 * e + 1] = fa.y * gelu(fg.y);
    amax = fmaxf(amax, fmaxf(fabsf(v[2 * e]), fabsf(v[2 * e + 1])));
  }
  return amax;
}

// Two e4m3 values (the low byte first) as float2, exactly.
__device__ __forceinline__ float2 e4m3x2_float2(uint32_t two) {
  const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two & 0xffffu), __NV_E4M3);
  return __half22float2(__half2(raw));
}

template <>
__device__ __forceinline__ float gate_pack<16>(const RawPack& p, float (&v)[16], float amax, float inv) {
  const uint32_t aw[4] = {p.a.u.x, p.a.u.y, p.a.u.z, p.a.u.w};
  const uint32_t gw[4] = {p.g.u.x, p.g.u.y, p.g.u.z, p.g.u.w};
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const uint32_t as = aw[e / 2] >> (16 * (e % 2)), gs = gw[e / 2] >> (16 * (e % 2));
    const float2 fa = e4m3x2_float2(as);
    const float2 fg = e4m3x2_float2(gs);
    v[2 * e] = (fa.x * inv) * gelu(fg.x * inv);
    v[2 * e + 1] = (fa.y * inv) * gelu(fg.y * inv);
    amax = fmaxf(amax, fmaxf(fabsf(v[2 * e]), fabsf(v[2 * e + 1])));
  }
  return amax;
}

// 8 values as e4m3(v * r) bytes, in order (row_scale's rule: the fp32 product, then round to nearest even, saturating
// at ±448: __NV_SATFINITE; on sm_89+ one cvt.rn.satfinite.e4m3x2.f32 per pair).
__device__ __forceinline__ uint2 e4m3_pack(const float* v, float r) {
  uint32_t word[2];
#pragma unroll
  for (int w = 0; w < 2; ++w) {
    const __nv_fp8x2_storage_t lo =
        __nv_cvt_float2_to_fp8x2(make_float2(v[4 * w] * r, v[4 * w + 1] * r), __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t hi =
        __nv_cvt_float2_to_fp8x2(make_float2(v[4 * w + 2] * r, v[4 * w + 3] * r), __NV_SATFINITE, __NV_E4M3);
    word[w] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
  return make_uint2(word[0], word[1]);
}

// Pack `col` of a row's V outputs (V bytes at out8_row + col * V) as e4m3(v * r): one 8-byte store (V = 8) or one 16-byte
// store (V = 16).
template <int V>
__device__ __forceinline__ void store_pack(uint8_t* out8_row, int col, const float (&v)[V], float r) {
  if constexpr (V == 8) {
    reinterpret_cast<uint2*>(out8_row)[col] = e4m3_pack(v, r);
  } else {
    const uint2 lo = e4m3_pack(v, r), hi = e4m3_pack(v + 8, r);
    reinterpret_cast<uint4*>(out8_row)[col] = make_uint4(lo.x, lo.y, hi.x, hi.y);
  }
}

// The gate of one row as FP8 with a per-row scale: v = a * gelu(g) in fp32 exactly as geglu_kernel computes it, but NOT
// rounded to fp16 (the fp16 kernel rounds each v; this one quantises the fp32 value itself), amax = max |v| over the
// row, then row_scale's rule: out8 = e4m3(v * r) with r = 448 / amax, scales[row] = s = amax / 448 (both 1 for an
// all-zero row). One block per row (grid-stride over rows): h's row is read once (16-byte loads, written before the
// first erff, though ptxas spreads them over the computation: see geglu_fp8_warp_kernel), kept in registers (P packs of
// V per thread, pack j of a thread at j * blockDim.x + tid, so consecutive threads read consecutive 16 bytes), the amax
// reduced over the block (warp shuffles, then one float per warp in shared memory), then the row written once (V bytes
// per pack). V = 8: h fp16; V = 16: h e4m3 bytes, each value times *in_scale (gate_pack).
template <int V, int P>
__global__ void __launch_bounds__(kFp8Threads) geglu_fp8_kernel(const void* __restrict__ h,
                                                                 const float* __restrict__ in_scale,
                                                                 uint8_t* __restrict__ out8, float* __restrict__ scales,
                                                                 int64_t rows, int inner) {
  __shared__ float warp_max[kFp8Threads / 32];
  const int iv = inner / V;  // packs per half row
  const int tid = threadIdx.x;
  const int lane = tid % 32, warp = tid / 32, warps = (blockDim.x + 31) / 32;
  const float inv = V == 16 ? __ldg(in_scale) : 1.f;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    // a row of h is 2 * inner values: 2 * iv packs of 16 bytes
    const uint4* in = reinterpret_cast<const uint4*>(h) + row * 2 * iv;
    RawPack raw[P];
#pragma unroll
    for (int j = 0; j < P; ++j) load_pack(in, iv, j * blockDim.x + tid, j * blockDim.x + tid < iv, raw[j]);
    float v[P][V];
    float amax = 0.f;
#pragma unroll
    for (int j = 0; j < P; ++j) amax = gate_pack<V>(raw[j], v[j], amax, inv);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    if (lane == 0) warp_max[warp] = amax;
    __syncthreads();
    amax = warp_max[0];
    for (int w = 1; w < warps; ++w) amax = fmaxf(amax, warp_max[w]);
    __syncthreads();  // every thread has read warp_max before the next row writes it
    float s, r;
    row_scale(amax, s, r);
    if (tid == 0) scales[row] = s;
    uint8_t* dst = out8 + row * inner;
#pragma unroll
    for (int j = 0; j < P; ++j) {
      const int col = j * blockDim.x + tid;
      if (col < iv) store_pack<V>(dst, col, v[j], r);
    }
  }
}

// Rows of up to 32 * kWarpRowPacks packs of 8 values (inner <= 2560: SD's 64x64 and 32x32 levels, the most rows) take
// one warp each instead of a block (geglu_fp8_warp_kernel): the amax is a warp's shuffles alone, no __syncthreads
// between a row's loads and its stores, and several rows per block are in flight at once. The block-per-row kernel
// above spent 1.62 ms on the 16 gates of a batch-16 SD 1.5 UNet call on the H200, where the fp16 kernel takes 1.17.
constexpr int kWarpRowPacks = 10;

// Rows (warps) per block of geglu_fp8_warp_kernel<V, P>: 8, or 4 where a lane holds more than 40 values (P * V > 40), so
// that a block's staging buffer (2 * 32 * P 16-byte pieces per warp) stays within 40 KB of static shared memory.
__host__ __device__ constexpr int warp_rows_per_block(int values) { return values > 40 ? 4 : 8; }

// 16 bytes from global to shared memory without passing through registers (cp.async, compute capability 8.0+; .cg:
// cached in L2 only; below 8.0 a plain load and store), and the wait for all of this thread's such copies (after it,
// the thread reads what they wrote).
__device__ __forceinline__ void copy16_async(void* smem, const void* gmem) {
#if __CUDA_ARCH__ >= 800
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(gmem) : "memory");
#else
  *static_cast<uint4*>(smem) = *static_cast<const uint4*>(gmem);
#endif
}
__device__ __forceinline__ void copies_done() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// geglu_fp8_kernel's values (the same v, amax, row_scale's rule: out8 = e4m3(v * r), scales[row] = s), one warp per
// row: lane l takes packs l, l + 32, ..., l + 32 (P - 1) of its row's a and g (16-byte pieces of V values, consecutive
// lanes consecutive), P = ceil(packs / 32) <= kWarpRowPacks * 8 / V (exactly that: the packs before a lane's last are
// taken as whole). A lane first copies all of its 2P pieces into the warp's part of shared memory (cp.async) and waits
// for them, then reads them back one pack at a time. Loaded into registers instead, ptxas spreads a lane's loads over
// its computation whatever the source order (each pack's shortly before its erff: a warp waited on DRAM once per pack,
// with about one pack in flight); this way a warp has its whole row (P KB for fp16) in flight at once, and no registers
// hold it meanwhile. Each lane reads back only what it copied itself (no barrier). 4 blocks per SM asked of ptxas: at
// most 64 registers where P * V <= 40 (32 warps and 160 KB of staging per SM; left alone, ptxas reads every piece back
// at once and takes 115 at P = 5, V = 8), at most 128 above (16 warps; 80 values keep the row's v in registers).
// V = 8: h fp16; V = 16: h e4m3 bytes, each value times *in_scale (gate_pack).
template <int V, int P>
__global__ void __launch_bounds__(32 * warp_rows_per_block(P * V), 4)
    geglu_fp8_warp_kernel(const void* __restrict__ h, const float* __restrict__ in_scale, uint8_t* __restrict__ out8,
                          float* __restrict__ scales, int64_t rows, int inner) {
  constexpr int kRows = warp_rows_per_block(P * V);
  __shared__ uint4 stage[kRows][2 * 32 * P];  // per warp: its row's a pieces (32 P), then its g pieces (32 P)
  const int iv = inner / V;
  const int lane = threadIdx.x % 32;
  uint4* mine = stage[threadIdx.x / 32];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kRows + threadIdx.x / 32;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRows;
  const float inv = V == 16 ? __ldg(in_scale) : 1.f;
  // whether pack j of this lane lies within the row: every pack but the last does (P = ceil(packs / 32))
  auto within = [&](int j) { return j < P - 1 || j * 32 + lane < iv; };
  for (int64_t row = first; row < rows; row += step) {  // whole warps leave together: row is the warp's
    const uint4* in = reinterpret_cast<const uint4*>(h) + row * 2 * iv;
#pragma unroll
    for (int j = 0; j < P; ++j) {
      const int col = j * 32 + lane;
      if (within(j)) {
        copy16_async(mine + j * 32 + lane, in + col);
        copy16_async(mine + (P + j) * 32 + lane, in + iv + col);
      }
    }
    copies_done();
    float v[P][V];
    float amax = 0.f;
#pragma unroll
    for (int j = 0; j < P; ++j) {
      const bool ok = within(j);  // past the row's end: zeros (their gate is 0, the amax keeps)
      RawPack p;
      p.a.u = ok ? mine[j * 32 + lane] : make_uint4(0u, 0u, 0u, 0u);
      p.g.u = ok ? mine[(P + j) * 32 + lane] : make_uint4(0u, 0u, 0u, 0u);
      amax = gate_pack<V>(p, v[j], amax, inv);
    }
#pragma unroll
    for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    float s, r;
    row_scale(amax, s, r);
    if (lane == 0) scales[row] = s;
    uint8_t* dst = out8 + row * inner;
#pragma unroll
    for (int j = 0; j < P; ++j) {
      if (within(j)) store_pack<V>(dst, j * 32 + lane, v[j], r);
    }
  }
}

// geglu_fp8_warp_kernel<V, P> over `rows` rows: a warp each, warp_rows_per_block(P * V) per block, at most 512 rows per
// SM in the grid (grid-stride beyond).
template <int V, int P>
void launch_fp8_warp(const void* h, const float* in_scale, uint8_t* out8, float* scales, int64_t rows, int inner,
                     int sm_count, cudaStream_t stream) {
  constexpr int kRows = warp_rows_per_block(P * V);
  int64_t blocks = (rows + kRows - 1) / kRows;
  if (blocks > 512LL / kRows * sm_count) blocks = 512LL / kRows * sm_count;
  geglu_fp8_warp_kernel<V, P>
      <<<static_cast<unsigned>(blocks), 32 * kRows, 0, stream>>>(h, in_scale, out8, scales, rows, inner);
}

// launch_fp8_warp<V, P> for P = want among 1 ... sizeof...(I) (I: 0, 1, ...; none for another want).
template <int V, int... I>
void launch_fp8_warp_p(int want, std::integer_sequence<int, I...>, const void* h, const float* in_scale, uint8_t* out8,
                       float* scales, int64_t rows, int inner, int sm_count, cudaStream_t stream) {
  (void)((want == I + 1 && (launch_fp8_warp<V, I + 1>(h, in_scale, out8, scales, rows, inner, sm_count, stream), true)) ||
         ...);
}

// Packs of V per thread of the FP8 block kernel: the least of 1, 2, 4, 8 (V = 16: up to 4, 64 values) with packs <= P *
// kFp8Threads (0: too wide).
template <int V>
int fp8_packs_per_thread(int inner) {
  const int packs = inner / V;
  for (int p = 1; p * V <= 64; p *= 2) {
    if (packs <= p * kFp8Threads) return p;
  }
  return 0;
}

// The FP8 gate of h (rows, 2 * inner) with V values per 16-byte pack (geglu_fp8_warp_kernel for rows of at most 2560
// outputs, geglu_fp8_kernel beyond). Returns a CUDA error code (0 = success).
template <int V>
int launch_fp8(const void* h, const float* in_scale, void* out8, float* scales, int64_t rows, int inner, int sm_count,
               cudaStream_t stream) {
  const int p = fp8_packs_per_thread<V>(inner);
  if (p == 0 || rows < 1 || inner % V != 0) return static_cast<int>(cudaErrorInvalidValue);
  const int packs = inner / V;
  auto* o = static_cast<uint8_t*>(out8);
  constexpr int kMaxP = kWarpRowPacks * 8 / V;  // the warp path's largest P: 80 values per lane
  if (packs <= 32 * kMaxP) {  // a warp per row, P = ceil(packs / 32) (below 1 only for inner <= 0, which the
    // _supported checks exclude: then P = kMaxP where kMaxP > 5, V = 8, else no launch)
    int want = (packs + 31) / 32;
    if (want < 1 && kMaxP > 5) want = kMaxP;
    launch_fp8_warp_p<V>(want, std::make_integer_sequence<int, kMaxP>(), h, in_scale, o, scales, rows, inner, sm_count,
                         stream);
    return static_cast<int>(cudaGetLastError());
  }
  const int threads = ((packs + p - 1) / p + 31) / 32 * 32;
  int64_t blocks = rows;
  if (blocks > 32LL * sm_count) blocks = 32LL * sm_count;
  if (blocks < 1) blocks = 1;
  const auto grid = static_cast<unsigned>(blocks);
  switch (p) {  // fp8_packs_per_thread's 1, 2, 4 or 8 (p * V <= 64)
    // p = 1 (at most 256 packs) reaches here only for V = 16: rows of 161 to 256 packs (2576 to 4096 outputs), beyond
    // the warp path's 160; with V = 8 the warp path takes every row of up to 320 packs
    case 1:
      if constexpr (V == 16) geglu_fp8_kernel<V, 1><<<grid, threads, 0, stream>>>(h, in_scale, o, scales, rows, inner);
      break;
    case 2: geglu_fp8_kernel<V, 2><<<grid, threads, 0, stream>>>(h, in_scale, o, scales, rows, inner); break;
    case 4: geglu_fp8_kernel<V, 4><<<grid, threads, 0, stream>>>(h, in_scale, o, scales, rows, inner); break;
    case 8:
      if constexpr (V == 8) geglu_fp8_kernel<V, 8><<<grid, threads, 0, stream>>>(h, in_scale, o, scales, rows, inner);
      break;
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

extern "C" bool sd_geglu_supported(int inner) { return inner % 8 == 0; }

// h: (rows, 2 * inner) fp16, out: (rows, inner) fp16, both contiguous and 16-byte aligned.
// Returns a CUDA error code (0 = success).
extern "C" int sd_geglu(const void* h, void* out, int64_t rows, int inner, int sm_count, cudaStream_t stream) {
  const int64_t packs = rows * (inner / 8);
  int64_t blocks = (packs + 255) / 256;
  if (blocks > 32LL * sm_count) blocks = 32LL * sm_count;
  if (blocks < 1) blocks = 1;
  geglu_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(static_cast<const __half*>(h),
                                                                  static_cast<__half*>(out), rows, inner);
  return static_cast<int>(cudaGetLastError());
}

// Whether sd_geglu_fp8 takes rows of `inner` outputs: a multiple of 8, at most 8 * 8 * 256 = 16384 (SD: 1280 ... 5120).
extern "C" bool sd_geglu_fp8_supported(int inner) {
  return inner > 0 && inner % 8 == 0 && fp8_packs_per_thread<8>(inner) > 0;
}

// h: (rows, 2 * inner) fp16, contiguous, 16-byte aligned; out8: (rows, inner) e4m3 bytes, 16-byte aligned; scales:
// (rows) float32. Rows of at most 2560 outputs: a warp each (geglu_fp8_warp_kernel, 8 or 4 per block, at most 512 rows
// per SM in the grid, grid-stride beyond); wider ones a block each (at most 32 per SM), ceil(packs / P) threads rounded
// up to a warp. Returns a CUDA error code (0 = success).
extern "C" int sd_geglu_fp8(const void* h, void* out8, float* scales, int64_t rows, int inner, int sm_count,
                            cudaStream_t stream) {
  return launch_fp8<8>(h, nullptr, out8, scales, rows, inner, sm_count, stream);
}

// Whether sd_geglu_e4m3 takes rows of `inner` outputs: a multiple of 16, at most 4 * 16 * 256 = 16384.
extern "C" bool sd_geglu_e4m3_supported(int inner) {
  return inner > 0 && inner % 16 == 0 && fp8_packs_per_thread<16>(inner) > 0;
}

// sd_geglu_fp8 of an e4m3 h: h8 (rows, 2 * inner) e4m3 bytes, contiguous, 16-byte aligned; in_scale: one device float32,
// the factor each of h8's values is multiplied by before the gate (1/s_y of the product that wrote h8); out8 and scales
// as sd_geglu_fp8's, by the same rule. The same kernels with 16 values per 16-byte pack (a warp per row up to 2560
// outputs, P <= 5). Returns a CUDA error code (0 = success).
extern "C" int sd_geglu_e4m3(const void* h8, const float* in_scale, void* out8, float* scales, int64_t rows, int inner,
                             int sm_count, cudaStream_t stream) {
  if (in_scale == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  return launch_fp8<16>(h8, in_scale, out8, scales, rows, inner, sm_count, stream);
}
