// Self- and cross-attention at head size 40 on Hopper's warpgroup tensor-core instructions (wgmma, sm_90a), per batch
// row b and head h (the cross-attention kernel, for at most 128 keys, is described at cross_attention_kernel below: it
// shares this file's tile layout, descriptors, wgmma wrappers, row maxima and exponentials):
//   o[b, n, h·40:(h+1)·40] = softmax_m(q[b, n, h·40:] · k[b, m, h·40:]) · v[b, m, h·40:]      (scale 1: 1/√40 is in q)
// SD 1.5's first-level self-attentions (attn1 at 64x64 latents: 8 heads of 40 over 4096 tokens, 5 calls per UNet
// call). cuDNN's SDPA tiles head size 40 as 64 (docs/GPU.md, "Attention: what head size 40 costs"); this kernel pads
// the head dimension only to 48: S = Q·Kᵀ in three k16 steps, O += P·V at n48, whose columns 0..39 are V's, column 40
// a column of ones (the product's column 40 is the softmax's row sum, of the fp16 P it multiplies) and 41..47 zeros.
// Two kernels per call:
//  1. pack_kv_kernel repacks K and V of every (b, h) into the tiles' shared-memory layout (below), contiguous per
//     (b, h), the padding chunk written too (K: zeros, V: (1, 0, ..., 0)): 2·B·heads·n·96 bytes of workspace,
//     0.055 ms at SD 1.5's shape on an H200.
//  2. self_attention_kernel: a block of W warpgroups (W = 1 as built) takes 64·W queries of one (b, h), each warpgroup
//     64 of them (its Q in shared memory for the whole run, cp.async); the block streams the (b, h)'s keys in tiles of
//     128 through NS shared-memory stages (NS = 2 as built), one bulk copy (cp.async.bulk, the copy engine) per tile and
//     matrix completing on the stage's mbarrier. Per tile each warpgroup: the row maxima of S_j in registers (over the 4
//     lanes of a quad), then the exponentials (exp2 with log2 e folded into one FMA, ex2.approx in fp32) and P_j as fp16
//     A fragments straight from S's accumulator layout in SPLIT parts (2 as built): the running O is rescaled after the
//     first part's exponentials, and each part's P·V steps (wgmma m64n48k16, A from registers, V from shared memory
//     MN-major: V's rows are keys) are issued as soon as its exponentials are done, so that the tensor cores run the
//     first half of P_j·V_j while the second half's exponentials are computed; wait; the stage released; S_{j+1} =
//     Q·K_{j+1}ᵀ (wgmma m64n128k16, both operands from shared memory, fp32 accumulation), wait. Each warp, once done
//     with a stage, counts itself on the stage's counter (a shared-memory atomic): the block's last warp to do so issues
//     the stage's next tile. No block barrier per tile, and 4 blocks per SM (4 warpgroups, each with its own stream of
//     K/V tiles from L2) overlap one warpgroup's exponentials with another's products. At the end O / column 40, stored
//     as fp16.
// Shared-memory tiles use wgmma's non-swizzled canonical layout: "core matrices" of 8 rows x 16 bytes, 128 contiguous
// bytes each; a tile of R rows (queries or keys) x 48 halves puts row r, 16-byte chunk c (halves 8c..8c+7) at byte
// (r / 8)·768 + c·128 + (r % 8)·16. The same bytes serve K as the K-major B operand of Q·Kᵀ (rows = N, chunks = K) and
// V as the MN-major B operand of P·V (rows = K, chunks = N).
// Measured on an H200 (scripts/gpu/self_attention_probe.cu; B 16, 8 heads, N 4096, q|k|v the worker's strided
// views): 0.976 ms per call with the repacking (352 TFLOP/s of useful work) where the first version (2 warpgroups
// a block, 3 stages, 2 blocks per SM, P·V in one piece) took 1.034-1.044 ms and cuDNN's SDPA 1.151 ms in the same run;
// ‖Δ‖/‖ref‖ 2.4e-4 against an fp32 reference (1 warpgroup a block alone: 1.00-1.02 ms; P·V in 2 parts alone: 1.03).
// What did not pay (same harness, docs/GPU.md item 10): K and V by cp.async from the strided rows (1.29 ms),
// FlashAttention-3's intra-warpgroup overlap (S_{j+1} issued before the softmax of S_j: 1.31 ms at 64-key tiles; at
// 128-key tiles 158 registers, so 3 warpgroups a block and 1 block per SM: 1.16 ms, 1.12 with the warpgroups' products
// in turns), FlashAttention-3's ping-pong (named barriers: each warpgroup's products after the other's) with 2
// warpgroups a block (1.25 ms), 64-key tiles (1.22 ms), P·V in 4 parts (0.99 ms), with 2 warpgroups a block and P·V
// in 2 parts (1.03 ms) skipping O's rescaling while a warp's maxima hold (1.07 ms) or while they grow by less than 8
// in log2 (FlashAttention-4's trick, 1.05 ms), ex2.approx.f16x2 or a share of the exponentials by polynomial on the FMA
// pipe (both slower).
// Supported: fp16, head size 40, N = M a multiple of 128, no mask; sm_90 GPUs with this file's sm_90a code
// (sd_self_attention_supported says which; for the cross-attention, sd_cross_attention_supported). No torch headers here: sd_native_ops.cc checks the layouts and passes raw
// pointers, strides, a workspace and the stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "wgmma_sm90.cuh"

// wgmma and the bulk copies exist in sm_90a code only (the "a" feature set); elsewhere the kernels are empty shells
// never launched (sd_self_attention_supported is false unless build.sh built this file for sm_90a).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SD_SA_WGMMA 1
#else
#define SD_SA_WGMMA 0
#endif

namespace sa {

constexpr int kD = 40;            // head size
constexpr int kChunks = 5;        // 16-byte chunks of a head's row (40 halves)
constexpr int kRowGroupBytes = 768;  // 8 rows x 6 chunks x 16 bytes: one row group of a tile (chunk 5 = padding)
constexpr int kTileRowBytes = 96;    // bytes per row of a tile (48 halves)
static_assert(kChunks * 8 == kD && kTileRowBytes == (kChunks + 1) * 16 && kRowGroupBytes == 8 * kTileRowBytes);

// Byte offset of (row, chunk) in a tile.
__host__ __device__ constexpr int tile_offset(int row, int chunk) {
  return (row >> 3) * kRowGroupBytes + chunk * 128 + (row & 7) * 16;
}

// The descriptors, copies, fences and wgmma wrappers shared with conv_fp8.cu (wgmma_sm90.cuh).
using sm90::bulk_copy;
using sm90::cp_async16;
using sm90::cp_async16_zfill;
using sm90::cp_async_commit;
using sm90::cp_async_wait;
using sm90::fence_proxy_async;
using sm90::make_desc;
using sm90::mbar_expect_tx;
using sm90::mbar_init;
using sm90::mbar_wait;
using sm90::reg_fence;
using sm90::smem_u32;
using sm90::wgmma_commit;
using sm90::wgmma_fence;
using sm90::wgmma_wait;

// S (64 x 64 per warpgroup) [+]= A·B, A and B fp16 from shared memory, both K-major; 32 fp32 accumulators a thread.
__device__ __forceinline__ void wgmma_s64(float (&d)[32], uint64_t da, uint64_t db, int accumulate) {
#if SD_SA_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(accumulate));
#endif
}

// S (64 x 128 per warpgroup) [+]= A·B, both from shared memory, K-major; 64 fp32 accumulators a thread.
__device__ __forceinline__ void wgmma_s128(float (&d)[64], uint64_t da, uint64_t db, int accumulate) {
#if SD_SA_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),
        "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
        "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(accumulate));
#endif
}

// S (64 x 80 per warpgroup) [+]= A·B, both from shared memory, K-major; 40 fp32 accumulators a thread (the
// cross-attention's up to 80 keys).
__device__ __forceinline__ void wgmma_s80(float (&d)[40], uint64_t da, uint64_t db, int accumulate) {
#if SD_SA_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %42, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39}, "
      "%40, %41, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),
        "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39])
      : "l"(da), "l"(db), "r"(accumulate));
#endif
}

template <int BC>
__device__ __forceinline__ void wgmma_s(float (&d)[BC / 2], uint64_t da, uint64_t db, int accumulate) {
  static_assert(BC == 64 || BC == 80 || BC == 128);
  if constexpr (BC == 64) {
    wgmma_s64(d, da, db, accumulate);
  } else if constexpr (BC == 80) {
    wgmma_s80(d, da, db, accumulate);
  } else {
    wgmma_s128(d, da, db, accumulate);
  }
}

// O (64 x 48 per warpgroup) += A·B, A fp16 from registers (the m64k16 A fragment: 4 registers of 2 halves a thread),
// B from shared memory MN-major (transpose bit set); 24 fp32 accumulators a thread.
__device__ __forceinline__ void wgmma_o48(float (&d)[24], const uint32_t (&a)[4], uint64_t db) {
#if SD_SA_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %29, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n48k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23}, "
      "{%24, %25, %26, %27}, %28, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
#endif
}

__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}


__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// Copies rows [0, rows) of one head (src row r at src + r·row_stride, 40 halves) into a tile at dst (shared address),
// cp.async 16 bytes a thread: 8 consecutive threads take one chunk of 8 consecutive rows (one 128-byte core matrix:
// no bank conflicts), a warp 4 chunks of them (64 bytes of each of 8 rows from global memory).
template <int THREADS>
__device__ __forceinline__ void load_rows(uint32_t dst, const __half* src, int64_t row_stride, int rows, int tid) {
  const int total = rows * kChunks;
#pragma unroll 4
  for (int i = tid; i < total; i += THREADS) {
    const int r8 = i & 7, c = (i >> 3) % kChunks, grp = (i >> 3) / kChunks;
    const int r = grp * 8 + r8;
    cp_async16(dst + tile_offset(r, c), src + r * row_stride + c * 8);
  }
}
// As load_rows, rows [valid, rows) zero-filled (nothing read there; rows a multiple of 8).
template <int THREADS>
__device__ __forceinline__ void load_rows_zfill(uint32_t dst, const __half* src, int64_t row_stride, int rows,
                                                int valid, int tid) {
  const int total = rows * kChunks;
#pragma unroll 4
  for (int i = tid; i < total; i += THREADS) {
    const int r8 = i & 7, c = (i >> 3) % kChunks, grp = (i >> 3) / kChunks;
    const int r = grp * 8 + r8;
    const bool in = r < valid;
    cp_async16_zfill(dst + tile_offset(r, c), src + (in ? r * row_stride + c * 8 : 0), in ? 16 : 0);
  }
}

// The softmax's row maxima of a 64 x (8·NB) S tile in wgmma's accumulator layout: this thread's rows g (s[4i],
// s[4i + 1]) and g + 8 (s[4i + 2], s[4i + 3]) of its warp's 16, with m0 / m1 (running maxima, -inf for none), over
// the 4 lanes of the quad. A tree over 4 partial maxima per row (shorter dependency chains than one running maximum).
template <int NB>
__device__ __forceinline__ void row_max(const float (&s)[NB * 4], float m0, float m1, float& mx0, float& mx1) {
  float r0[4], r1[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    r0[i] = fmaxf(s[4 * i], s[4 * i + 1]);
    r1[i] = fmaxf(s[4 * i + 2], s[4 * i + 3]);
  }
#pragma unroll
  for (int i = 4; i < NB; ++i) {
    r0[i & 3] = fmaxf(r0[i & 3], fmaxf(s[4 * i], s[4 * i + 1]));
    r1[i & 3] = fmaxf(r1[i & 3], fmaxf(s[4 * i + 2], s[4 * i + 3]));
  }
  mx0 = fmaxf(fmaxf(m0, fmaxf(r0[0], r0[1])), fmaxf(r0[2], r0[3]));
  mx1 = fmaxf(fmaxf(m1, fmaxf(r1[0], r1[1])), fmaxf(r1[2], r1[3]));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
}

[[maybe_unused]] constexpr float kLog2e = 1.4426950408889634f;  // log2 e

// Exponentials of S's columns [16·k0, 16·k1) in place (exp2 of s·log2 e + nb, nb = -max·log2 e of the row: nb0 for
// row g, nb1 for g + 8; ex2.approx in fp32) and P's fp16 A fragments of k steps k0..k1-1: k step kk covers columns
// 16kk..16kk+15 = S's n8 blocks 2kk (registers 0, 1) and 2kk + 1 (2, 3).
template <int N2, int KS>
__device__ __forceinline__ void exp_to_p(float (&s)[N2], uint32_t (&pf)[KS][4], int k0, int k1, float nb0,
                                         float nb1) {
#pragma unroll
  for (int i = 8 * k0; i < 8 * k1; i += 2) {
    const float nb = (i & 2) ? nb1 : nb0;
    s[i] = ex2(fmaf(s[i], kLog2e, nb));
    s[i + 1] = ex2(fmaf(s[i + 1], kLog2e, nb));
  }
#pragma unroll
  for (int kk = k0; kk < k1; ++kk) {
    const float* s8 = s + 8 * kk;
    pf[kk][0] = pack_half2(s8[0], s8[1]);  // row g, columns 2t, 2t + 1
    pf[kk][1] = pack_half2(s8[2], s8[3]);  // row g + 8
    pf[kk][2] = pack_half2(s8[4], s8[5]);  // row g, columns 8 + 2t, 9 + 2t
    pf[kk][3] = pack_half2(s8[6], s8[7]);  // row g + 8
  }
#pragma unroll
  for (int kk = k0; kk < k1; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) reg_fence(pf[kk][r]);
  }
}

// packed (2, B, heads, n, 48) fp16: [0] = K, [1] = V, in the layout above. grid (x, 2·B·heads): blockIdx.y = (matrix,
// b, h); threads stride over the n·6 16-byte chunks of that (b, h), in the packed order (stores coalesced).
__global__ void pack_kv_kernel(const __half* __restrict__ k, int64_t k_row, int64_t k_batch,
                               const __half* __restrict__ v, int64_t v_row, int64_t v_batch, uint4* __restrict__ packed,
                               int b, int n, int heads) {
  const int y = blockIdx.y, mat = y / (b * heads), bh = y % (b * heads);
  const int bb = bh / heads, h = bh % heads;
  const __half* src = (mat == 0 ? k + bb * k_batch : v + bb * v_batch) + h * kD;
  const int64_t row_stride = mat == 0 ? k_row : v_row;
  uint4* dst = packed + static_cast<int64_t>(y) * n * 6;
  const uint4 pad = make_uint4(mat == 1 ? 0x3C00u : 0u, 0, 0, 0);
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n * 6; i += gridDim.x * blockDim.x) {
    const int grp = i / 48, c = (i >> 3) % 6, row = grp * 8 + (i & 7);
    dst[i] = c < 5 ? __ldg(reinterpret_cast<const uint4*>(src + row * row_stride + c * 8)) : pad;
  }
}

template <int W, int BC, int NS>
struct Smem {
  static constexpr int kQBytes = 64 * kTileRowBytes;   // one warpgroup's 64 queries
  static constexpr int kKvBytes = BC * kTileRowBytes;  // one K or V tile
  static constexpr int kStageBytes = 2 * kKvBytes;
  static constexpr int kBarOffset = W * kQBytes + NS * kStageBytes;  // NS mbarriers, then NS counters
  static constexpr int kBytes = kBarOffset + NS * 8 + NS * 4;
};

// grid (n / (64·W), heads, B), 128·W threads (W warpgroups), Smem<W, BC, NS>::kBytes of dynamic shared memory.
// SPLIT: the parts P·V is issued in (a divisor of BC / 16).
// q: element (b, t, h·40 + i) at q + b·q_batch + t·q_row + h·40 + i; packed: pack_kv_kernel's output for the same
// (B, heads, n); o: element (b, t, h·40 + i) at o + b·o_batch + t·o_row + h·40 + i. n a multiple of BC and of 64·W.
// MINB: blocks per SM asked of the register allocator.
template <int W, int BC, int NS, int MINB, int SPLIT>
__global__ void __launch_bounds__(128 * W, MINB)
    self_attention_kernel(const __half* __restrict__ q, int64_t q_row, int64_t q_batch,
                          const uint8_t* __restrict__ packed, __half* __restrict__ o, int64_t o_row, int64_t o_batch,
                          int n, int heads) {
#if SD_SA_WGMMA
  using S = Smem<W, BC, NS>;
  constexpr int kNB = BC / 8;
  constexpr int kKS = BC / 16;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x;
  const int b = blockIdx.z, h = blockIdx.y;
  const int q0 = blockIdx.x * 64 * W;
  const uint32_t s_base = smem_u32(smem);
  const uint32_t s_kv = s_base + W * S::kQBytes;
  const uint32_t full0 = s_base + S::kBarOffset;
  unsigned* counters = reinterpret_cast<unsigned*>(smem + S::kBarOffset + NS * 8);
  const int tiles = n / BC;
  const int64_t bh_bytes = static_cast<int64_t>(n) * kTileRowBytes;
  const uint8_t* kt = packed + (static_cast<int64_t>(b) * heads + h) * bh_bytes;
  const uint8_t* vt = kt + static_cast<int64_t>(gridDim.z) * heads * bh_bytes;
  auto fetch = [&](int j) {  // tile j into its stage (one thread)
    const int s = j % NS;
    const uint32_t st = s_kv + s * S::kStageBytes;
    mbar_expect_tx(full0 + 8 * s, S::kStageBytes);
    bulk_copy(st, kt + static_cast<int64_t>(j) * S::kKvBytes, S::kKvBytes, full0 + 8 * s);
    bulk_copy(st + S::kKvBytes, vt + static_cast<int64_t>(j) * S::kKvBytes, S::kKvBytes, full0 + 8 * s);
  };
  if (tid < 32) {
    if (tid == 0) {
      for (int s = 0; s < NS; ++s) {
        mbar_init(full0 + 8 * s, 1);
        counters[s] = 0;
      }
      asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncwarp();
    for (int j = 0; j < NS && j < tiles; ++j) {
      if (tid == 0) fetch(j);
    }
  }
  {  // Q: chunk 5 zeros, chunks 0..4 by cp.async (each warpgroup its 64 queries)
    const int wg = tid >> 7, wtid = tid & 127;
    if (wtid < 64) *reinterpret_cast<uint4*>(smem + wg * S::kQBytes + tile_offset(wtid, 5)) = make_uint4(0, 0, 0, 0);
    const __half* qp = q + b * q_batch + static_cast<int64_t>(q0 + 64 * wg) * q_row + h * kD;
    load_rows<128>(s_base + wg * S::kQBytes, qp, q_row, 64, wtid);
    cp_async_commit();
    cp_async_wait<0>();
    fence_proxy_async();
  }
  __syncthreads();
  // this warp is done with tile jt's stage; the block's last warp to be so fetches tile jt + NS into it
  auto release = [&](int jt) {
    if ((threadIdx.x & 31) == 0) {
      const unsigned before = atomicAdd(counters + jt % NS, 1u);
      if (before % (4 * W) == 4 * W - 1 && jt + NS < tiles) fetch(jt + NS);
    }
  };
  auto wait_full = [&](int jt) { mbar_wait(full0 + 8 * (jt % NS), (jt / NS) & 1); };

  const int wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const uint32_t my_q = s_base + wg * S::kQBytes;

  float sacc[BC / 2];
  float oacc[24];
#pragma unroll
  for (int i = 0; i < 24; ++i) oacc[i] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY;  // running row maxima of rows g and g + 8 (of this warp's 16)

  // S = Q·Kᵀ of tile jt: three k16 steps over the padded head dimension (chunks 2s, 2s + 1)
  auto issue_s = [&](int jt) {
    const uint32_t sk = s_kv + (jt % NS) * S::kStageBytes;
    wgmma_fence();
#pragma unroll
    for (int s = 0; s < 3; ++s) {
      wgmma_s<BC>(sacc, make_desc(my_q + s * 256, 128, kRowGroupBytes), make_desc(sk + s * 256, 128, kRowGroupBytes),
                  s > 0);
    }
    wgmma_commit();
  };
  wait_full(0);
  issue_s(0);
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < BC / 2; ++i) reg_fence(sacc[i]);

  for (int j = 0; j < tiles; ++j) {
    // online softmax: the maxima of rows g and g + 8 over the tile and the running ones
    float mx0, mx1;
    row_max<kNB>(sacc, m0, m1, mx0, mx1);
    const float alpha0 = ex2((m0 - mx0) * kLog2e), alpha1 = ex2((m1 - mx1) * kLog2e);  // 0 on the first tile
    m0 = mx0;
    m1 = mx1;
    const float nb0 = -mx0 * kLog2e, nb1 = -mx1 * kLog2e;
    uint32_t pf[kKS][4];
    // P_j·V_j in SPLIT parts of kKS / SPLIT k16 steps, each issued (one commit group) once its exponentials are
    // computed, so that part p's product runs while part p + 1's exponentials are; O rescaled just before the first
    // (after the first part's exponentials: the exponential unit's work starts as early as it can). Then wait, release
    // the stage; S_{j+1}, wait. Both products are issued on every tile (a conditional wgmma makes ptxas serialize them
    // all): after the last tile S is computed on a stage holding an old tile, and dropped.
    const uint32_t sv = s_kv + (j % NS) * S::kStageBytes + S::kKvBytes;
#pragma unroll
    for (int part = 0; part < SPLIT; ++part) {
      constexpr int kPer = kKS / SPLIT;
      exp_to_p(sacc, pf, part * kPer, (part + 1) * kPer, nb0, nb1);
      if (part == 0) {
#pragma unroll
        for (int i = 0; i < 6; ++i) {
          oacc[4 * i] *= alpha0;
          oacc[4 * i + 1] *= alpha0;
          oacc[4 * i + 2] *= alpha1;
          oacc[4 * i + 3] *= alpha1;
        }
#pragma unroll
        for (int i = 0; i < 24; ++i) reg_fence(oacc[i]);
      }
      wgmma_fence();
#pragma unroll
      for (int kk = part * kPer; kk < (part + 1) * kPer; ++kk) {
        wgmma_o48(oacc, pf[kk], make_desc(sv + kk * 2 * kRowGroupBytes, kRowGroupBytes, 128));
      }
      wgmma_commit();
    }
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 24; ++i) reg_fence(oacc[i]);
    release(j);
    if (j + 1 < tiles) wait_full(j + 1);
    issue_s(j + 1);
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BC / 2; ++i) reg_fence(sacc[i]);
  }
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 24; ++i) reg_fence(oacc[i]);

  // O / row sum (column 40: oacc[20] (row g) and oacc[22] (row g + 8) of the quad's lane t = 0), fp16
  const float l0 = __shfl_sync(0xffffffffu, oacc[20], lane & ~3);
  const float l1 = __shfl_sync(0xffffffffu, oacc[22], lane & ~3);
  const float inv0 = 1.f / l0, inv1 = 1.f / l1;
  const int row0 = q0 + wg * 64 + warp * 16 + g;
  __half* op0 = o + b * o_batch + static_cast<int64_t>(row0) * o_row + h * kD + 2 * t;
  __half* op1 = op0 + 8 * o_row;
#pragma unroll
  for (int i = 0; i < 5; ++i) {
    *reinterpret_cast<__half2*>(op0 + 8 * i) = __floats2half2_rn(oacc[4 * i] * inv0, oacc[4 * i + 1] * inv0);
    *reinterpret_cast<__half2*>(op1 + 8 * i) = __floats2half2_rn(oacc[4 * i + 2] * inv1, oacc[4 * i + 3] * inv1);
  }
#endif
}

// The configuration measured fastest (scripts/gpu/self_attention_probe.cu): 1 warpgroup a block, 128-key tiles,
// 2 stages, 4 blocks per SM (4 x 55 KB of shared memory, up to 128 registers a thread), P·V in 2 parts.
constexpr int kW = 1, kBC = 128, kNS = 2, kMinBlocks = 4, kSplit = 2;

// ---- cross-attention: up to 128 keys, one key tile ----------------------------------------------------------------

// Shared memory of cross_attention_kernel<KN, NQ>: K and V (KN rows each, the tile layout above), NQ stages of 64
// queries, then each warp's 16 output rows (fp16, row-major, 80 bytes a row) on their way to global memory.
template <int KN, int NQ>
struct XSmem {
  static constexpr int kKvBytes = KN * kTileRowBytes;
  static constexpr int kQBytes = 64 * kTileRowBytes;
  static constexpr int kQOffset = 2 * kKvBytes;
  static constexpr int kOOffset = kQOffset + NQ * kQBytes;
  static constexpr int kOWarpBytes = 16 * kD * 2;
  static constexpr int kBytes = kOOffset + 4 * kOWarpBytes;
};

// grid (heads, ceil(ceil(n / 64) / tiles_per_block), B), 128 threads (one warpgroup), XSmem<KN, NQ>::kBytes of
// dynamic shared memory. Block (h, y, b) loads (b, h)'s m <= KN keys and values once (cp.async from their strided
// rows into the tile layout: rows >= m zero, V's column 40 one on rows < m, zero below) and streams the query tiles
// [y·tiles_per_block, ...) of 64 queries through NQ stages (cp.async, NQ - 1 tiles ahead; rows >= n zero-filled). Per
// tile: S = Q·Kᵀ (3 x wgmma m64nKNk16), columns >= m set to -inf, the row maxima, P = exp(S - max) as fp16 A fragments
// (exp_to_p), O = P·[V | 1] (KN / 16 x wgmma m64n48k16; column 40 = the row sum over the real keys), O / column 40 as
// fp16 through the warp's shared-memory rows to 16-byte global stores. The heads are the grid's fastest dimension, so
// the blocks of one query range's 8 heads run together and read (write) whole q (o) rows between them.
// q: element (b, t, h·40 + i) at q + b·q_batch + t·q_row + h·40 + i; k, v likewise with (b, key); o likewise with
// o_row, o_batch. 1 <= m <= KN, KN in {80, 128}.
template <int KN, int NQ, int MINB>
__global__ void __launch_bounds__(128, MINB)
    cross_attention_kernel(const __half* __restrict__ q, int64_t q_row, int64_t q_batch, const __half* __restrict__ k,
                           int64_t k_row, int64_t k_batch, const __half* __restrict__ v, int64_t v_row,
                           int64_t v_batch, __half* __restrict__ o, int64_t o_row, int64_t o_batch, int n, int m,
                           int tiles_per_block) {
#if SD_SA_WGMMA
  static_assert(NQ >= 2, "a tile in flight while the previous one is computed");
  using S = XSmem<KN, NQ>;
  constexpr int kNB = KN / 8;
  constexpr int kKS = KN / 16;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x;
  const int h = blockIdx.x, b = blockIdx.z;
  const int t_begin = blockIdx.y * tiles_per_block;
  const int count = min(tiles_per_block, (n + 63) / 64 - t_begin);
  const uint32_t s_k = smem_u32(smem), s_v = s_k + S::kKvBytes, s_q = s_k + S::kQOffset;
  // padding chunks: K's zero, V's one on rows < m (column 40: the row sum) and zero below, the Q stages' zero
  for (int r = tid; r < KN; r += 128) {
    *reinterpret_cast<uint4*>(smem + tile_offset(r, 5)) = make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(smem + S::kKvBytes + tile_offset(r, 5)) = make_uint4(r < m ? 0x3C00u : 0u, 0, 0, 0);
  }
  for (int i = tid; i < NQ * 64; i += 128) {
    *reinterpret_cast<uint4*>(smem + S::kQOffset + (i >> 6) * S::kQBytes + tile_offset(i & 63, 5)) =
        make_uint4(0, 0, 0, 0);
  }
  load_rows_zfill<128>(s_k, k + b * k_batch + h * kD, k_row, KN, m, tid);
  load_rows_zfill<128>(s_v, v + b * v_batch + h * kD, v_row, KN, m, tid);
  const __half* qh = q + b * q_batch + h * kD;
  auto load_q = [&](int i) {  // query tile t_begin + i into stage i % NQ; one commit group per call (maybe empty)
    if (i < count) {
      const int r0 = (t_begin + i) * 64;
      load_rows_zfill<128>(s_q + (i % NQ) * S::kQBytes, qh + static_cast<int64_t>(r0) * q_row, q_row, 64, n - r0,
                           tid);
    }
    cp_async_commit();
  };
#pragma unroll
  for (int i = 0; i < NQ - 1; ++i) load_q(i);  // K and V in the first group, with tile 0

  const int warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  uint8_t* s_o = smem + S::kOOffset + warp * S::kOWarpBytes;
  float sacc[KN / 2];
  float oacc[24];
  for (int i = 0; i < count; ++i) {
    cp_async_wait<NQ - 2>();  // tile i's group done (the NQ - 2 later ones may still be in flight)
    fence_proxy_async();
    __syncthreads();
    // into the stage tile i - 1 used: every warp is past this barrier, so done with tile i - 1 and its wgmmas (each
    // warp's copies cover other warps' rows, hence the barrier first); it lands during tile i's products
    load_q(i + NQ - 1);
    const uint32_t sq = s_q + (i % NQ) * S::kQBytes;
    wgmma_fence();
#pragma unroll
    for (int s = 0; s < 3; ++s) {
      wgmma_s<KN>(sacc, make_desc(sq + s * 256, 128, kRowGroupBytes), make_desc(s_k + s * 256, 128, kRowGroupBytes),
                  s > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int j = 0; j < KN / 2; ++j) reg_fence(sacc[j]);
    // keys >= m out: n8 block j holds columns 8j + 2t, 8j + 2t + 1
#pragma unroll
    for (int j = 0; j < kNB; ++j) {
      if (8 * j + 2 * t >= m) sacc[4 * j] = sacc[4 * j + 2] = -INFINITY;
      if (8 * j + 2 * t + 1 >= m) sacc[4 * j + 1] = sacc[4 * j + 3] = -INFINITY;
    }
    float mx0, mx1;
    row_max<kNB>(sacc, -INFINITY, -INFINITY, mx0, mx1);
    uint32_t pf[kKS][4];
    exp_to_p(sacc, pf, 0, kKS, -mx0 * kLog2e, -mx1 * kLog2e);
#pragma unroll
    for (int j = 0; j < 24; ++j) {
      oacc[j] = 0.f;
      reg_fence(oacc[j]);
    }
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kKS; ++kk) {
      wgmma_o48(oacc, pf[kk], make_desc(s_v + kk * 2 * kRowGroupBytes, kRowGroupBytes, 128));
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int j = 0; j < 24; ++j) reg_fence(oacc[j]);
    // O / row sum (column 40: oacc[20] (row g) and oacc[22] (row g + 8) of the quad's lane t = 0) as fp16 into the
    // warp's rows (row r at r·80 bytes), then 16-byte stores of rows < n
    const float inv0 = 1.f / __shfl_sync(0xffffffffu, oacc[20], lane & ~3);
    const float inv1 = 1.f / __shfl_sync(0xffffffffu, oacc[22], lane & ~3);
#pragma unroll
    for (int j = 0; j < 5; ++j) {
      *reinterpret_cast<__half2*>(s_o + g * 80 + j * 16 + t * 4) =
          __floats2half2_rn(oacc[4 * j] * inv0, oacc[4 * j + 1] * inv0);
      *reinterpret_cast<__half2*>(s_o + (g + 8) * 80 + j * 16 + t * 4) =
          __floats2half2_rn(oacc[4 * j + 2] * inv1, oacc[4 * j + 3] * inv1);
    }
    __syncwarp();
    const int row0 = (t_begin + i) * 64 + warp * 16;
    __half* ob = o + b * o_batch + h * kD;
#pragma unroll
    for (int c = lane; c < 16 * kChunks; c += 32) {
      const int r = c / kChunks, ch = c % kChunks;
      if (row0 + r < n) {
        *reinterpret_cast<uint4*>(ob + static_cast<int64_t>(row0 + r) * o_row + ch * 8) =
            *reinterpret_cast<const uint4*>(s_o + r * 80 + ch * 16);
      }
    }
    __syncwarp();
  }
  cp_async_wait<0>();
#endif
}

// The cross-attention's configuration measured fastest (scripts/gpu/self_attention_probe.cu --cross): 2 query stages
// (one tile ahead), 4 blocks per SM (113 registers, 32 KB of shared memory a block), and as many query tiles per block
// as fill one wave of blocks (cross_tiles_per_block: 16 at SD 1.5's batch 16; 0.0429 ms per (16, 8, 4096, 40) call over
// 77 keys where 8 tiles a block took 0.0444, 4 0.051, 3 stages 0.0458, 5 blocks per SM 0.0463).
constexpr int kXNQ = 2, kXMinBlocks = 4;

// Query tiles (64 queries) per block of cross_attention_kernel: the blocks of each (b, h) that one wave of
// sm_count·kXMinBlocks blocks holds, at least 1, each taking an equal share of the (b, h)'s tiles.
inline int cross_tiles_per_block(int64_t b, int64_t n, int64_t heads, int sm_count) {
  const int64_t tiles = (n + 63) / 64, bh = b * heads;
  const int64_t slots = static_cast<int64_t>(sm_count > 0 ? sm_count : 132) * kXMinBlocks;
  const int64_t per_bh = std::max<int64_t>(1, std::min<int64_t>(tiles, slots / bh));
  return static_cast<int>((tiles + per_bh - 1) / per_bh);
}

}  // namespace sa

namespace {

template <int W, int BC, int NS, int MINB, int SPLIT>
int launch_self_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                          int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                          int heads, void* packed, cudaStream_t stream) {
  constexpr int kBytes = sa::Smem<W, BC, NS>::kBytes;
  auto kernel = sa::self_attention_kernel<W, BC, NS, MINB, SPLIT>;
  // per launch: the attribute is the current device's, and a process may run on several
  const cudaError_t attr = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  if (attr != cudaSuccess) return static_cast<int>(attr);
  sa::pack_kv_kernel<<<dim3((n * 6 + 255) / 256, 2 * b * heads), 256, 0, stream>>>(
      static_cast<const __half*>(k), k_row, k_batch, static_cast<const __half*>(v), v_row, v_batch,
      static_cast<uint4*>(packed), b, n, heads);
  const int64_t c = static_cast<int64_t>(heads) * sa::kD;
  dim3 grid(n / (64 * W), heads, b);
  kernel<<<grid, 128 * W, kBytes, stream>>>(static_cast<const __half*>(q), q_row, q_batch,
                                            static_cast<const uint8_t*>(packed), static_cast<__half*>(o), c,
                                            static_cast<int64_t>(n) * c, n, heads);
  return static_cast<int>(cudaGetLastError());
}

template <int KN, int NQ, int MINB>
int launch_cross_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                           int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                           int m, int heads, int tiles_per_block, cudaStream_t stream) {
  constexpr int kBytes = sa::XSmem<KN, NQ>::kBytes;
  auto kernel = sa::cross_attention_kernel<KN, NQ, MINB>;
  // per launch: the attribute is the current device's, and a process may run on several
  const cudaError_t attr = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  if (attr != cudaSuccess) return static_cast<int>(attr);
  const int64_t c = static_cast<int64_t>(heads) * sa::kD;
  const int tiles = (n + 63) / 64;
  dim3 grid(heads, (tiles + tiles_per_block - 1) / tiles_per_block, b);
  kernel<<<grid, 128, kBytes, stream>>>(static_cast<const __half*>(q), q_row, q_batch, static_cast<const __half*>(k),
                                        k_row, k_batch, static_cast<const __half*>(v), v_row, v_batch,
                                        static_cast<__half*>(o), c, static_cast<int64_t>(n) * c, n, m,
                                        tiles_per_block);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

// Whether sd_self_attention takes this problem on this GPU: compute capability 9.0 and this file built for sm_90a
// (build.sh does so where Hopper is among its architectures, and defines SD_SELF_ATTENTION_SM90A then), head size
// d = 40, n queries = m keys, a multiple of 128, and a grid within CUDA's limits (2·b·heads blocks of the repacking
// kernel in y).
extern "C" bool sd_self_attention_supported(int cc_major, int cc_minor, int d, int64_t b, int64_t n, int64_t m,
                                            int64_t heads) {
#if defined(SD_SELF_ATTENTION_SM90A)
  return cc_major == 9 && cc_minor == 0 && d == sa::kD && n == m && n >= 128 && n % 128 == 0 && n <= (1 << 24) &&
         b >= 1 && heads >= 1 && 2 * b * heads <= 65535;
#else
  (void)cc_major, (void)cc_minor, (void)d, (void)b, (void)n, (void)m, (void)heads;
  return false;
#endif
}

// Bytes of workspace sd_self_attention needs: K and V repacked, 2·b·heads·n·96.
extern "C" int64_t sd_self_attention_workspace(int64_t b, int64_t n, int64_t heads) {
  return 2 * b * heads * n * sa::kTileRowBytes;
}

// o (B, n, heads·40) fp16 contiguous = softmax(q·kᵀ)·v per batch row and head (scale 1), n queries over n keys.
// q: fp16, element (b, t, c) at q + b·q_batch + t·q_row + c (the last dimension contiguous); k and v likewise. q, k,
// v, o 16-byte aligned, every row and batch stride a multiple of 8 elements; workspace: sd_self_attention_workspace
// bytes, 16-byte aligned, on the same device (overwritten). Only where sd_self_attention_supported says so. Returns a
// CUDA error code (0 = success; cudaErrorInvalidValue for an unsupported shape).
extern "C" int sd_self_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                                 int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                                 int heads, int d, void* workspace, cudaStream_t stream) {
  if (d != sa::kD || n < 128 || n % 128 != 0 || b < 1 || heads < 1) return static_cast<int>(cudaErrorInvalidValue);
  return launch_self_attention<sa::kW, sa::kBC, sa::kNS, sa::kMinBlocks, sa::kSplit>(
      q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch, o, b, n, heads, workspace, stream);
}

// Whether sd_cross_attention takes this problem on this GPU: compute capability 9.0 and this file built for sm_90a (as
// sd_self_attention_supported), head size d = 40, 1 <= m <= 128 keys, 1 <= n <= 2^22 queries, b <= 65535 and heads <=
// 2^16 (the grid's limits).
extern "C" bool sd_cross_attention_supported(int cc_major, int cc_minor, int d, int64_t b, int64_t n, int64_t m,
                                             int64_t heads) {
#if defined(SD_SELF_ATTENTION_SM90A)
  return cc_major == 9 && cc_minor == 0 && d == sa::kD && m >= 1 && m <= 128 && n >= 1 && n <= (1 << 22) && b >= 1 &&
         b <= 65535 && heads >= 1 && heads <= (1 << 16);
#else
  (void)cc_major, (void)cc_minor, (void)d, (void)b, (void)n, (void)m, (void)heads;
  return false;
#endif
}

// o (B, n, heads·40) fp16 contiguous = softmax(q·kᵀ)·v per batch row and head (scale 1), n queries over m keys
// (cross_attention_kernel: m <= 80 as one 80-key tile, else one of 128). q: fp16, element (b, t, c) at q + b·q_batch +
// t·q_row + c (the last dimension contiguous); k and v (b, key, c) likewise. q, k, v, o 16-byte aligned, every row and
// batch stride a multiple of 8 elements; sm_count: the GPU's multiprocessors (the grid fills one wave). Only where
// sd_cross_attention_supported says so. Returns a CUDA error code (0 = success; cudaErrorInvalidValue for an
// unsupported shape).
extern "C" int sd_cross_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                                  int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                                  int m, int heads, int d, int sm_count, cudaStream_t stream) {
  if (d != sa::kD || m < 1 || m > 128 || n < 1 || b < 1 || heads < 1) return static_cast<int>(cudaErrorInvalidValue);
  const int tpb = sa::cross_tiles_per_block(b, n, heads, sm_count);
  if (m <= 80) {
    return launch_cross_attention<80, sa::kXNQ, sa::kXMinBlocks>(q, q_row, q_batch, k, k_row, k_batch, v, v_row,
                                                                  v_batch, o, b, n, m, heads, tpb, stream);
  }
  return launch_cross_attention<128, sa::kXNQ, sa::kXMinBlocks>(q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch,
                                                                 o, b, n, m, heads, tpb, stream);
}
