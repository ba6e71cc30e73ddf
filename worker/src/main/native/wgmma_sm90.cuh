// Small helpers of the kernels on Hopper's warpgroup tensor-core instructions (wgmma, sm_90a), shared by
// self_attention.cu and conv_fp8.cu: shared-memory matrix descriptors of wgmma's non-swizzled canonical layout, 16-byte
// cp.async copies (with zero fill), the async-proxy fence, the wgmma fence / commit / wait wrappers, mbarriers and the
// copy engine's loads (bulk copies and TMA tensor loads). A header, not
// compiled on its own (build.sh compiles the .cu and .cc files beside it).
//
// wgmma and the async-proxy fence exist in sm_90a code only (the "a" feature set): SD_SM90A_CODE is 1 while compiling
// for it, 0 elsewhere (the host pass, other architectures), where the wrappers below are empty and the kernels using
// them are empty shells that their launchers never start.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SD_SM90A_CODE 1
#else
#define SD_SM90A_CODE 0
#endif

namespace sm90 {

// Shared-memory matrix descriptor (sm_90 wgmma): start address >> 4 in bits 0..13, leading-dimension byte offset >> 4
// in 16..29, stride-dimension byte offset >> 4 in 32..45, layout type 0 (no swizzle) in 62..63. For the
// non-swizzled layout ("core matrices" of 8 rows x 16 bytes, 128 contiguous bytes each), K-major operands: LBO =
// bytes between core matrices adjacent in K, SBO = between core matrices adjacent in M/N (the next 8 rows); MN-major
// operands: LBO = adjacent in K (the next 8 K rows), SBO = adjacent in M/N.
__device__ __forceinline__ uint64_t make_desc(uint32_t smem_addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((smem_addr >> 4) & 0x3FFF) | (static_cast<uint64_t>((lbo >> 4) & 0x3FFF) << 16) |
         (static_cast<uint64_t>((sbo >> 4) & 0x3FFF) << 32);
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared (dst: a shared address), through L2 only (.cg)
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src) : "memory");
}
// 16 bytes from src if bytes = 16, zeros (nothing read) if bytes = 0 (.cg: through L2 only)
__device__ __forceinline__ void cp_async16_zfill(uint32_t dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// waits until at most N of this thread's committed cp.async groups are pending
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Generic-proxy writes to shared memory (cp.async's, ordinary stores) made visible to the async proxy (wgmma's operand
// reads); then a barrier.
__device__ __forceinline__ void fence_proxy_async() {
#if SD_SM90A_CODE
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_fence() {
#if SD_SM90A_CODE
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if SD_SM90A_CODE
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// waits until at most N of the warpgroup's committed wgmma groups are pending
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if SD_SM90A_CODE
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}

// mbarriers (shared::cta) and the tensor copy engine (TMA: cp.async.bulk.tensor, completing on an mbarrier)
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// the initialisations visible to the async proxy (the copy engine's complete_tx) and the cluster
__device__ __forceinline__ void fence_mbar_init() {
#if SD_SM90A_CODE
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
// arrives once and expects bytes more of transactions in the current phase
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// spins until the phase of the given parity has completed
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// bytes (a multiple of 16, 16-byte aligned at both ends) from global src into shared dst by the copy engine,
// completing on the mbarrier bar (cp.async.bulk, no tensor map)
__device__ __forceinline__ void bulk_copy(uint32_t dst, const void* src, int bytes, uint32_t bar) {
#if SD_SM90A_CODE
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
#endif
}
// box at coordinates (c0, c1) of the 2-d tensor map (a __grid_constant__ kernel parameter's address) into dst
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void* tmap, uint32_t bar, int c0, int c1) {
#if SD_SM90A_CODE
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          dst),
      "l"(reinterpret_cast<uint64_t>(tmap)), "r"(bar), "r"(c0), "r"(c1)
      : "memory");
#endif
}
// box at coordinates (c0, c1, c2, c3) of the 4-d tensor map into dst (out-of-bounds elements: zeros)
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const void* tmap, uint32_t bar, int c0, int c1, int c2,
                                            int c3) {
#if SD_SM90A_CODE
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tmap)), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
#endif
}

// Keeps the compiler from moving accesses of an accumulator register across the asynchronous wgmma boundaries.
__device__ __forceinline__ void reg_fence(float& r) { asm volatile("" : "+f"(r)::"memory"); }
__device__ __forceinline__ void reg_fence(uint32_t& r) { asm volatile("" : "+r"(r)::"memory"); }

}  // namespace sm90
