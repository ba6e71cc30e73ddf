// Kernel launches of our .cu files (issue 17): every kernel goes through sd_launch, which launches it with
// programmatic dependent launch (PDL, compute capability 9.0+) while SD_PDL is on, else plainly. Under PDL a kernel
// may be launched, and its blocks made resident, while the kernel before it in the stream is still draining (in a CUDA
// graph: a programmatic edge, CUDA 12.3+), which hides part of the ~3 us a kernel boundary costs (the batch-16 SD 1.5
// UNet's graph: 28.7 ms for 26.28 ms of kernels, 740 kernels). That is safe only because every kernel launched here
// starts with SD_PDL_WAIT() (griddepcontrol.wait) before any global memory access: it returns once the preceding grid
// has completed and its writes are visible, whatever that grid is (cuDNN, cuBLAS or ours); without PDL it returns at
// once. Our kernels do not trigger their dependents early (no griddepcontrol.launch_dependents): a successor of ours
// starts when all our blocks have exited, still before our grid's completion is flushed.
// PDL is used only where this file's kernels were compiled for sm_90+ (cudaFuncGetAttributes' ptxVersion of a probe
// kernel of the same file, per device): code JIT-compiled from an older PTX has no wait, and must not overlap. A launch
// with the attribute that fails (say cudaErrorNotSupported) is retried plainly, and if that succeeds PDL is off for
// the rest of the process (one line on stderr; sd_pdl_state() says -1). The first launch with PDL says so on stderr
// too, once per process (the device run's evidence that it is in use).
// No torch headers here (nvcc only); sd_native_ops.cc declares sd_set_pdl and sd_pdl_state itself.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdio>

// The first statement of every kernel launched by sd_launch (sm_90+ code; nothing below it, where no PDL is used).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define SD_PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#else
#define SD_PDL_WAIT() ((void)0)
#endif

// SD_PDL (NativeOps.PDL): on (true) or off for the launches from now on; no effect once a failed launch latched PDL
// off. Defined in launch.cu.
extern "C" void sd_set_pdl(bool on);
// 1: PDL on (used where the GPU and the code allow), 0: off (SD_PDL=0), -1: off after a launch with it failed.
extern "C" int sd_pdl_state();

namespace sd_pdl {

// The process-wide state sd_pdl_state reports (one object in the library: an inline function's static).
inline std::atomic<int>& state() {
  static std::atomic<int> s{1};
  return s;
}

// Whether a launch with PDL has succeeded yet in this process (the one line on stderr).
inline std::atomic<bool>& used() {
  static std::atomic<bool> u{false};
  return u;
}

namespace {  // per translation unit: what this file's kernels were compiled for

__global__ void probe_kernel(int) {}

constexpr int kMaxDevices = 64;
std::atomic<int> code_cache[kMaxDevices];  // per device: 0 not yet known, 1 sm_90+ code (has the wait), 2 older

// Whether this file's kernels run sm_90+ code on the current device (compiled with __CUDA_ARCH__ >= 900, so
// SD_PDL_WAIT() is in them).
inline bool code_waits() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (dev < 0 || dev >= kMaxDevices) return false;
  int v = code_cache[dev].load(std::memory_order_relaxed);
  if (v == 0) {
    cudaFuncAttributes a{};
    if (cudaFuncGetAttributes(&a, probe_kernel) == cudaSuccess) {
      v = a.ptxVersion >= 90 ? 1 : 2;
    } else {
      cudaGetLastError();  // (not this call's error to report)
      v = 2;
    }
    code_cache[dev].store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

}  // namespace
}  // namespace sd_pdl

// kernel<<<grid, block, smem, stream>>>(args...), with the PDL attribute while PDL is on and the code has the wait.
// Returns the launch's error (also left for cudaGetLastError, as <<<>>> leaves it).
template <typename... Params, typename... Args>
cudaError_t sd_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                      Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  if (sd_pdl::state().load(std::memory_order_relaxed) == 1 && sd_pdl::code_waits()) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr;
    config.numAttrs = 1;
    const cudaError_t e = cudaLaunchKernelEx(&config, kernel, args...);
    if (e == cudaSuccess) {
      if (!sd_pdl::used().load(std::memory_order_relaxed) && !sd_pdl::used().exchange(true)) {
        std::fprintf(stderr, "sd_native_ops: our kernels launch with programmatic dependent launch (SD_PDL)\n");
      }
      return e;
    }
    cudaGetLastError();  // the plain launch below says whether the attribute was the trouble
    config.attrs = nullptr;
    config.numAttrs = 0;
    const cudaError_t plain = cudaLaunchKernelEx(&config, kernel, args...);
    if (plain == cudaSuccess && sd_pdl::state().exchange(-1) != -1) {
      std::fprintf(stderr, "sd_native_ops: a launch with programmatic dependent launch failed (%s): our kernels "
                   "launch without it from now on\n", cudaGetErrorString(e));
    }
    return plain;
  }
  return cudaLaunchKernelEx(&config, kernel, args...);
}
