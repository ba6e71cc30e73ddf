// Nearest-neighbour 2x upsampling of channels-last (NHWC) activations: y[n, 2h + i, 2w + j, :] = x[n, h, w, :] for
// i, j in {0, 1} (diffusers' Upsample2D: F.interpolate(scale_factor=2.0, mode="nearest"); PyTorch's source index for
// an exact factor 2 is floor(dst * 0.5) = dst / 2, so this is the same copy bit for bit).
// PyTorch's channels-last kernel (upsample_nearest2d_nhwc_out_frame) copies element by element: about 360 GB/s on
// the H200 (0.47 ms per SD 1.5 UNet call at batch 16, 0.69 ms, 11%, of a 6.15 ms SD 1.5 VAE decode). Here each
// thread loads 16 bytes of one input pixel's channels (8 halves or 4 floats: the copy does not look at the type)
// and stores them to the pixel's 4 output pixels; consecutive threads take consecutive 16-byte vectors of an input
// row (along the channels, then along W), so every load and each of the 4 stores of a warp covers whole 32-byte
// sectors (for C · element size a multiple of 32 bytes; half a sector per store only when it is 16).
// No torch headers here: sd_native_ops.cc checks the layouts and passes raw pointers and the current stream.
#include <cuda_runtime.h>

#include <cstdint>

namespace {

// grid (blocks along an input row, rows); an input row r = n * H + h is W * vecs 16-byte vectors, and its output
// rows are 2r and 2r + 1, each 2W * vecs vectors.
__global__ void upsample_nearest2x_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, int64_t rows,
                                          int row_vecs, int vecs) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const uint4* xr = x + r * row_vecs;
    uint4* yr = y + 4 * r * row_vecs;  // output row 2r starts at 2r * (2 * row_vecs)
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < row_vecs; j += gridDim.x * blockDim.x) {
      const uint4 v = __ldg(xr + j);
      // j = w * vecs + k -> output pixel 2w of row 2r: 2w * vecs + k = 2j - k
      const int k = j % vecs;
      uint4* o = yr + (2 * static_cast<int64_t>(j) - k);
      o[0] = v;                     // (2h, 2w)
      o[vecs] = v;                  // (2h, 2w + 1)
      o[2 * row_vecs] = v;          // (2h + 1, 2w)
      o[2 * row_vecs + vecs] = v;   // (2h + 1, 2w + 1)
    }
  }
}

}  // namespace

// Whether the kernel handles these sizes (otherwise the caller uses PyTorch's upsample_nearest2d): rows = N * H input
// rows of w pixels, vecs 16-byte vectors of channels per pixel; an output row's 2w * vecs vectors index in an int.
extern "C" bool sd_upsample_nearest2x_supported(int64_t rows, int64_t w, int64_t vecs) {
  return rows > 0 && w > 0 && vecs > 0 && 2 * w * vecs + vecs < (1LL << 31);
}

// x: (N, H, W, C) memory, y: (N, 2H, 2W, C) memory (channels-last tensors), C · element size = vecs · 16 bytes, both
// 16-byte aligned; rows = N * H. Returns a CUDA error code (0 = success).
extern "C" int sd_upsample_nearest2x(const void* x, void* y, int64_t rows, int64_t w, int64_t vecs,
                                     cudaStream_t stream) {
  const int row_vecs = static_cast<int>(w * vecs);
  constexpr int kThreads = 256;
  const int64_t blocks_x = (row_vecs + kThreads - 1) / kThreads;
  const int64_t blocks_y = rows < 65535 ? rows : 65535;  // the kernel loops over the rest
  upsample_nearest2x_kernel<<<dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y)), kThreads, 0,
                              stream>>>(static_cast<const uint4*>(x), static_cast<uint4*>(y), rows, row_vecs,
                                        static_cast<int>(vecs));
  return static_cast<int>(cudaGetLastError());
}
