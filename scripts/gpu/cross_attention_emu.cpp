// A CPU check of worker/src/main/native/cross_attention.cu's kernel (no GPU needed): cross_attention_emu.sh turns the
// kernel's source into host code (kernel_body.inc) and builds this file around it. Each block runs as 128
// std::threads, __syncthreads and __syncwarp as barriers, shuffles and mma.m16n8k16 through per-warp exchange buffers;
// the mma's fragment layouts are written here from the PTX ISA's tables ("Matrix Fragments for mma.m16n8k16 with
// floating point type"), independently of the kernel, so a wrong fragment index in the kernel shows as a wrong
// result. Shared memory is poisoned with NaNs before each block (the kernel must write all it reads) and the output
// has a guard region. Compares against a float64 softmax(q·kᵀ)·v on the same fp16 inputs (q scaled by 1/√d, k and v
// the strided halves of one (B, M, 2C) projection, as sd_native_ops.cc passes them): max abs error < 2e-3.
// What it cannot check: the real instruction's behaviour, timing, bank conflicts, the launch code.
#include <cuda_fp16.h>
#include <vector_types.h>
#include <vector_functions.h>
#include <barrier>
#include <thread>
#include <vector>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <random>
#include <algorithm>

struct Idx { unsigned x, y, z; };
thread_local Idx threadIdx, blockIdx;
uint4* emu_smem;
std::barrier<>* block_bar;
std::barrier<>* warp_bar[4];
float xbuf[4][32];
uint32_t abuf[4][32][4], bbuf[4][32][2];
float cbuf[4][32][4];

template <typename T> T emu_ldg(const T* p) { return *p; }
inline void __syncthreads() { block_bar->arrive_and_wait(); }
inline void __syncwarp() { warp_bar[threadIdx.x / 32]->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
  int w = threadIdx.x / 32, l = threadIdx.x % 32;
  xbuf[w][l] = v;
  warp_bar[w]->arrive_and_wait();
  float r = xbuf[w][l ^ o];
  warp_bar[w]->arrive_and_wait();
  return r;
}
static float h2f(uint16_t bits) { __half h; std::memcpy(&h, &bits, 2); return __half2float(h); }
static float lo(uint32_t r) { return h2f(r & 0xffff); }
static float hi(uint32_t r) { return h2f(r >> 16); }
inline void emu_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  int w = threadIdx.x / 32, l = threadIdx.x % 32;
  std::memcpy(abuf[w][l], a, 16);
  bbuf[w][l][0] = b0; bbuf[w][l][1] = b1;
  std::memcpy(cbuf[w][l], d, 16);
  warp_bar[w]->arrive_and_wait();
  // assemble A (16x16), B (16x8 k x n), C (16x8) from every lane (PTX ISA m16n8k16 f16 fragments)
  float A[16][16], B[16][8], C[16][8];
  for (int ln = 0; ln < 32; ++ln) {
    int g = ln / 4, t = ln % 4;
    const uint32_t* ar = abuf[w][ln];
    // a0: (g, 2t..2t+1), a1: (g+8, 2t..), a2: (g, 2t+8..), a3: (g+8, 2t+8..)
    int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
    for (int i = 0; i < 4; ++i) { A[rows[i]][cols[i]] = lo(ar[i]); A[rows[i]][cols[i] + 1] = hi(ar[i]); }
    // b0: (k 2t..2t+1, n g), b1: (k 2t+8.., n g)
    B[2 * t][g] = lo(bbuf[w][ln][0]); B[2 * t + 1][g] = hi(bbuf[w][ln][0]);
    B[2 * t + 8][g] = lo(bbuf[w][ln][1]); B[2 * t + 9][g] = hi(bbuf[w][ln][1]);
    // c0,c1: (g, 2t..), c2,c3: (g+8, 2t..)
    C[g][2 * t] = cbuf[w][ln][0]; C[g][2 * t + 1] = cbuf[w][ln][1];
    C[g + 8][2 * t] = cbuf[w][ln][2]; C[g + 8][2 * t + 1] = cbuf[w][ln][3];
  }
  int g = l / 4, t = l % 4;
  int rr[4] = {g, g, g + 8, g + 8}, cc[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int i = 0; i < 4; ++i) {
    float s = C[rr[i]][cc[i]];
    for (int k = 0; k < 16; ++k) s += A[rr[i]][k] * B[k][cc[i]];
    d[i] = s;
  }
  warp_bar[w]->arrive_and_wait();
}

#include "kernel_body.inc"
}  // namespace

template <int D>
void run(const __half* q, int64_t qr, int64_t qb, const __half* k, int64_t kr, int64_t kb, const __half* v,
         int64_t vr, int64_t vb, __half* o, int b, int64_t n, int heads, int m, int tiles) {
  std::vector<uint4> smem(Tile<D>::kBytes / 16 + 1);
  // poison shared memory: the kernel must write everything it reads
  std::memset(smem.data(), 0xff, smem.size() * 16);  // 0xffff halves are NaN
  emu_smem = smem.data();
  std::barrier<> bb(128);
  std::barrier<> w0(32), w1(32), w2(32), w3(32);
  block_bar = &bb; warp_bar[0] = &w0; warp_bar[1] = &w1; warp_bar[2] = &w2; warp_bar[3] = &w3;
  unsigned gx = (n + 16 * tiles - 1) / (16 * tiles);
  for (unsigned z = 0; z < (unsigned)b; ++z)
    for (unsigned y = 0; y < (unsigned)heads; ++y)
      for (unsigned x = 0; x < gx; ++x) {
        std::memset(smem.data(), 0xff, smem.size() * 16);
        std::vector<std::thread> ts;
        for (unsigned tid = 0; tid < 128; ++tid)
          ts.emplace_back([&, tid] {
            threadIdx = {tid, 0, 0};
            blockIdx = {x, y, z};
            cross_attention_kernel<D>(q, qr, qb, k, kr, kb, v, vr, vb, o, n, heads, m, tiles);
          });
        for (auto& t : ts) t.join();
      }
}

template <int D>
bool test(int b, int n, int heads, int m, int tiles) {
  const int c = heads * D;
  std::mt19937 rng(D * 1000 + m + n);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<__half> q((size_t)b * n * c), kv((size_t)b * m * 2 * c);
  for (auto& x : q) x = __float2half(nd(rng) / std::sqrt((float)D));
  for (auto& x : kv) x = __float2half(nd(rng));
  std::vector<__half> o((size_t)b * n * c + 4096, __float2half(1024.f));
  // k, v: the halves of kv: row stride 2C, batch stride M·2C, v offset C
  run<D>(q.data(), c, (int64_t)n * c, kv.data(), 2 * c, (int64_t)m * 2 * c, kv.data() + c, 2 * c, (int64_t)m * 2 * c,
         o.data(), b, n, heads, m, tiles);
  double maxerr = 0;
  for (int bi = 0; bi < b; ++bi)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < n; ++i) {
        std::vector<double> s(m);
        double mx = -1e300;
        for (int j = 0; j < m; ++j) {
          double acc = 0;
          for (int e = 0; e < D; ++e)
            acc += (double)__half2float(q[((size_t)bi * n + i) * c + h * D + e]) *
                   __half2float(kv[((size_t)bi * m + j) * 2 * c + h * D + e]);
          s[j] = acc; mx = std::max(mx, acc);
        }
        double sum = 0;
        for (int j = 0; j < m; ++j) { s[j] = std::exp(s[j] - mx); sum += s[j]; }
        for (int e = 0; e < D; ++e) {
          double acc = 0;
          for (int j = 0; j < m; ++j) acc += s[j] * __half2float(kv[((size_t)bi * m + j) * 2 * c + c + h * D + e]);
          acc /= sum;
          double got = __half2float(o[((size_t)bi * n + i) * c + h * D + e]);
          double err = std::fabs(got - acc);
          if (!(err <= maxerr)) maxerr = std::isnan(err) ? INFINITY : std::max(maxerr, err);
        }
      }
  for (size_t i = (size_t)b * n * c; i < o.size(); ++i)
    if (__half2float(o[i]) != 1024.f) { std::printf("write past the end at %zu\n", i); maxerr = INFINITY; break; }
  bool ok = maxerr < 2e-3;
  std::printf("D %3d b %d n %4d heads %d m %3d, %2d tiles per block: max abs err %.6f %s\n", D, b, n, heads, m, tiles,
              maxerr, ok ? "ok" : "BAD");
  return ok;
}

int main() {
  bool ok = true;
  // tiles per block as the launch picks them (4 .. 32), and more or fewer tiles than the queries fill
  ok &= test<40>(2, 100, 2, 77, 4);
  ok &= test<40>(1, 64, 1, 1, 4);
  ok &= test<64>(2, 70, 3, 80, 4);
  ok &= test<80>(1, 130, 2, 77, 8);
  ok &= test<160>(2, 65, 2, 77, 4);
  ok &= test<40>(1, 16, 1, 5, 32);
  ok &= test<40>(1, 600, 1, 77, 32);
  ok &= test<64>(1, 300, 2, 77, 16);
  ok &= tiles_per_block(4096, 128, 132) == 16 && tiles_per_block(1024, 128, 132) == 4 &&
        tiles_per_block(256, 128, 132) == 4 && tiles_per_block(4096, 20, 132) == 4;
  std::printf("tiles_per_block: SD 1.5 at batch 16 %d, %d, %d (4096, 1024, 256 queries)\n",
              tiles_per_block(4096, 128, 132), tiles_per_block(1024, 128, 132), tiles_per_block(256, 128, 132));
  return ok ? 0 : 1;
}
