// GEGLU's gate for fp16 tensors: out = a * gelu(g), where a and g are the two halves of the last dimension
// of the feed-forward projection h = (..., 2I). PyTorch needs three passes over I-wide tensors for this
// (gelu, then the product, each reading and writing memory); this is one pass reading h and writing out,
// 8 halves per load, computed in fp32 (exact erf GELU, as torch.nn.functional.gelu by default).
// No torch headers here: sd_native_ops.cc allocates the tensors and passes raw pointers and the stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

union Pack8 {
  uint4 u;
  __half2 h[4];
};

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
