// FP8 (e4m3) 3x3 convolution, stride 1, padding 1, dilation 1, on Hopper's warpgroup tensor-core instructions (wgmma,
// sm_90a) fed by the tensor copy engine (TMA), with the descale, bias and residual in its epilogue:
//   y[n, h, w, k] = fp16( descale[k] · Σ_{r,s,c} x8[n, h+r-1, w+s-1, c] · w8[k, r, s, c] + bias[k] + residual[n, h, w, k] )
// x8 NHWC e4m3 [n, h, w, c] (zero outside the image), w8 KRSC e4m3 [k, 3, 3, c], y and residual NHWC fp16 [n, h, w, k],
// bias fp16 [k], descale fp32 [k] (= 1 / (s_x · s_w[k]): the per-tensor activation scale times the per-output-channel
// weight scale). As cuDNN's forward convolution (fprop) with NHWC activations and KRSC filters (cross-correlation).
// Precision: products of e4m3 values are exact; the sums are the tensor cores' FP8 accumulation, which does not keep
// fp32 precision (about 14 bits: DeepSeek-V3's report, section 3.3.2; CUTLASS re-accumulates in fp32 registers every
// few k-steps unless "fast accumulation" is asked for; this kernel accumulates in the wgmma registers throughout, as
// fast accumulation does): against fp32 sums of the same products the relative RMS error is 1.2e-3 (c = 320) to
// 3.9e-3 (c = 2560), growing as sqrt(9c), next to the e4m3 quantisation's 3.7% (scripts/gpu/probe_conv_fp8.cu); sums
// of small integers are exact (the probe checks every output bit for bit on such data). The epilogue is fp32, rounded
// once to fp16.
//
// Implicit GEMM (CUTLASS's naming): D[M x N] = A[M x Kg] · B[N x Kg]ᵀ with M = n·h·w output pixels, N = k output
// channels and Kg = 9·c, ordered (tap r·3+s, channel): A's row p is pixel p's 3x3 neighbourhood (the "im2col" row,
// never materialised), B's row is w8[k] as stored. Both operands are K-major, as FP8 wgmma requires, and NHWC / KRSC
// store them so: the channels of one pixel (one tap of one filter) are contiguous bytes.
//
// Kernel (conv8::conv3x3_fp8_tma_kernel<Cfg>): a block of 256 threads = 2 warpgroups computes a BM x 160 tile of D
// (pixels m0.., output channels n0..), each warpgroup MT slabs of 64 pixels x 160 channels (wgmma m64n160k32 with
// both operands from shared memory, fp32 accumulators: 80·MT registers a thread; BM = 128·MT). Its K loop runs over
// k-blocks of 64 channels of one tap (channel chunk outer, tap inner). A tile's pixels are whole image rows (or whole
// images), so a k-block's A operand is one TMA box of the 4-d tensor (c, w, h, n): (64 channels, w, BM / w rows, 1)
// or (64, w, h, BM / (h·w) images) at coordinates (chunk·64, s - 1, h0 + r - 1, image): the copy engine fills the
// taps' padding (coordinates -1 and w or h) and images past n with zeros. B is one box (64, 160) of w8 as a 2-d
// tensor (9c, k). Both land in 64-byte-swizzled rows (TMA's SWIZZLE_64B = wgmma's 64-byte swizzle mode: rows of 64
// bytes, 8-row atoms of 512 bytes, SBO 512; the second k32 step starts 32 bytes in). Thread 0 issues a k-block's two
// boxes into one of STAGES stages (1024-byte aligned) and arms the stage's mbarrier with their bytes; all threads wait
// on it, each warpgroup issues 2 (k32 steps) x MT wgmmas and waits for its previous k-block's (wgmma_wait<1>); a block
// barrier then tells thread 0 that that stage is free, and it refills it STAGES k-blocks ahead.
// Split K (small problems: SD 1.5's 8x8 level at batch 16 is 32 tiles of 256 pixels on 132 SMs): gridDim.z = S blocks
// of one tile form a thread-block cluster (1, 1, S), each taking channel chunks [z·chunks/S, (z+1)·chunks/S); their
// fp32 partial tiles are summed through distributed shared memory in rank order (deterministic: graph replays are
// bitwise equal), each block finishing BM/S of the tile's rows.
// Epilogue: the accumulators go to shared memory as an fp32 tile (rows padded to 168 floats: conflict-free float2
// stores); thread t < 240 then takes channels 8·(t % 20).. of rows t / 20 + 12j: Σ over the cluster's partials,
// · descale, + bias, + residual (16-byte loads, 4 rows' issued before any is used), one 16-byte fp16 store (a warp
// writes whole 320-byte row segments).
// Grid (k / 160, ceil(M / BM), S): the output-channel tiles fastest, so the blocks of one pixel tile run together and
// A comes from device memory about once. Configurations and the choice per shape: pick_variant below.
// Measured on an H200 (scripts/gpu/probe_conv_fp8.cu, SD 1.5's 16 shapes at batch 16; docs/GPU.md, "FP8 convolution
// kernel"): 920-1000 TFLOP/s at 8x8, 1200-1530 elsewhere; the 47 convolutions of a UNet call 4.81 ms against PyTorch
// fp16's (cuDNN) 9.14 ms in the same run (1.90x; 4.93 ms with the ResNet conv2s' bias + residual fused). The first
// version (cp.async 16-byte copies by all threads into wgmma's non-swizzled layout, A cached in L1 across the taps:
// cp.async.ca) reached 520-700 TFLOP/s, 0.75x of cuDNN fp16: its copies alone took ~80% of its time.
// Supported (sd_conv3x3_fp8_supported): compute capability 9.0 and this file built for sm_90a (build.sh does so where
// Hopper is among its architectures and defines SD_CONV_FP8_SM90A then; elsewhere the kernel is an empty shell never
// launched), c a multiple of 64, k a multiple of 160, tiles of 128 and 256 pixels that are whole rows of an image or
// whole images (pixel_box; SD's square latents of 8 to 128), n·h·w·max(c, k) < 2^31, ceil(n·h·w / 128) <= 65535 (the
// grid's y size) and the driver's TMA descriptor encoder present. No torch headers here.
#include <cooperative_groups.h>
#include <cuda.h>  // CUtensorMap and its encoder's types (the encoder itself comes through the runtime)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "wgmma_sm90.cuh"

namespace conv8 {

using sm90::mbar_expect_tx;
using sm90::mbar_init;
using sm90::mbar_wait;
using sm90::smem_u32;
using sm90::wgmma_commit;
using sm90::wgmma_fence;
using sm90::wgmma_wait;

constexpr int kThreads = 256;  // 2 warpgroups
constexpr int kBK = 64;        // channels (bytes) of one k-block
constexpr int kWgN = 160;      // output channels of one warpgroup's wgmma (m64n160k32)
[[maybe_unused]] constexpr int kAcc = 64 * kWgN / 128;  // fp32 accumulators a thread per m64 slab (80)

// One kernel configuration: a tile of BM = 128·MT pixels x BN = 160 output channels, the 2 warpgroups side by side
// along M (MT m64 slabs each); STAGES shared-memory stages; MINB: blocks per SM the registers are sized for
// (__launch_bounds__); DIAG (the probe's timings of parts, wrong results): 1 = no products (copies only), 2 = no
// copies (products of whatever the stages hold).
template <int MT, int STAGES, int MINB, int DIAG = 0>
struct Cfg {
  static_assert(STAGES >= 2);
  static constexpr int kMt = MT, kStages = STAGES, kMinBlocks = MINB, kDiag = DIAG;
  static constexpr int BM = 2 * MT * 64;
  static constexpr int BN = kWgN;
  static constexpr int kABytes = BM * kBK, kBBytes = BN * kBK, kStageBytes = kABytes + kBBytes;
  static constexpr int kPipeBytes = STAGES * kStageBytes;
  static constexpr int kRowFloats = BN + 8;  // epilogue tile row: 8 floats of padding (rows 8 banks apart)
  static constexpr int kTileBytes = BM * kRowFloats * 4;
  static constexpr int kSmemBytes = kPipeBytes > kTileBytes ? kPipeBytes : kTileBytes;
  // dynamic shared memory asked for: 1024 bytes of slack to align the base to the swizzle pattern's period, the stages
  // (or the epilogue's tile), one mbarrier a stage
  static constexpr int kDynBytes = 1024 + kSmemBytes + 8 * STAGES;
  static_assert(kDynBytes <= 227 * 1024);
  static_assert(kStageBytes % 1024 == 0 && kABytes % 1024 == 0, "stages aligned to the swizzle period");
};

struct Params {
  const uint8_t* x8;        // [n, h, w, c] e4m3
  const uint8_t* w8;        // [k, 3, 3, c] e4m3
  const float* descale;     // [k]
  const __half* bias;       // [k] or null
  const __half* residual;   // [n, h, w, k] or null
  __half* y;                // [n, h, w, k]
  int h, w, c, k;
  int m;                    // n·h·w
};

#if SD_SM90A_CODE
// D (64 x 160 per warpgroup) += A·B, A and B e4m3 from shared memory, both K-major (FP8 wgmma has no transpose);
// 80 fp32 accumulators a thread: n8 block j holds columns 8j + 2t, 8j + 2t + 1 (t = lane % 4) of rows g (d[4j],
// d[4j + 1]) and g + 8 (d[4j + 2], d[4j + 3]) of the warp's 16 (g = lane / 4).
__device__ __forceinline__ void wgmma_e4m3_n160(float (&d)[kAcc], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %82, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n160k32.f32.e4m3.e4m3 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79}, "
      "%80, %81, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),
        "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
        "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]),
        "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]),
        "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79])
      : "l"(da), "l"(db), "r"(1));
}
#endif

// Descriptor of a K-major operand in TMA's 64-byte swizzle (rows of 64 bytes, 8-row atoms of 512 bytes whose 16-byte
// chunks are permuted by row, SBO = 512; LBO unused for K-major swizzled layouts, 1 by convention): layout type 2 in
// bits 62..63. A k32 step (32 bytes) adds 32 to the start address; the tile base is aligned to 1024 bytes.
__device__ __forceinline__ uint64_t make_desc_sw64(uint32_t smem_addr) {
  return static_cast<uint64_t>((smem_addr >> 4) & 0x3FFF) | (uint64_t{1} << 16) | (uint64_t{512 >> 4} << 32) |
         (uint64_t{2} << 62);
}

// 8 fp32 values + 8 fp16 values (a uint4) -> floats added in place
__device__ __forceinline__ void add_half8(float (&v)[8], const uint4& u) {
  const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    v[2 * i] += f.x;
    v[2 * i + 1] += f.y;
  }
}

// The kernel's epilogue: the accumulators (warpgroup wg's MT slabs at tile row wg·MT·64) -> an fp32 tile in shared
// memory (tile: the block's stages, free now) -> rows [split·BM/S, (split+1)·BM/S) of the tile summed over the
// cluster's S partial tiles (rank order), · descale, + bias, + residual, fp16, 16-byte stores. Thread t < 240 takes
// the 8 channels 8·(t % 20).. of rows t / 20, + 12, + 24, ... (descale and bias loaded once), the residuals of 4 such
// rows loaded before any is used (their latencies overlap). Every thread of the block calls it.
template <class CF>
__device__ __forceinline__ void epilogue(float (&acc)[CF::kMt][kAcc], float* tile, const Params& p, int m0, int n0) {
  constexpr int BM = CF::BM, BN = CF::BN, MT = CF::kMt;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int splits = gridDim.z, split = blockIdx.z;
  {
    const int g = lane >> 2, t = lane & 3, wq = warp & 3, wg_row = (tid >> 7) * MT * 64;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      const int row = wg_row + mt * 64 + wq * 16 + g;
#pragma unroll
      for (int j = 0; j < kAcc / 4; ++j) {
        const int col = j * 8 + 2 * t;
        *reinterpret_cast<float2*>(tile + row * CF::kRowFloats + col) = make_float2(acc[mt][4 * j], acc[mt][4 * j + 1]);
        *reinterpret_cast<float2*>(tile + (row + 8) * CF::kRowFloats + col) =
            make_float2(acc[mt][4 * j + 2], acc[mt][4 * j + 3]);
      }
    }
  }
  namespace cg = cooperative_groups;
  if (splits > 1) {
    cg::this_cluster().sync();  // every partial tile of the cluster written (release / acquire)
  } else {
    __syncthreads();
  }
  constexpr int kVecs = BN / 8, kRowStep = kThreads / kVecs, kU = 4;
  const int r_begin = split * BM / splits, r_end = (split + 1) * BM / splits;
  if (tid < kRowStep * kVecs) {
    const int cv = tid % kVecs, k = n0 + cv * 8;
    float dsc[8], bs[8];
    {
      const float4 d0 = __ldg(reinterpret_cast<const float4*>(p.descale + k));
      const float4 d1 = __ldg(reinterpret_cast<const float4*>(p.descale + k + 4));
      dsc[0] = d0.x, dsc[1] = d0.y, dsc[2] = d0.z, dsc[3] = d0.w, dsc[4] = d1.x, dsc[5] = d1.y, dsc[6] = d1.z,
      dsc[7] = d1.w;
#pragma unroll
      for (int i = 0; i < 8; ++i) bs[i] = 0.f;
      if (p.bias != nullptr) add_half8(bs, __ldg(reinterpret_cast<const uint4*>(p.bias + k)));
    }
    for (int row = r_begin + tid / kVecs; row < r_end; row += kU * kRowStep) {
      uint4 rv[kU];
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int rr = row + u * kRowStep;
        rv[u] = make_uint4(0, 0, 0, 0);
        if (p.residual != nullptr && rr < r_end && m0 + rr < p.m) {
          rv[u] = __ldg(reinterpret_cast<const uint4*>(p.residual + static_cast<int64_t>(m0 + rr) * p.k + k));
        }
      }
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int rr = row + u * kRowStep, pix = m0 + rr;
        if (rr >= r_end || pix >= p.m) continue;
        const int off = rr * CF::kRowFloats + cv * 8;
        float s[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) s[i] = 0.f;
        // in rank order (deterministic): rank 0 first, this block's own partial at its place
        for (int rk = 0; rk < splits; ++rk) {
          const float* src = tile;
          if (splits > 1 && rk != static_cast<int>(cg::this_cluster().block_rank())) {
            src = cg::this_cluster().map_shared_rank(tile, rk);
          }
          const float4 a = *reinterpret_cast<const float4*>(src + off);
          const float4 b = *reinterpret_cast<const float4*>(src + off + 4);
          s[0] += a.x, s[1] += a.y, s[2] += a.z, s[3] += a.w, s[4] += b.x, s[5] += b.y, s[6] += b.z, s[7] += b.w;
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) s[i] = s[i] * dsc[i] + bs[i];
        if (p.residual != nullptr) add_half8(s, rv[u]);
        uint4 out;
        __half2* o2 = reinterpret_cast<__half2*>(&out);
#pragma unroll
        for (int i = 0; i < 4; ++i) o2[i] = __floats2half2_rn(s[2 * i], s[2 * i + 1]);
        *reinterpret_cast<uint4*>(p.y + static_cast<int64_t>(pix) * p.k + k) = out;
      }
    }
  }
  if (splits > 1) cg::this_cluster().sync();  // no block leaves while the others read its partial tile
}


// The TMA kernel: grid (k / 160, ceil(m / BM), S), 256 threads, CF::kDynBytes of dynamic shared memory; S > 1 only as
// clusters of (1, 1, S). tm_x: x8 as a 4-d tensor (c, w, h, n) with boxes (64, w, BM/w rows or h, images), 64-byte
// swizzle, zeros out of bounds; tm_w: w8 as a 2-d tensor (9c, k) with boxes (64, 160). Thread 0 issues each k-block's
// two boxes (A: the tile's pixels shifted by the tap, the padding and any images past n zero-filled by the copy
// engine; B: 160 filters' 64 channels of the tap) into a stage and arms its mbarrier with their bytes; the stage is
// refilled STAGES k-blocks later, once the block barrier after wgmma_wait<1> says both warpgroups are done with it.
template <class CF>
__global__ void __launch_bounds__(kThreads, CF::kMinBlocks)
    conv3x3_fp8_tma_kernel(const __grid_constant__ CUtensorMap tm_x, const __grid_constant__ CUtensorMap tm_w,
                           const Params p) {
#if SD_SM90A_CODE
  constexpr int MT = CF::kMt, STAGES = CF::kStages;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x;
  const int n0 = blockIdx.x * CF::BN, m0 = blockIdx.y * CF::BM;
  const int splits = gridDim.z, split = blockIdx.z;
  const int chunks = p.c / kBK;
  const int cc_begin = split * chunks / splits, cc_end = (split + 1) * chunks / splits;
  const int kblocks = (cc_end - cc_begin) * 9;
  const int C = p.c;
  const uint32_t raw = smem_u32(smem);
  const uint32_t s_base = (raw + 1023) & ~1023u;
  uint8_t* base = smem + (s_base - raw);
  const uint32_t bar0 = s_base + CF::kSmemBytes;
  // the tile's first pixel: image img, row h0 (column 0: tiles are whole rows or whole images)
  const int hw = p.h * p.w, img = m0 / hw, h0 = (m0 - img * hw) / p.w;

  int ld = 0, ld_cc = cc_begin, ld_r = 0, ld_s = 0, ld_st = 0;
  auto load_next = [&]() {  // thread 0: the next k-block into stage ld_st
    if (ld < kblocks) {
      const uint32_t dst = s_base + ld_st * CF::kStageBytes, bar = bar0 + 8 * ld_st;
      if constexpr (CF::kDiag != 2) {
        mbar_expect_tx(bar, CF::kStageBytes);
        sm90::tma_load_4d(dst, &tm_x, bar, ld_cc * kBK, ld_s - 1, h0 + ld_r - 1, img);
        sm90::tma_load_2d(dst + CF::kABytes, &tm_w, bar, (ld_r * 3 + ld_s) * C + ld_cc * kBK, n0);
      } else {
        asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
      }
      ++ld;
      if (++ld_st == STAGES) ld_st = 0;
      if (++ld_s == 3) {
        ld_s = 0;
        if (++ld_r == 3) {
          ld_r = 0;
          ++ld_cc;
        }
      }
    }
  };
  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) mbar_init(bar0 + 8 * s, 1);
    sm90::fence_mbar_init();
  }
  __syncthreads();
  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) load_next();
  }

  // warpgroup wg: slabs from row wg·MT·64 of A's tile (64-byte rows: 4096 bytes a slab), all 160 columns of B's
  const uint64_t desc_a = make_desc_sw64(s_base + (tid >> 7) * MT * 4096);
  const uint64_t desc_b = make_desc_sw64(s_base + CF::kABytes);
  float acc[MT][kAcc];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int j = 0; j < kAcc; ++j) acc[mt][j] = 0.f;
  }
  int st = 0, phase = 0;
  for (int kb = 0; kb < kblocks; ++kb) {
    mbar_wait(bar0 + 8 * st, phase);  // k-block kb's boxes landed
    wgmma_fence();
    const uint32_t so = (st * CF::kStageBytes) >> 4;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (CF::kDiag != 1) {
          wgmma_e4m3_n160(acc[mt], desc_a + so + ((mt * 4096 + ks * 32) >> 4), desc_b + so + ((ks * 32) >> 4));
        }
      }
    }
    wgmma_commit();
    wgmma_wait<1>();  // k-block kb - 1's products done (this warpgroup)
    __syncthreads();  // ... both warpgroups': its stage is free
    if (tid == 0 && kb > 0) load_next();  // k-block kb - 1 + STAGES into it
    if (++st == STAGES) {
      st = 0;
      phase ^= 1;
    }
  }
  wgmma_wait<0>();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int j = 0; j < kAcc; ++j) sm90::reg_fence(acc[mt][j]);
  }
  __syncthreads();  // every warpgroup done with the stages: the fp32 tile reuses them
  epilogue<CF>(acc, reinterpret_cast<float*>(base), p, m0, n0);
#endif
}

// The configurations the probe (scripts/gpu/probe_conv_fp8.cu) times; sd_conv3x3_fp8 picks with pick_variant.
using CfgT6 = Cfg<2, 6, 1>;     // 256 x 160, 6 stages: 186 registers
using CfgT4 = Cfg<2, 4, 1>;     // 256 x 160, 4 stages
using CfgT128 = Cfg<1, 4, 2>;   // 128 x 160, 4 stages, 2 blocks per SM: 108 registers
using CfgT6_copies = Cfg<2, 6, 1, 1>;
using CfgT6_mma = Cfg<2, 6, 1, 2>;
constexpr int kVariants = 3;  // + 2 diagnostic ones (3: CfgT6 copies only, 4: CfgT6 products only)
inline const char* variant_name(int v) {
  static const char* names[kVariants + 2] = {"tma256s6", "tma256s4", "tma128s4x2", "diag-copies", "diag-mma"};
  return v >= 0 && v < kVariants + 2 ? names[v] : "?";
}
inline int variant_bm(int v) { return v == 2 ? 128 : 256; }

// cuTensorMapEncodeTiled from the driver (through the runtime: no libcuda link), looked up once
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
inline EncodeTiled encode_tiled() {
  static EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q;
#if CUDART_VERSION >= 12050
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q);
#else
    const cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &f, cudaEnableDefault, &q);
#endif
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess) f = nullptr;
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

// The pixel box of a BM-pixel tile: whole rows of one image (BM % w == 0 and h % (BM / w) == 0) or whole images
// (BM % (h·w) == 0): {w, rows, images}; false if neither.
inline bool pixel_box(int bm, int h, int w, cuuint32_t (&box)[3]) {
  if (w > 256 || bm % w != 0) return false;
  const int rows = bm / w;
  if (rows <= h) {
    if (h % rows != 0) return false;
    box[0] = w, box[1] = rows, box[2] = 1;
    return true;
  }
  if (rows % h != 0 || h > 256 || rows / h > 256) return false;
  box[0] = w, box[1] = h, box[2] = rows / h;
  return true;
}

template <class CF>
int launch(const Params& p, int splits, cudaStream_t stream) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(p.k / CF::BN, (p.m + CF::BM - 1) / CF::BM, splits);
  cfg.blockDim = dim3(kThreads, 1, 1);
  cfg.dynamicSmemBytes = CF::kDynBytes;
  cfg.stream = stream;
  cudaLaunchAttribute la[1];
  la[0].id = cudaLaunchAttributeClusterDimension;
  la[0].val.clusterDim.x = 1;
  la[0].val.clusterDim.y = 1;
  la[0].val.clusterDim.z = splits;
  cfg.attrs = la;
  cfg.numAttrs = splits > 1 ? 1 : 0;
  {
    auto kernel = conv3x3_fp8_tma_kernel<CF>;
    // per launch: the attribute is the current device's, and a process may run on several
    const cudaError_t attr = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, CF::kDynBytes);
    if (attr != cudaSuccess) return static_cast<int>(attr);
    const EncodeTiled encode = encode_tiled();
    cuuint32_t pb[3];
    if (encode == nullptr || !pixel_box(CF::BM, p.h, p.w, pb)) return static_cast<int>(cudaErrorInvalidValue);
    const int n = p.m / (p.h * p.w);
    CUtensorMap tm_x, tm_w;
    const cuuint64_t xdim[4] = {static_cast<cuuint64_t>(p.c), static_cast<cuuint64_t>(p.w),
                                static_cast<cuuint64_t>(p.h), static_cast<cuuint64_t>(n)};
    const cuuint64_t xstride[3] = {static_cast<cuuint64_t>(p.c), static_cast<cuuint64_t>(p.c) * p.w,
                                   static_cast<cuuint64_t>(p.c) * p.w * p.h};
    const cuuint32_t xbox[4] = {kBK, pb[0], pb[1], pb[2]};
    const cuuint32_t ones[4] = {1, 1, 1, 1};
    CUresult r = encode(&tm_x, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, const_cast<uint8_t*>(p.x8), xdim, xstride, xbox,
                        ones, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return static_cast<int>(cudaErrorInvalidValue);
    const cuuint64_t wdim[2] = {static_cast<cuuint64_t>(9) * p.c, static_cast<cuuint64_t>(p.k)};
    const cuuint64_t wstride[1] = {static_cast<cuuint64_t>(9) * p.c};
    const cuuint32_t wbox[2] = {kBK, CF::BN};
    r = encode(&tm_w, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(p.w8), wdim, wstride, wbox, ones,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return static_cast<int>(cudaErrorInvalidValue);
    return static_cast<int>(cudaLaunchKernelEx(&cfg, kernel, tm_x, tm_w, p));
  }
}

// Runs variant v (0 .. kVariants + 1; the last two diagnostic) split S ways along the channels (1 <= S <= min(8,
// c / 64)). Returns a CUDA error code; cudaErrorInvalidValue where the variant does not take the shape.
inline int launch_variant(int v, const Params& p, int splits, cudaStream_t stream) {
  if (p.k % kWgN != 0 || splits < 1 || splits > 8 || splits > p.c / kBK) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  switch (v) {
    case 0: return launch<CfgT6>(p, splits, stream);
    case 1: return launch<CfgT4>(p, splits, stream);
    case 2: return launch<CfgT128>(p, splits, stream);
    case 3: return launch<CfgT6_copies>(p, splits, stream);
    case 4: return launch<CfgT6_mma>(p, splits, stream);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// The variant and split sd_conv3x3_fp8 runs (from the probe's timings on an H200): where 256 x 160 tiles would fill
// less than half the GPU (SD 1.5's 8x8 level at batch 16: 32 tiles on 132 SMs), 128-pixel tiles, 2 blocks per SM,
// split in 2 along the channels if that still leaves at most one block per SM (8x8 1280->1280: 0.033 ms where 256-pixel
// tiles split in 3 took 0.039, unsplit 0.075); c <= 320 (45 k-blocks: the prologue and epilogue weigh most) 128-pixel
// tiles unsplit (64x64 320->320: 0.098 ms, 0.109 with bias + residual, against 0.101 and 0.118); else 256 x 160 tiles
// with 6 stages unsplit (4 stages: the same within noise at 16x16, 5-12% slower at 32x32 and 64x64; splitting a
// 16x16 problem's 128 tiles in 2: 15% slower).
inline void pick_variant(int m, int c, int k, int sm_count, int& variant, int& splits) {
  const int64_t sms = sm_count > 0 ? sm_count : 132;
  const int64_t tiles256 = static_cast<int64_t>((m + 255) / 256) * (k / kWgN);
  const int64_t tiles128 = static_cast<int64_t>((m + 127) / 128) * (k / kWgN);
  splits = 1;
  if (2 * tiles256 <= sms) {
    variant = 2;
    if (2 * tiles128 <= sms && c / kBK >= 2) splits = 2;
  } else {
    variant = c <= 320 ? 2 : 0;
  }
}

}  // namespace conv8

// Whether sd_conv3x3_fp8 takes this problem on this GPU: compute capability 9.0 and this file built for sm_90a
// (SD_CONV_FP8_SM90A), c >= 64 a multiple of 64 input channels, k >= 160 a multiple of 160 output channels, tiles of
// 256 pixels that are whole rows of one image (256 % w == 0, h % (256 / w) == 0) or whole images (256 % (h·w) == 0),
// n·h·w·max(c, k) < 2^31, at most 65535 tiles of 128 pixels (the grid's y size for the smallest tile pick_variant may
// choose), and the driver's TMA descriptor encoder found (encode_tiled, looked up once).
extern "C" bool sd_conv3x3_fp8_supported(int cc_major, int cc_minor, int64_t n, int64_t h, int64_t w, int64_t c,
                                         int64_t k) {
#if defined(SD_CONV_FP8_SM90A)
  const int64_t m = n * h * w;
  cuuint32_t box[3];
  return cc_major == 9 && cc_minor == 0 && n >= 1 && h >= 1 && w >= 1 && c >= 64 && c % 64 == 0 && k >= 160 &&
         k % 160 == 0 && m * std::max(c, k) < (int64_t{1} << 31) && h <= 65535 && w <= 65535 &&
         conv8::pixel_box(256, static_cast<int>(h), static_cast<int>(w), box) &&
         conv8::pixel_box(128, static_cast<int>(h), static_cast<int>(w), box) && (m + 127) / 128 <= 65535 &&
         conv8::encode_tiled() != nullptr;
#else
  (void)cc_major, (void)cc_minor, (void)n, (void)h, (void)w, (void)c, (void)k;
  return false;
#endif
}

// y = fp16(descale[k] · conv3x3(x8, w8) + bias[k] + residual) (the file's header: stride 1, padding 1). x8: e4m3 NHWC
// [n, h, w, c]; w8: e4m3 KRSC [k, 3, 3, c]; descale: fp32 [k]; bias: fp16 [k] or null; residual: fp16 NHWC
// [n, h, w, k] or null (may be y itself: each element is read before it is written, by the same thread); y: fp16 NHWC
// [n, h, w, k]; every pointer 16-byte aligned, all on the stream's device. sm_count: the GPU's multiprocessors (small
// problems split along the channels to fill them). Only where sd_conv3x3_fp8_supported says so. Returns a CUDA error
// code (0 = success; cudaErrorInvalidValue for an unsupported shape).
extern "C" int sd_conv3x3_fp8(const void* x8, const void* w8, const float* descale, const void* bias,
                              const void* residual, void* y, int n, int h, int w, int c, int k, int sm_count,
                              cudaStream_t stream) {
  if (n < 1 || h < 1 || w < 1 || c < 64 || c % 64 != 0 || k < 160 || k % 160 != 0) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  const conv8::Params p{static_cast<const uint8_t*>(x8), static_cast<const uint8_t*>(w8), descale,
                        static_cast<const __half*>(bias), static_cast<const __half*>(residual), static_cast<__half*>(y),
                        h, w, c, k, n * h * w};
  int variant = 0, splits = 1;
  conv8::pick_variant(p.m, c, k, sm_count, variant, splits);
  return conv8::launch_variant(variant, p, splits, stream);
}
