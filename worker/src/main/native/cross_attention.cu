// Attention over a short key set (the UNet's cross-attentions: queries the image tokens, keys and values the 77 text
// tokens of the prompt), per batch row b and head h:
//   o[b, n, h·D:(h+1)·D] = softmax_m(q[b, n, h·D:] · k[b, m, h·D:]) · v[b, m, h·D:]      (scale 1: 1/√D is in q)
// diffusers' Attention with encoder_hidden_states (attn2 of every BasicTransformerBlock). PyTorch's SDPA (cuDNN) runs
// these far from the memory bound: SD 1.5's batch-16 UNet spends 0.076 ms per (16, 8, 4096, 40) x 77 call where
// reading q and writing o (84 MB) takes ~0.02 ms at the H200's 4.3 TB/s. With at most 80 keys all of them fit one tile,
// so there is no online softmax: a block of 4 warps takes a run of 16-query tiles of one (b, h) (4 to 32 tiles, as
// many as leave enough blocks to fill the GPU: K and V are read once per block); K and Vᵀ of that (b, h) are staged in
// shared memory once (keys padded to 80 with zeros, K's head dimension to a multiple of 16 with zeros); each warp takes
// every 4th tile on its own (no further block barriers): its 16 queries' rows into its own shared memory, S = Q·Kᵀ on
// the tensor cores (mma.sync m16n8k16, fp16 in, fp32 accumulation), the softmax in registers (row max and sum over the
// 4 lanes of a quad), P = exp(S − max) in fp16 as the next product's A fragments straight from S's C fragments
// (FlashAttention-2's register reuse), O = P·V on the tensor cores, O / sum, stored as fp16 through the same shared
// memory rows with 16-byte stores.
// Supported: fp16, 1 <= M <= 80 keys, head size D in {40, 64, 80, 160} (SD 1.x: 40/80/160; SD 2.x and SDXL: 64),
// sm_80+ (mma.sync); every 16-byte load and store aligned (sd_native_ops.cc checks pointers and strides).
// No torch headers here: sd_native_ops.cc checks the layouts and passes raw pointers, strides and the stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kQueries = 16 * kWarps;  // rows of Q in shared memory: 16 per warp (one m16 tile)
constexpr int kKeys = 80;              // keys per (b, h), padded with zeros: 10 n8 tiles, 5 k16 steps
constexpr int kKeyTiles = kKeys / 8;
constexpr int kKeySteps = kKeys / 16;
constexpr int kVtStride = kKeys + 8;   // halves per row of Vᵀ (88: 44 words, ≡ 4 mod 8: no bank conflicts)

// Shared memory of a block, in halves: Q (64 rows) and K (80 rows) with row stride Dp + 8 (Dp = D rounded up to a
// multiple of 16; + 8 halves makes the stride ≡ 4 words mod 8, so the 8 rows x 4 words of a fragment load hit 32
// different banks, and keeps rows 16-byte aligned), Vᵀ (D rows of 88).
template <int D>
struct Tile {
  static constexpr int kDp = (D + 15) / 16 * 16;
  static constexpr int kStride = kDp + 8;
  static constexpr int kQ = kQueries * kStride;
  static constexpr int kK = kKeys * kStride;
  static constexpr int kVt = D * kVtStride;
  static constexpr int kBytes = 2 * (kQ + kK + kVt);
};

union Pack8 {
  uint4 u;
  __half h[8];
};

// D = A·B + C, m16n8k16, A row-major fp16 (4 registers of 2 halves), B column-major fp16 (2 registers), C and D fp32.
// (sm_80+; built for an older architecture the kernel is an empty shell that sd_native_ops.cc never launches: it asks
// for compute capability 8.0)
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two adjacent halves of shared memory as one 32-bit register (the pair's first element at the lower address is the
// lower half, as the mma fragments want it).
__device__ __forceinline__ uint32_t ld32(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);  // .x = lo (lower 16 bits), .y = hi
  return *reinterpret_cast<uint32_t*>(&h);
}

// grid (ceil(N / (16 · tiles)), heads, B), 128 threads; block x takes the 16-query tiles [x · tiles, (x + 1) · tiles),
// warp w those of them with index ≡ w mod 4. q: element (b, n, h·D + i) at q + b·q_batch + n·q_row + h·D + i; k and v
// likewise; o contiguous (B, N, heads·D).
// Blocks per SM asked of the register allocator: 4 (up to 128 registers a thread; D = 160's shared memory allows 2
// per SM anyway, up to 255 registers).
template <int D>
__global__ void __launch_bounds__(kThreads, D > 80 ? 2 : 4)
    cross_attention_kernel(const __half* __restrict__ q, int64_t q_row, int64_t q_batch, const __half* __restrict__ k,
                           int64_t k_row, int64_t k_batch, const __half* __restrict__ v, int64_t v_row,
                           int64_t v_batch, __half* __restrict__ o, int64_t n_total, int heads, int m, int tiles) {
  using T = Tile<D>;
  constexpr int kDp = T::kDp, kStride = T::kStride;
  constexpr int kChunks = D / 8;      // 16-byte chunks of a head's row in global memory
  constexpr int kChunksP = kDp / 8;   // ... of a padded row in shared memory (the rest zeros)
  constexpr int kDSteps = kDp / 16;   // k16 steps of Q·Kᵀ
  constexpr int kOutTiles = D / 8;    // n8 tiles of O = P·V

  extern __shared__ uint4 smem_u4[];  // 16-byte aligned
  __half* qs = reinterpret_cast<__half*>(smem_u4);
  __half* ks = qs + T::kQ;
  __half* vt = ks + T::kK;

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int h = blockIdx.y, b = blockIdx.z;
  const int64_t block_n0 = static_cast<int64_t>(blockIdx.x) * tiles * 16;  // the block's first query
  const __half* qb = q + b * q_batch + static_cast<int64_t>(h) * D;
  const __half* kb = k + b * k_batch + static_cast<int64_t>(h) * D;
  const __half* vb = v + b * v_batch + static_cast<int64_t>(h) * D;
  const uint4 zero = make_uint4(0, 0, 0, 0);

  // ---- stage K (80 x Dp) row-major and Vᵀ (D x 80) once per block; zeros past M and D ----
  for (int i = tid; i < kKeys * kChunksP; i += kThreads) {
    const int r = i / kChunksP, c = i % kChunksP;
    uint4 val = zero;
    if (c < kChunks && r < m) val = __ldg(reinterpret_cast<const uint4*>(kb + r * k_row) + c);
    *reinterpret_cast<uint4*>(ks + r * kStride + c * 8) = val;
  }
  for (int i = tid; i < kKeys * kChunks; i += kThreads) {
    // key r, head dims 8c .. 8c + 7; consecutive threads take consecutive keys, so a warp's 2-byte stores to a row of
    // Vᵀ fill 16 consecutive words (no bank conflicts)
    const int r = i % kKeys, c = i / kKeys;
    Pack8 val;
    val.u = r < m ? __ldg(reinterpret_cast<const uint4*>(vb + r * v_row) + c) : zero;
#pragma unroll
    for (int j = 0; j < 8; ++j) vt[(c * 8 + j) * kVtStride + r] = val.h[j];
  }
  __syncthreads();

  // Fragment layouts of mma.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"), with
  // g = lane / 4 (groupID) and t = lane % 4 (threadID_in_group):
  //   A (16 x 16, row-major): a0 = (row g, cols 2t, 2t+1), a1 = (row g+8, cols 2t, 2t+1),
  //                           a2 = (row g, cols 2t+8, 2t+9), a3 = (row g+8, cols 2t+8, 2t+9)
  //   B (16 x 8, k x n):      b0 = (rows k 2t, 2t+1; col n g), b1 = (rows k 2t+8, 2t+9; col n g)
  //   C (16 x 8, fp32):       c0, c1 = (row g, cols 2t, 2t+1), c2, c3 = (row g+8, cols 2t, 2t+1)
  const int g = lane / 4, t = lane % 4;
  __half* qw = qs + (warp * 16) * kStride;  // this warp's 16 rows: Q, then O, of each of its tiles
  const int64_t c_total = static_cast<int64_t>(heads) * D;
  __half* ob = o + (static_cast<int64_t>(b) * n_total) * c_total + static_cast<int64_t>(h) * D;

#pragma unroll 1
  for (int tile = warp; tile < tiles; tile += kWarps) {
    const int64_t n0 = block_n0 + 16 * tile;  // the tile's first query
    if (n0 >= n_total) break;
    // ---- this tile's 16 x Dp of Q into the warp's rows; zeros past N and D ----
    for (int i = lane; i < 16 * kChunksP; i += 32) {
      const int r = i / kChunksP, c = i % kChunksP;
      const int64_t n = n0 + r;
      uint4 val = zero;
      if (c < kChunks && n < n_total) val = __ldg(reinterpret_cast<const uint4*>(qb + n * q_row) + c);
      *reinterpret_cast<uint4*>(qw + r * kStride + c * 8) = val;
    }
    __syncwarp();

    // ---- S = Q·Kᵀ: 16 queries x 80 keys, 10 n8 tiles (tile j: keys 8j .. 8j+7) ----
    float s[kKeyTiles][4];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int ds = 0; ds < kDSteps; ++ds) {
      // A = Q[:, 16ds .. 16ds+15]
      uint32_t a[4];
      a[0] = ld32(qw + g * kStride + 16 * ds + 2 * t);
      a[1] = ld32(qw + (g + 8) * kStride + 16 * ds + 2 * t);
      a[2] = ld32(qw + g * kStride + 16 * ds + 2 * t + 8);
      a[3] = ld32(qw + (g + 8) * kStride + 16 * ds + 2 * t + 8);
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) {
        // B = Kᵀ[16ds .. 16ds+15, 8j .. 8j+7]: B(k = dim, n = key) = K[key][dim], the pair along dim contiguous in K
        const __half* kr = ks + (8 * j + g) * kStride + 16 * ds + 2 * t;
        mma16816(s[j], a, ld32(kr), ld32(kr + 8));
      }
    }

    // ---- softmax over the keys, in registers: row g holds s[j][0..1], row g+8 s[j][2..3] (keys 8j + 2t, +1) ----
    constexpr float kLog2e = 1.4426950408889634f;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        if (8 * j + 2 * t + e >= m) {  // padding keys: -inf, weight 0
          s[j][e] = -INFINITY;
          s[j][e + 2] = -INFINITY;
        }
      }
      mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
      mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
    }
    // a row's 80 values lie in the 4 lanes of its quad (same g): reduce over t
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float off0 = mx0 * kLog2e, off1 = mx1 * kLog2e;  // m >= 1: finite
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
      s[j][0] = exp2f(fmaf(s[j][0], kLog2e, -off0));  // exp(s - max); exp2(-inf) = 0
      s[j][1] = exp2f(fmaf(s[j][1], kLog2e, -off0));
      s[j][2] = exp2f(fmaf(s[j][2], kLog2e, -off1));
      s[j][3] = exp2f(fmaf(s[j][3], kLog2e, -off1));
      sum0 += s[j][0] + s[j][1];
      sum1 += s[j][2] + s[j][3];
    }
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 1);
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 2);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 1);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 2);

    // P in fp16 as A fragments of P·V: k16 step kk covers keys 16kk .. 16kk+15 = C tiles 2kk (keys 16kk + 2t, +1: a0
    // from row g's c0, c1; a1 from row g+8's c2, c3) and 2kk+1 (keys 16kk + 8 + 2t, +1: a2, a3 likewise)
    uint32_t p[kKeySteps][4];
#pragma unroll
    for (int kk = 0; kk < kKeySteps; ++kk) {
      p[kk][0] = pack_half2(s[2 * kk][0], s[2 * kk][1]);
      p[kk][1] = pack_half2(s[2 * kk][2], s[2 * kk][3]);
      p[kk][2] = pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      p[kk][3] = pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }

    // ---- O = P·V: 16 queries x D, D/8 n8 tiles (tile u: dims 8u .. 8u+7), 5 k16 steps over the keys ----
    float acc[kOutTiles][4];
#pragma unroll
    for (int u = 0; u < kOutTiles; ++u) acc[u][0] = acc[u][1] = acc[u][2] = acc[u][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKeySteps; ++kk) {
#pragma unroll
      for (int u = 0; u < kOutTiles; ++u) {
        // B = V[16kk .. 16kk+15, 8u .. 8u+7]: B(k = key, n = dim) = Vᵀ[dim][key], the pair along the keys contiguous
        const __half* vr = vt + (8 * u + g) * kVtStride + 16 * kk + 2 * t;
        mma16816(acc[u], p[kk], ld32(vr), ld32(vr + 8));
      }
    }

    // ---- O / sum as fp16 into this warp's Q rows of shared memory (only this warp reads them), 16-byte stores ----
    const float inv0 = 1.f / sum0, inv1 = 1.f / sum1;
    __half* ow = qw;
    __syncwarp();  // every lane's last Q fragment load is done before the rows are overwritten
#pragma unroll
    for (int u = 0; u < kOutTiles; ++u) {
      // C layout: c0, c1 = (row g, dims 8u + 2t, +1), c2, c3 = (row g+8, same dims)
      *reinterpret_cast<uint32_t*>(ow + g * kStride + 8 * u + 2 * t) = pack_half2(acc[u][0] * inv0, acc[u][1] * inv0);
      *reinterpret_cast<uint32_t*>(ow + (g + 8) * kStride + 8 * u + 2 * t) =
          pack_half2(acc[u][2] * inv1, acc[u][3] * inv1);
    }
    __syncwarp();
    for (int i = lane; i < 16 * kChunks; i += 32) {
      const int r = i / kChunks, c = i % kChunks;
      const int64_t n = n0 + r;
      if (n < n_total) {
        reinterpret_cast<uint4*>(ob + n * c_total)[c] = *reinterpret_cast<const uint4*>(ow + r * kStride + c * 8);
      }
    }
    __syncwarp();  // the rows are read before the next tile's Q overwrites them
  }
}

// 16-query tiles per block: from 32 (512 queries: K and V staged once for them) down to 4 (one per warp) while the
// grid would have fewer than 8 blocks per SM (SD 1.5 at batch 16: 16 tiles for its 4096 tokens, 4 for 1024 and 256).
int tiles_per_block(int64_t n, int64_t bh, int sm_count) {
  const int64_t tiles16 = (n + 15) / 16;
  int tiles = 32;
  while (tiles > kWarps && ((tiles16 + tiles - 1) / tiles) * bh < 8LL * (sm_count > 0 ? sm_count : 132)) tiles /= 2;
  return tiles;
}

template <int D>
int launch(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row, int64_t k_batch,
           const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int64_t n, int heads, int m, int sm_count,
           cudaStream_t stream) {
  constexpr int kBytes = Tile<D>::kBytes;  // 23 KB (D = 40) .. 77 KB (D = 160): above 48 KB needs the opt-in
  cudaError_t err =
      cudaFuncSetAttribute(cross_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: the caller reports the code
    return static_cast<int>(err);
  }
  const int tiles = tiles_per_block(n, static_cast<int64_t>(heads) * b, sm_count);
  const int64_t per_block = 16LL * tiles;
  const dim3 grid(static_cast<unsigned>((n + per_block - 1) / per_block), static_cast<unsigned>(heads),
                  static_cast<unsigned>(b));
  cross_attention_kernel<D><<<grid, kThreads, kBytes, stream>>>(
      static_cast<const __half*>(q), q_row, q_batch, static_cast<const __half*>(k), k_row, k_batch,
      static_cast<const __half*>(v), v_row, v_batch, static_cast<__half*>(o), n, heads, m, tiles);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

// Whether the kernel handles head size d with m keys for b batch rows of n queries and `heads` heads (otherwise the
// caller runs PyTorch's SDPA): d in {40, 64, 80, 160}, 1 <= m <= 80, grid sizes within CUDA's limits.
extern "C" bool sd_cross_attention_supported(int d, int m, int64_t b, int64_t n, int64_t heads) {
  return (d == 40 || d == 64 || d == 80 || d == 160) && m >= 1 && m <= kKeys && b >= 1 && b <= 65535 && n >= 1 &&
         (n + 63) / 64 < (1LL << 31) && heads >= 1 && heads <= 65535;  // grid x at 4 tiles per block, the fewest
}

// o (B, N, heads·d) fp16 contiguous = softmax(q·kᵀ)·v per batch row and head (scale 1). q: fp16, element (b, n, c) at
// q + b·q_batch + n·q_row + c (the last dimension contiguous); k and v (B, m, heads·d) likewise. q, k, v, o 16-byte
// aligned, every row and batch stride a multiple of 8 elements (16-byte loads of each head's row); sm_count: the GPU's
// SMs (how many queries a block takes). Returns a CUDA
// error code (0 = success; cudaErrorInvalidValue for an unsupported d).
extern "C" int sd_cross_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                                  int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b,
                                  int64_t n, int heads, int d, int m, int sm_count, cudaStream_t stream) {
  switch (d) {
    case 40:
      return launch<40>(q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch, o, b, n, heads, m, sm_count, stream);
    case 64:
      return launch<64>(q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch, o, b, n, heads, m, sm_count, stream);
    case 80:
      return launch<80>(q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch, o, b, n, heads, m, sm_count, stream);
    case 160:
      return launch<160>(q, q_row, q_batch, k, k_row, k_batch, v, v_row, v_batch, o, b, n, heads, m, sm_count, stream);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}
