// Seeded normally distributed fp16 test data on the device (a counter-based hash, no state): shared by
// scripts/gpu/probe_fp8_conv.cu and scripts/gpu/probe_conv_fp8.cu so that both fill their tensors alike.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

__device__ float uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (static_cast<float>(z >> 40) + 0.5f) * (1.0f / 16777216.0f);
}

__device__ float normal(uint64_t seed, uint64_t i) {
  const float u1 = uniform01(seed, 2 * i), u2 = uniform01(seed, 2 * i + 1);
  return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}

// out[i] = std * N(0,1), or SiLU of it (silu != 0)
__global__ void fill_normal(__half* out, size_t n, uint64_t seed, float std, int silu) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float v = normal(seed, i) * std;
    if (silu) v = v / (1.0f + expf(-v));
    out[i] = __float2half(v);
  }
}
