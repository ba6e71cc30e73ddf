// The 16-byte pack of 8 fp16 values the kernels load and store at once (one uint4 load or store, four half2 lanes for
// the arithmetic), shared by bias_add.cu, geglu.cu, group_norm_nhwc.cu, layer_norm.cu and time_proj.cu. A header, not
// compiled on its own (build.sh compiles the .cu and .cc files beside it).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

union Pack8 {
  uint4 u;
  __half2 h[4];
};
