// Native helpers for the worker's PyTorch engine (DJL): fused attention, group norm (with NHWC
// kernels of our own in group_norm_nhwc.cu, which can add a bias and time embedding first), layer norm
// and residual add + layer norm (layer_norm.cu), channels-last conversion (1x1 convolutions of channels-last
// inputs as matrix products; the up blocks' norm and shortcut on two parts without their concatenation), products
// with their bias and residual in one cuBLASLt call, FP8 products of a layer norm's FP8 output (the transformer blocks'
// linears after their norms, SD_FP8_LINEARS) and of the GEGLU gate's FP8 output with per-token scales (ff.net.2,
// SD_FP8_FF_OUT), the feed-forward's GEGLU intermediate as e4m3 with a static scale (SD_FP8_GEGLU), GEGLU (geglu.cu),
// nearest 2x upsampling of channels-last tensors
// (upsample_nearest.cu), every ResNet block's time-embedding projection of a UNet call in one launch (time_proj.cu),
// SD 1.5's head-size-40 self- and cross-attentions on Hopper (self_attention.cu), cuBLASLt's
// algorithms timed per product shape on first use (SD_LT_AUTOTUNE), CUDA graph capture/replay of a sequence of DJL
// calls, asynchronous device-to-host copies (previews), and CUDA caching-allocator statistics.
//
// Tensor handles are DJL's: a jlong holding a `torch::Tensor*` (see DJL's PtNDArray). Results are
// returned as new `torch::Tensor*` that the Java side wraps in a PtNDArray (DJL frees them).
// Build it against the same libtorch that DJL's JNI uses (see build.sh beside this file); the Java
// side (org.diffusionbot.worker.engine.cuda.NativeOps) loads it only when asked to, and otherwise
// falls back to plain DJL operations.
#include <jni.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAGraph.h>
#include <ATen/record_function.h>
#include <c10/core/GradMode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// geglu.cu
extern "C" bool sd_geglu_supported(int inner);
extern "C" int sd_geglu(const void* h, void* out, int64_t rows, int inner, int sm_count, cudaStream_t stream);
extern "C" bool sd_geglu_fp8_supported(int inner);
extern "C" bool sd_geglu_e4m3_supported(int inner);
extern "C" int sd_geglu_e4m3(const void* h8, const float* in_scale, void* out8, float* scales, int64_t rows, int inner,
                             int sm_count, cudaStream_t stream);
extern "C" int sd_geglu_fp8(const void* h, void* out8, float* scales, int64_t rows, int inner, int sm_count,
                            cudaStream_t stream);

// bias_add.cu
extern "C" bool sd_bias_add_supported(int64_t hw, int64_t c);
extern "C" int sd_bias_add(void* y, const void* bias, const void* nbias, int nbias_rows, const void* residual, int n,
                           int64_t hw, int c, int sm_count, cudaStream_t stream);

// group_norm_nhwc.cu
extern "C" bool sd_group_norm_nhwc_supported(int c, int groups);
extern "C" bool sd_group_norm_nhwc_biased_supported(int64_t hw, int c);
extern "C" int64_t sd_group_norm_nhwc_work_floats(int n, int64_t hw, int c, bool biased, int sm_count);
extern "C" int sd_group_norm_nhwc(const void* x, void* y, const void* gamma, const void* beta, const void* bias,
                                  const void* nbias, int nbias_rows, float* work, int n, int64_t hw, int c, int groups,
                                  float eps, bool silu, int sm_count, cudaStream_t stream);
extern "C" bool sd_group_norm_nhwc_two_supported(int c1, int c2, int groups);
extern "C" int sd_group_norm_nhwc_two(const void* x1, const void* x2, void* y, const void* gamma, const void* beta,
                                      float* work, int n, int64_t hw, int c1, int c2, int groups, float eps, bool silu,
                                      int sm_count, cudaStream_t stream);
extern "C" bool sd_group_norm_nhwc_one_pass(int64_t hw, int c, int groups);
extern "C" void sd_group_norm_nhwc_set_one_pass(bool on);
extern "C" int sd_group_norm_nhwc_silu_e4m3(const void* x, void* y8, const void* gamma, const void* beta,
                                            const void* bias, const void* nbias, int nbias_rows, float* work, int n,
                                            int64_t hw, int c, int groups, float eps, int sm_count,
                                            cudaStream_t stream);
extern "C" int sd_group_norm_nhwc_two_silu_e4m3(const void* x1, const void* x2, void* y8, const void* gamma,
                                                const void* beta, float* work, int n, int64_t hw, int c1, int c2,
                                                int groups, float eps, int sm_count, cudaStream_t stream);

// conv_fp8.cu (the ResNet blocks' 3x3 convolutions as FP8 implicit GEMMs on Hopper: SD_FP8_CONV)
extern "C" bool sd_conv3x3_fp8_supported(int cc_major, int cc_minor, int64_t n, int64_t h, int64_t w, int64_t c,
                                         int64_t k);
extern "C" int sd_conv3x3_fp8(const void* x8, const void* w8, const float* descale, const void* bias,
                              const void* residual, void* y, int n, int h, int w, int c, int k, int sm_count,
                              cudaStream_t stream);

// layer_norm.cu
extern "C" bool sd_layer_norm_supported(int c);
extern "C" int sd_layer_norm(const void* x, const void* d, void* sum, void* y, const void* gamma, const void* beta,
                             int64_t rows, int c, float eps, cudaStream_t stream);
extern "C" int sd_layer_norm_fp8(const void* x, const void* d, void* sum, void* y8, float scale, int64_t rows, int c,
                                 float eps, cudaStream_t stream);

// upsample_nearest.cu
extern "C" bool sd_upsample_nearest2x_supported(int64_t rows, int64_t w, int64_t vecs);
extern "C" int sd_upsample_nearest2x(const void* x, void* y, int64_t rows, int64_t w, int64_t vecs,
                                     cudaStream_t stream);

// time_proj.cu
extern "C" bool sd_time_proj_supported(int b, int k, const int* n, int count);
extern "C" int sd_time_proj(const void* x, const void* const* w, const void* const* bias, const int* n, int count,
                            void* y, int b, int k, int sm_count, cudaStream_t stream);

// self_attention.cu (the self- and the cross-attention kernels)
extern "C" bool sd_self_attention_supported(int cc_major, int cc_minor, int d, int64_t b, int64_t n, int64_t m,
                                            int64_t heads);
extern "C" int64_t sd_self_attention_workspace(int64_t b, int64_t n, int64_t heads);
extern "C" int sd_self_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                                 int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                                 int heads, int d, void* workspace, cudaStream_t stream);
extern "C" bool sd_cross_attention_supported(int cc_major, int cc_minor, int d, int64_t b, int64_t n, int64_t m,
                                             int64_t heads);
extern "C" int sd_cross_attention(const void* q, int64_t q_row, int64_t q_batch, const void* k, int64_t k_row,
                                  int64_t k_batch, const void* v, int64_t v_row, int64_t v_batch, void* o, int b, int n,
                                  int m, int heads, int d, int sm_count, cudaStream_t stream);

// PyTorch's cuBLASLt handle of the current device (ATen/cuda/CUDAContextLight.h, in every PyTorch since 1.11; not
// included, as that header also wants cuSPARSE's and cuSOLVER's headers)
namespace at::cuda {
cublasLtHandle_t getCurrentCUDABlasLtHandle();
cudaDeviceProp* getCurrentDeviceProperties();  // the same header; cached per device by libtorch
}

namespace {

at::Tensor& T(jlong h) { return *reinterpret_cast<at::Tensor*>(h); }

std::optional<at::Tensor> opt(jlong h) {
  if (h == 0) return std::nullopt;
  return T(h);
}

jlong wrap(at::Tensor t) { return reinterpret_cast<jlong>(new at::Tensor(std::move(t))); }

void rethrow(JNIEnv* env, const char* what) {
  jclass cls = env->FindClass("java/lang/IllegalStateException");
  if (cls != nullptr) env->ThrowNew(cls, what);
}

#define NATIVE_BEGIN           \
  try {                        \
    at::NoGradGuard no_grad_;
#define NATIVE_END(ret)                     \
  }                                         \
  catch (const std::exception& e) {         \
    rethrow(env, e.what());                 \
    return ret;                             \
  }                                         \
  catch (...) {                             \
    rethrow(env, "unknown native error");   \
    return ret;                             \
  }

// Float32 attention on CUDA (only SDXL's upcast VAE has it: its mid-block, one head of 512 over 16384 tokens at
// 1024x1024) computes its products in float16, as diffusers' StableDiffusionXLPipeline.upcast_vae ran that whole
// mid-block (v0.19-v0.35: "if xformers or torch_2_0 is used attention block does not need to be in float32"); the
// projections around it stay float32. PyTorch's only float32 kernel (mem-efficient, SIMT) took 13.4 ms of that
// 112 ms decode on an H200. SD_VAE_ATTENTION_FP16=0: float32 throughout.
std::atomic<bool> fp32_attention_in_half{true};

// ---- wide-head attention (the VAE's mid-block: one head of 512 channels; issue 17) ----------------

// The plain math in a few large kernels for CUDA attention with head size d > 256 and no mask (SD_WIDE_HEAD_ATTENTION,
// on unless 0; 0: SDPA as before). For d > 256 SDPA has only the memory-efficient (cutlass) kernel: an H200 profile
// showed 0.338 ms per SD 1.5 VAE decode (4096 tokens, one head of 512) for 34 GFLOP, 102 TFLOP/s (13% of the peak);
// SDXL's 1024x1024 decode (16384 tokens, its float32 VAE's attention in float16: fp32_attention_in_half) ~16x that.
// Here the scores S = q·kᵀ come from cuBLAS in fp32 (fp16 inputs, fp32 output: aten::bmm.dtype, PyTorch >= 2.8), the
// softmax over the keys in fp32, P rounded to fp16, o = P·v in fp16 (fp32 accumulation in cuBLAS): the precision of
// the fused kernels (fp32 scores, fp16 P). Passes over the score matrix, per element: S written (4 bytes), softmax
// reads it and writes fp32 (8), the cast reads that and writes fp16 P (6), P·v reads P (2): 20 bytes, ~0.07 ms for SD
// 1.5's 16.8M scores at the H200's bandwidth, ~1.1 ms for SDXL's 268M. A fused softmax + cast (fp32 in, fp16 out)
// would save 8 of them; PyTorch has none (at::_softmax's half_to_float goes the other way, softmax(x, dim, kHalf)
// casts its input first, losing the fp32 scores), so that would be a kernel of our own. Not yet measured on a GPU.
std::atomic<bool> wide_head_attention_on{true};

// aten::bmm.dtype (fp16 inputs, an fp32 output) exists from PyTorch 2.8: built against an older libtorch (the worker
// image's 2.7.1) the wide-head path is left out and SDPA runs, whatever the switch says (wideHeadAttentionBuilt).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define SD_WIDE_HEAD_BUILT 1
#else
#define SD_WIDE_HEAD_BUILT 0
#endif

// At most this many scores (fp32: 256 MB) at once: the queries go in chunks of rows (SD 1.5's 4096x4096: one chunk;
// SDXL's 16384x16384: four of 4096). During a chunk its fp32 softmax and fp16 P exist too (at most two of the three
// at once: 512 MB); PyTorch's caching allocator (or a CUDA graph's pool) reuses the blocks from chunk to chunk.
constexpr int64_t kWideHeadMaxScores = int64_t{1} << 26;
// Test hook (the self-check's chunked case): a smaller limit, 0 = kWideHeadMaxScores.
std::atomic<int64_t> wide_head_max_scores{0};

// Whether mha runs wide_head_attention for these: the switch on, no mask, q (B, N, C), k and v (B, M, C) CUDA tensors
// of one device, fp16 (or float32 where fp32_attention_in_half converts them), d = C / heads > 256, N, M >= 1.
bool wide_head_attention_fits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                              bool masked) {
  if (!SD_WIDE_HEAD_BUILT || !wide_head_attention_on.load() || masked || !q.is_cuda() || heads <= 0 || q.dim() != 3 || k.dim() != 3 ||
      v.dim() != 3) {
    return false;
  }
  const auto type = q.scalar_type();
  if (!(type == at::kHalf || (type == at::kFloat && fp32_attention_in_half.load())) || k.scalar_type() != type ||
      v.scalar_type() != type || k.device() != q.device() || v.device() != q.device() || k.sizes() != v.sizes() ||
      k.size(0) != q.size(0) || k.size(2) != q.size(2) || q.size(2) % heads != 0) {
    return false;
  }
  return q.size(2) / heads > 256 && q.size(0) > 0 && q.size(1) > 0 && k.size(1) > 0;
}

// o (B, N, C) fp16 = softmax(q·kᵀ)·v per head (scale 1: the 1/√d already in q), for fp16 q (B, N, C), k, v (B, M, C),
// possibly strided views (the thirds of one q|k|v projection), heads of d = C / heads as mha views them (head h: the
// columns [h·d, (h+1)·d)). One product per (group, chunk of queries): with one head the whole batch is one group of B
// (all views), else each sample's heads are one (the (heads, N, d) views of its rows). Each chunk's output goes into
// its slice of one (B, N, C) output (no concatenation). Only capturable ops (no host syncs): runs inside the VAE
// decoder's CUDA graph.
at::Tensor wide_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  const int64_t b = q.size(0), n = q.size(1), c = q.size(2), m = k.size(1), d = c / heads;
  auto out = at::empty({b, n, c}, q.options());
  std::vector<std::array<at::Tensor, 4>> groups;  // (G, N, d) q, (G, M, d) k, v, (G, N, d) o
  if (heads == 1) {
    groups.push_back({q, k, v, out});
  } else {
    auto qh = q.view({b, n, heads, d}).transpose(1, 2);
    auto kh = k.view({b, m, heads, d}).transpose(1, 2);
    auto vh = v.view({b, m, heads, d}).transpose(1, 2);
    auto oh = out.view({b, n, heads, d}).transpose(1, 2);
    for (int64_t i = 0; i < b; ++i) groups.push_back({qh[i], kh[i], vh[i], oh[i]});
  }
  const int64_t g = groups.front()[0].size(0);
  const int64_t limit = wide_head_max_scores.load() > 0 ? wide_head_max_scores.load() : kWideHeadMaxScores;
  int64_t rows = std::max<int64_t>(1, limit / (g * m));
  if (rows >= 128) rows -= rows % 128;  // whole tiles of the products
  rows = std::min(rows, n);
  for (const auto& grp : groups) {
    const at::Tensor kt = grp[1].transpose(1, 2);  // (G, d, M): k's rows as the product's columns, read in place
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
      const int64_t len = std::min(rows, n - r0);
#if SD_WIDE_HEAD_BUILT
      at::Tensor s = at::bmm(grp[0].narrow(1, r0, len), kt, at::kFloat);  // (G, len, M) fp32 scores
#else
      at::Tensor s = at::bmm(grp[0].narrow(1, r0, len).to(at::kFloat), kt.to(at::kFloat));  // unreached: fits is false
#endif
      at::Tensor sm = at::softmax(s, -1);
      s = at::Tensor();  // freed before P is allocated
      at::Tensor p = sm.to(at::kHalf);
      sm = at::Tensor();
      at::Tensor oc = grp[3].narrow(1, r0, len);
      at::bmm_out(oc, p, grp[2]);
    }
  }
  return out;
}

// Multi-head attention core on already projected tensors: q (B, N, H*d), k and v (B, M, H*d),
// possibly strided views. The 1/sqrt(d) scale is already in q, hence scale = 1. Head size d > 256 without a mask on
// CUDA: wide_head_attention (SD_WIDE_HEAD_ATTENTION), else SDPA.
at::Tensor mha(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
               const std::optional<at::Tensor>& mask = std::nullopt) {
  const int64_t b = q.size(0), n = q.size(1), c = q.size(2), m = k.size(1);
  const int64_t d = c / heads;
  if (wide_head_attention_fits(q, k, v, heads, mask.has_value())) {
    if (q.scalar_type() == at::kFloat) {  // fp32_attention_in_half: products in fp16, as SDPA's path below
      return wide_head_attention(q.to(at::kHalf), k.to(at::kHalf), v.to(at::kHalf), heads).to(at::kFloat);
    }
    return wide_head_attention(q, k, v, heads);
  }
  auto qh = q.view({b, n, heads, d}).transpose(1, 2);
  auto kh = k.view({b, m, heads, d}).transpose(1, 2);
  auto vh = v.view({b, m, heads, d}).transpose(1, 2);
  if (q.is_cuda() && q.scalar_type() == at::kFloat && fp32_attention_in_half.load()) {
    std::optional<at::Tensor> am = mask ? std::optional<at::Tensor>(mask->to(at::kHalf)) : std::nullopt;
    auto o = at::scaled_dot_product_attention(qh.to(at::kHalf), kh.to(at::kHalf), vh.to(at::kHalf), am, 0.0, false, 1.0);
    return o.transpose(1, 2).reshape({b, n, c}).to(at::kFloat);
  }
  // an additive mask (CLIP's causal one) in the queries' type, as SDPA wants it
  std::optional<at::Tensor> am = mask ? std::optional<at::Tensor>(mask->to(q.scalar_type())) : std::nullopt;
  auto o = at::scaled_dot_product_attention(qh, kh, vh, am, 0.0, false, 1.0);
  return o.transpose(1, 2).reshape({b, n, c});
}

int sm_count() {
  static const int count = [] {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, c10::cuda::current_device()) != cudaSuccess) n = 132;
    return n;
  }();
  return count;
}

// Whether a kernel launch of ours succeeded. A GPU the kernels were not built for marks them unusable
// (the caller then takes PyTorch's path, now and from then on); any other error is thrown.
bool launched(int err, std::atomic<bool>& unusable, const char* what) {
  if (err == cudaSuccess) return true;
  if (err != cudaErrorNoKernelImageForDevice && err != cudaErrorInvalidDeviceFunction) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(static_cast<cudaError_t>(err)));
  }
  unusable.store(true);  // the launcher's cudaGetLastError already cleared the launch error
  return false;
}

// Absent, or a contiguous fp16 CUDA vector of c elements.
bool half_vector(const std::optional<at::Tensor>& t, int64_t c) {
  return !t || (t->is_cuda() && t->scalar_type() == at::kHalf && t->is_contiguous() && t->numel() == c);
}

bool aligned16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

// t's sizes with the last one n: a product's (..., N) output for t (..., K), a gate's (..., I) for (..., 2I).
std::vector<int64_t> last_as(const at::Tensor& t, int64_t n) {
  std::vector<int64_t> sizes = t.sizes().vec();
  sizes.back() = n;
  return sizes;
}

// Whether a per-sample bias (a time embedding) fits our kernels for n samples of c channels: fp16 (n, c), or (1, c)
// for all samples, contiguous, 16-byte aligned (bias_add.cu, group_norm_nhwc.cu).
bool nbias_fits(const at::Tensor& nbias, int64_t n, int64_t c) {
  return nbias.is_cuda() && nbias.scalar_type() == at::kHalf && nbias.is_contiguous() && nbias.dim() == 2 &&
         (nbias.size(0) == n || nbias.size(0) == 1) && nbias.size(1) == c && aligned16(nbias);
}

// GroupNorm (+ SiLU): our NHWC kernels for fp16 channels-last CUDA tensors (the output stays
// channels-last), PyTorch's group_norm (NCHW) for everything else.
// GroupNorm of a contiguous (NCHW) float32 CUDA tensor with its statistics from at::var_mean over (N·G, C/G·H·W)
// rows, whose reduction spreads each group over many blocks, then y = x·a + b per (sample, channel) in one pass
// (a = γ·rstd, b = β − mean·a: the formula of PyTorch's own apply kernel). PyTorch's group_norm computes the statistics
// with one block per (sample, group) (RowwiseMomentsCUDAKernel): 32 blocks on a 132-SM H200 for SDXL's float32 VAE at
// 1024x1024, 44.7 of its 112 ms decode. SD_FP32_GROUPNORM=0: PyTorch's group_norm.
std::atomic<bool> fp32_group_norm_split{true};

at::Tensor group_norm_split(const at::Tensor& x, int64_t groups, const std::optional<at::Tensor>& gamma,
                            const std::optional<at::Tensor>& beta, double eps, bool silu) {
  const int64_t n = x.size(0), c = x.size(1);
  auto stats = at::var_mean(x.reshape({n * groups, -1}), at::IntArrayRef{1}, std::optional<at::Scalar>(0), false);
  auto rstd = (std::get<0>(stats) + eps).rsqrt().view({n, groups, 1}).expand({n, groups, c / groups}).reshape({n, c});
  auto mean = std::get<1>(stats).view({n, groups, 1}).expand({n, groups, c / groups}).reshape({n, c});
  auto a = gamma ? rstd * gamma->to(at::kFloat).view({1, c}) : rstd;
  auto b = beta ? beta->to(at::kFloat).view({1, c}) - mean * a : -mean * a;
  std::vector<int64_t> per_channel{n, c};
  for (int64_t i = 2; i < x.dim(); ++i) per_channel.push_back(1);
  auto y = at::addcmul(b.view(per_channel), x, a.view(per_channel));
  if (silu) y = at::silu_(y);
  return y;
}

std::atomic<bool> group_norm_unusable{false};  // NHWC kernels not built for this GPU: PyTorch's path from then on

// Our NHWC GroupNorm (+ SiLU) kernels on x + bias (C) + nbias (B or 1, C) (each optional: added in the kernels'
// registers, group_norm_nhwc.cu), for an fp16 channels-last CUDA x (the output stays channels-last); an undefined
// tensor where they do not apply (the caller takes PyTorch's path). e4m3: SiLU, then the output as e4m3 bytes (B, H, W,
// C) contiguous (sd_group_norm_nhwc_silu_e4m3: s_x = 1; silu ignored).
at::Tensor nhwc_group_norm(const at::Tensor& x, int64_t groups, const std::optional<at::Tensor>& gamma,
                           const std::optional<at::Tensor>& beta, double eps, bool silu,
                           const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& nbias,
                           bool e4m3 = false) {
  if (group_norm_unusable.load() || !x.is_cuda() || x.dim() != 4 || x.scalar_type() != at::kHalf ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast) || !half_vector(gamma, x.size(1)) ||
      !half_vector(beta, x.size(1)) ||
      !sd_group_norm_nhwc_supported(static_cast<int>(x.size(1)), static_cast<int>(groups)) || !aligned16(x)) {
    return {};
  }
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  const bool biased = bias || nbias;
  if ((bias && !(half_vector(bias, c) && aligned16(*bias))) || (nbias && !nbias_fits(*nbias, n, c)) ||
      (biased && !sd_group_norm_nhwc_biased_supported(hw, static_cast<int>(c)))) {
    return {};
  }
  auto y = e4m3 ? at::empty({n, x.size(2), x.size(3), c}, x.options().dtype(at::kByte))
                : at::empty_like(x, at::MemoryFormat::ChannelsLast);
  auto work = at::empty(
      {sd_group_norm_nhwc_work_floats(static_cast<int>(n), hw, static_cast<int>(c), biased, sm_count())},
      x.options().dtype(at::kFloat));
  const void* g = gamma ? gamma->data_ptr() : nullptr;
  const void* be = beta ? beta->data_ptr() : nullptr;
  const void* bi = bias ? bias->data_ptr() : nullptr;
  const void* nb = nbias ? nbias->data_ptr() : nullptr;
  const int nb_rows = nbias ? static_cast<int>(nbias->size(0)) : 0;
  int err = e4m3 ? sd_group_norm_nhwc_silu_e4m3(x.data_ptr(), y.data_ptr(), g, be, bi, nb, nb_rows,
                                                work.data_ptr<float>(), static_cast<int>(n), hw, static_cast<int>(c),
                                                static_cast<int>(groups), static_cast<float>(eps), sm_count(),
                                                c10::cuda::getCurrentCUDAStream())
                 : sd_group_norm_nhwc(x.data_ptr(), y.data_ptr(), g, be, bi, nb, nb_rows, work.data_ptr<float>(),
                                      static_cast<int>(n), hw, static_cast<int>(c), static_cast<int>(groups),
                                      static_cast<float>(eps), silu, sm_count(), c10::cuda::getCurrentCUDAStream());
  if (launched(err, group_norm_unusable, "NHWC group norm")) return y;
  return {};
}

at::Tensor sd_group_norm(const at::Tensor& x, int64_t groups, const std::optional<at::Tensor>& gamma,
                         const std::optional<at::Tensor>& beta, double eps, bool silu) {
  // an op of its own in kernel profiles (profiler.cc), with the shapes of its inputs
  RECORD_FUNCTION("sd::group_norm",
                  std::vector<c10::IValue>({x, gamma ? *gamma : at::Tensor(), beta ? *beta : at::Tensor()}));
  auto nhwc = nhwc_group_norm(x, groups, gamma, beta, eps, silu, std::nullopt, std::nullopt);
  if (nhwc.defined()) return nhwc;
  if (fp32_group_norm_split.load() && x.is_cuda() && x.scalar_type() == at::kFloat && x.is_contiguous() &&
      x.size(1) % groups == 0) {
    return group_norm_split(x, groups, gamma, beta, eps, silu);
  }
  auto y = at::group_norm(x, groups, gamma, beta, eps, true);
  if (silu) y = at::silu_(y);
  return y;
}

// GEGLU's gate: a * gelu(g) for h = (..., 2I) = [a, g]. One pass of our kernel for fp16 CUDA tensors,
// PyTorch's chunk + gelu + mul otherwise.
std::atomic<bool> geglu_kernel_on{true};

at::Tensor geglu_gate(const at::Tensor& h) {
  RECORD_FUNCTION("sd::geglu_gate", std::vector<c10::IValue>({h}));  // an op of its own in kernel profiles
  static std::atomic<bool> unusable{false};  // kernel not built for this GPU: PyTorch's path from then on
  const int64_t two_i = h.size(-1);
  if (geglu_kernel_on.load() && !unusable.load() && h.is_cuda() && h.scalar_type() == at::kHalf &&
      h.is_contiguous() && two_i % 2 == 0 &&
      sd_geglu_supported(static_cast<int>(two_i / 2)) && reinterpret_cast<uintptr_t>(h.data_ptr()) % 16 == 0) {
    const int64_t inner = two_i / 2;
    auto out = at::empty(last_as(h, inner), h.options());
    int err = sd_geglu(h.data_ptr(), out.data_ptr(), h.numel() / two_i, static_cast<int>(inner), sm_count(),
                       c10::cuda::getCurrentCUDAStream());
    if (launched(err, unusable, "GEGLU")) return out;
  }
  auto parts = h.chunk(2, -1);
  return parts[0] * at::gelu(parts[1]);
}

// LayerNorm over the last dimension, optionally after a residual add (sum = x + d, y = layer_norm(sum)): our
// kernel (layer_norm.cu) for fp16 contiguous CUDA tensors with fp16 gamma and beta, PyTorch's add and layer_norm
// otherwise. Returns {sum, y} ({undefined, y} without d).
std::atomic<bool> layer_norm_kernel_on{true};
std::atomic<bool> layer_norm_unusable{false};  // kernel not built for this GPU: PyTorch's path from then on

// Whether our LayerNorm kernel takes x (..., C) and d (x's shape, or none): switch on, fp16 contiguous CUDA tensors,
// 16-byte aligned, C as sd_layer_norm_supported says.
bool layer_norm_fits(const at::Tensor& x, const std::optional<at::Tensor>& d) {
  const int64_t c = x.dim() > 0 ? x.size(-1) : 0;
  return layer_norm_kernel_on.load() && !layer_norm_unusable.load() && x.is_cuda() && x.scalar_type() == at::kHalf &&
         x.is_contiguous() && x.numel() > 0 && sd_layer_norm_supported(static_cast<int>(c)) && aligned16(x) &&
         (!d || (d->is_cuda() && d->scalar_type() == at::kHalf && d->is_contiguous() && d->sizes() == x.sizes() &&
                 d->device() == x.device() && aligned16(*d)));
}

std::pair<at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, const std::optional<at::Tensor>& d,
                                             const std::optional<at::Tensor>& gamma,
                                             const std::optional<at::Tensor>& beta, double eps) {
  RECORD_FUNCTION(d ? "sd::add_layer_norm" : "sd::layer_norm",
                  std::vector<c10::IValue>({x, d ? *d : at::Tensor(), gamma ? *gamma : at::Tensor()}));
  const int64_t c = x.dim() > 0 ? x.size(-1) : 0;
  if (layer_norm_fits(x, d) && half_vector(gamma, c) && half_vector(beta, c) && (!gamma || aligned16(*gamma)) &&
      (!beta || aligned16(*beta))) {
    auto y = at::empty_like(x, at::MemoryFormat::Contiguous);
    auto sum = d ? at::empty_like(x, at::MemoryFormat::Contiguous) : at::Tensor();
    int err = sd_layer_norm(x.data_ptr(), d ? d->data_ptr() : nullptr, d ? sum.data_ptr() : nullptr, y.data_ptr(),
                            gamma ? gamma->data_ptr() : nullptr, beta ? beta->data_ptr() : nullptr, x.numel() / c,
                            static_cast<int>(c), static_cast<float>(eps), c10::cuda::getCurrentCUDAStream());
    if (launched(err, layer_norm_unusable, "layer norm")) return {sum, y};
  }
  auto sum = d ? x + *d : at::Tensor();
  return {sum, at::layer_norm(d ? sum : x, {c}, gamma, beta, eps)};
}

// e4m3's largest finite value: FP8 values are saturated to ±448 (__NV_SATFINITE), not made NaN.
constexpr double kFp8Max = 448.0;

// LayerNorm without affine, its output as FP8 for fp8_linear (issue 17): {sum, y8} with sum = x + d as layer_norm
// writes it (undefined without d) and y8 (..., C) e4m3 bytes (kByte: DJL has no FP8 type) = e4m3((s - mean) * rstd *
// scale), saturating. Our kernel where layer_norm_fits (SD_LAYERNORM_KERNEL included); elsewhere PyTorch's add and
// layer_norm, times scale, clamped to ±448 and converted by PyTorch (round to nearest even, as the kernel).
std::pair<at::Tensor, at::Tensor> layer_norm_fp8(const at::Tensor& x, const std::optional<at::Tensor>& d, double eps,
                                                 double scale) {
  RECORD_FUNCTION(d ? "sd::add_layer_norm_fp8" : "sd::layer_norm_fp8",
                  std::vector<c10::IValue>({x, d ? *d : at::Tensor()}));
  const int64_t c = x.dim() > 0 ? x.size(-1) : 0;
  if (layer_norm_fits(x, d)) {
    auto y8 = at::empty(x.sizes(), x.options().dtype(at::kByte));
    auto sum = d ? at::empty_like(x, at::MemoryFormat::Contiguous) : at::Tensor();
    int err = sd_layer_norm_fp8(x.data_ptr(), d ? d->data_ptr() : nullptr, d ? sum.data_ptr() : nullptr,
                                y8.data_ptr(), static_cast<float>(scale), x.numel() / c, static_cast<int>(c),
                                static_cast<float>(eps), c10::cuda::getCurrentCUDAStream());
    if (launched(err, layer_norm_unusable, "layer norm (FP8 output)")) return {sum, y8};
  }
  auto sum = d ? x + *d : at::Tensor();
  auto n = at::layer_norm((d ? sum : x).to(at::kFloat), {c}, std::nullopt, std::nullopt, eps) * scale;
  return {sum, n.clamp(-kFp8Max, kFp8Max).to(at::kFloat8_e4m3fn).view(at::kByte)};
}

// y += bias (C) + nbias (B or 1, C) + residual (B, C, H, W), in place, each term optional: our one-pass kernel
// (bias_add.cu) for fp16 channels-last CUDA tensors, PyTorch's broadcasting add_ per term otherwise.
std::atomic<bool> bias_kernel_on{true};

at::Tensor bias_add(at::Tensor y, const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& nbias,
                       const std::optional<at::Tensor>& residual) {
  if (!bias && !nbias && !residual) return y;  // nothing to add (a convolution whose bias a later kernel adds)
  RECORD_FUNCTION("sd::bias_add", std::vector<c10::IValue>({y, bias ? *bias : at::Tensor(), nbias ? *nbias : at::Tensor(),
                                                            residual ? *residual : at::Tensor()}));
  static std::atomic<bool> unusable{false};  // kernel not built for this GPU: PyTorch's path from then on
  const bool four_d = y.dim() == 4;
  const int64_t n = four_d ? y.size(0) : 0, c = four_d ? y.size(1) : 0, hw = four_d ? y.size(2) * y.size(3) : 0;
  if (bias_kernel_on.load() && !unusable.load() && four_d && y.is_cuda() && y.scalar_type() == at::kHalf &&
      y.is_contiguous(at::MemoryFormat::ChannelsLast) && aligned16(y) && sd_bias_add_supported(hw, c) &&
      (!bias || (half_vector(bias, c) && aligned16(*bias))) &&
      (!nbias || nbias_fits(*nbias, n, c)) &&
      (!residual || (residual->is_cuda() && residual->scalar_type() == at::kHalf &&
                     residual->sizes() == y.sizes() && residual->is_contiguous(at::MemoryFormat::ChannelsLast) &&
                     aligned16(*residual)))) {
    int err = sd_bias_add(y.data_ptr(), bias ? bias->data_ptr() : nullptr, nbias ? nbias->data_ptr() : nullptr,
                          nbias ? static_cast<int>(nbias->size(0)) : 0,
                          residual ? residual->data_ptr() : nullptr, static_cast<int>(n), hw, static_cast<int>(c),
                          sm_count(), c10::cuda::getCurrentCUDAStream());
    if (launched(err, unusable, "bias add")) return y;
  }
  std::vector<int64_t> shape(y.dim(), 1);
  if (bias) {
    shape[1] = bias->numel();
    y.add_(bias->reshape(shape));
  }
  if (nbias) {  // (B, C) or (1, C), broadcast over the pixels (and the samples)
    shape[0] = nbias->size(0);
    shape[1] = nbias->size(1);
    y.add_(nbias->reshape(shape));
  }
  if (residual) y.add_(*residual);
  return y;
}

// ---- products with their bias and residual: y = x·wᵀ + b + r in one cuBLASLt call --------------------------------

// A residual add right after a linear layer (diffusers' BasicTransformerBlock: ff_output + hidden_states;
// Transformer2DModel: proj_out(hidden_states) + residual; transformers' CLIPEncoderLayer: residual + mlp(...)) done by
// the product itself: cuBLASLt computes D = alpha·op(A)·op(B) + beta·C, plus a bias per row of D in its epilogue
// (CUBLASLT_EPILOGUE_BIAS), so with alpha = beta = 1 and C = the residual (read, not overwritten) one kernel writes
// product + bias + residual (fp32 accumulation, one rounding to fp16) into a new D, where at::linear + add write the
// product and read it back in a second pass over the output. SD_LT_RESIDUAL=0: at::linear + add.
std::atomic<bool> lt_residual_on{true};

// Autotuning of lt_matmul's algorithms (issue 17, SD_LT_AUTOTUNE, on by default). cuBLASLt's heuristic orders the
// algorithms it offers for a product by its own estimate, and its first pick is not always the fastest: another of its
// candidates was 1.30x faster for (65536, 320) -> 320 on the H200 (scripts/gpu/probe_fp8_lt.cc). So the first eager
// call of a key (LtKey: shape, strides, alignments, types, epilogue) times up to kLtCandidates of the heuristic's
// algorithms on that call's own operands, each a warm-up call and kLtTimedCalls timed calls between two CUDA events on
// the current stream (one host sync per candidate), writing into d (a scratch output for products in place), and keeps the fastest for the key
// (lt_tune). Under CUDA graph capture nothing is timed: the heuristic's first pick runs, and the next eager call of the
// key tunes it (CudaGraphRunner runs every input shape once eagerly before it captures it, so the graphs run tuned
// algorithms). The plain fp16 linears (the attention projections, proj_in, the 1x1 convolutions' products) go through
// lt_matmul too when it is on, to run tuned algorithms (sd_linear); SD_LT_AUTOTUNE=0: the heuristic's first pick for
// the products lt_matmul runs (residual and FP8 products) and at::linear for the others, as before autotuning.
std::atomic<bool> lt_autotune_on{true};
constexpr int kLtCandidates = 8;   // algorithms asked of the heuristic per key, all timed
constexpr int kLtTimedCalls = 5;   // timed calls per candidate, after one warm-up call
// Another candidate replaces the heuristic's first pick only when it takes at most this fraction of its time: timing
// noise, and products too small to keep the GPU busy between launches (all candidates then time the host's launches),
// keep the heuristic's order.
constexpr float kLtMargin = 0.97f;

constexpr uint64_t kLtMaxWorkspace = 32ull << 20;  // the most workspace an algorithm may ask for (bytes)

// The fp16 products' split-K reductions: those that keep fp32 partial sums only (CUBLASLT_REDUCTION_SCHEME_NONE, i.e.
// no split-K, or COMPUTE_TYPE). The INPLACE and OUTPUT_TYPE schemes add partial sums in the output type (fp16), and a
// timed candidate of theirs could win; excluded, every fp16 product accumulates in fp32 and rounds to fp16 once, as
// at::linear's products do with PyTorch's allow_fp16_reduced_precision_reduction off. Not asked of the FP8 products:
// their operands' e4m3 rounding (about 2.7% each) dwarfs an fp16 partial sum's, and their fallback is the slow
// dequantised product, so no algorithm of theirs is excluded.
constexpr uint32_t kLtReductions = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;

void lt_check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuBLASLt product: ") + call + ": " + cublasLtGetStatusName(status));
  }
}

void cuda_check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("cuBLASLt autotuning: ") + call + ": " + cudaGetErrorString(err));
  }
}

// The descriptors of one product, destroyed on every way out.
struct LtDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, cd = nullptr;  // cd: C's and D's layout (the same)
  cublasLtMatrixLayout_t d = nullptr;  // D's own layout where its type differs from C's (e4m3 output), else none
  cublasLtMatmulPreference_t preference = nullptr;
  // D's layout: d where there is one, else cd
  cublasLtMatrixLayout_t dd() const { return d != nullptr ? d : cd; }
  ~LtDescriptors() {
    if (preference != nullptr) cublasLtMatmulPreferenceDestroy(preference);
    if (d != nullptr) cublasLtMatrixLayoutDestroy(d);
    if (cd != nullptr) cublasLtMatrixLayoutDestroy(cd);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
  }
};

// A pointer's alignment in bytes, at most 256 (cuBLASLt's default assumption; as PyTorch's _getAlignment).
int64_t lt_alignment(const void* p) {
  int64_t a = 256;
  while (reinterpret_cast<uintptr_t>(p) % a != 0) a /= 2;
  return a;
}

// What is known of one key: {device, M, N, K, lda, ldb, bias?, the alignments of x, w, C, D, bias, FP8?, residual?,
// A's and B's scale modes (0 scalar, 1 outer vector), D e4m3 (with a D scale)?}.
using LtKey = std::array<int64_t, 17>;

// One key's algorithms: cublasLtMatmulAlgoGetHeuristic's candidates in its order, asked once (empty: no algorithm, the
// caller's fallback runs), and once lt_tune has timed them, the fastest one's index and the figures of the report.
struct LtAlgos {
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  int tuned = -1;         // the index of the fastest candidate; -1 until timed (autotuning off, or seen only under
                          // capture or without an output)
  int ran = 0;            // how many candidates ran when timed (cublasLtMatmul may refuse one the heuristic offered)
  float tuned_ms = 0.0f;  // ms per call of the tuned candidate
  float first_ms = -1.0f; // ms per call of the heuristic's first pick (-1: refused)
};
std::mutex lt_algos_mutex;
std::map<LtKey, LtAlgos> lt_algos;

// The key's entry (a copy), its candidates asked of the heuristic the first time the key is seen: up to kLtCandidates
// for desc's product within kLtMaxWorkspace and the key's alignments, fp16 products' with kLtReductions. Any failure of
// the heuristic (not only NOT_SUPPORTED) leaves no candidates: the caller falls back.
LtAlgos lt_algo(cublasLtHandle_t handle, const LtKey& key, LtDescriptors& desc) {
  {
    std::lock_guard<std::mutex> lock(lt_algos_mutex);
    auto it = lt_algos.find(key);
    if (it != lt_algos.end()) return it->second;
  }
  lt_check(cublasLtMatmulPreferenceCreate(&desc.preference), "cublasLtMatmulPreferenceCreate");
  auto pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const auto& value, const char* what) {
    lt_check(cublasLtMatmulPreferenceSetAttribute(desc.preference, attr, &value, sizeof(value)), what);
  };
  pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kLtMaxWorkspace, "max workspace");
  if (key[12] == 0) pref(CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, kLtReductions, "reduction schemes");  // fp16
  // A is w, B is x, C is r
  pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, static_cast<uint32_t>(key[8]), "alignment of A");
  pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, static_cast<uint32_t>(key[7]), "alignment of B");
  pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, static_cast<uint32_t>(key[9]), "alignment of C");
  pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, static_cast<uint32_t>(key[10]), "alignment of D");
  std::array<cublasLtMatmulHeuristicResult_t, kLtCandidates> results{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, desc.op, desc.a, desc.b, desc.cd, desc.dd(),
                                                               desc.preference, kLtCandidates, results.data(), &found);
  LtAlgos algos;
  for (int i = 0; status == CUBLAS_STATUS_SUCCESS && i < found && i < kLtCandidates; i++) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS) algos.candidates.push_back(results[i]);
  }
  std::lock_guard<std::mutex> lock(lt_algos_mutex);
  return lt_algos.emplace(key, std::move(algos)).first->second;  // another thread's entry if it came first
}

// FP8 products use cuBLASLt's fast-accumulation mode (CUBLASLT_MATMUL_DESC_FAST_ACCUM = 1): Hopper's FP8 tensor cores
// add into a narrower accumulator, which the slow mode promotes to fp32 periodically and fast accumulation does not.
// Over K = 320 ... 1280 that costs far less than the e4m3 rounding of the operands themselves (3 mantissa bits), and
// the slow mode threw the gain away where it matters most (scripts/gpu/probe_fp8_lt.cc on the H200, batch 16: K = 320,
// N = 960 0.086 ms slow against 0.060 fast and 0.076 in fp16; N = 2560 0.173 / 0.130 / 0.180; K = 1280, N = 10240
// 0.094 / 0.082 / 0.136).
constexpr int8_t kFp8FastAccum = 1;

// The FP8 products' scales: float32 (kFp8ScaleSlots), s_w (A's) at 0 and 1/s_x (B's) at kFp8InputScale, each pointer
// 16-byte aligned as cuBLASLt wants its scale pointers.
constexpr int64_t kFp8ScaleSlots = 8;
constexpr int64_t kFp8InputScale = 4;

// One cuBLASLt product of row-major operands: y (M, N) = alpha·x (M, K)·wᵀ + bias (N) [+ r (M, N)], alpha = a_scale ·
// b_scale (device floats) for FP8 operands, else 1; with outer-vector scales (CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F,
// cuBLASLt 12.9+) a_scale is N floats, one per output feature (w's row), and b_scale M floats, one per token (x's
// row): y[m, n] = a_scale[n]·b_scale[m]·(x·wᵀ)[m, n] + bias[n] [+ r[m, n]]. cuBLASLt 13.1 on the H200 takes outer
// vectors for both or neither (A scalar with B a vector: INVALID_VALUE from the heuristic; scripts/gpu/probe_fp8_lt.cc).
// Both operands K-major, as cuBLASLt's FP8 wants them ("TN"): a row-major (M, K) x is cuBLAS's column-major K x M
// matrix, so the product runs transposed, as PyTorch's gemm_and_bias lays out nn.Linear: Dᵀ (N x M, ld N) = op(A)·B [+ C] with A = w's memory (K x N, ld K) transposed,
// B = x's memory (K x M, ld K), C = r's memory (N x M, ld N, beta 1) or, without r, D's (beta 0); the bias is a vector
// over D's N rows, the output features. w's rows may be further apart than K (lda = w.stride(0): a view of some of a
// wider weight's columns, cat_conv1x1). The workspace comes from PyTorch's caching allocator (no cudaMalloc, no sync:
// it runs under CUDA graph capture), all on the current stream.
struct LtProduct {
  at::Tensor x2;                        // (M, K), rows contiguous; fp16, or e4m3 bytes (fp8)
  at::Tensor w;                         // (N, K), rows contiguous (row stride >= K); x2's type
  std::optional<at::Tensor> bias;       // (N) fp16, or none
  at::Tensor r;                         // (M, N) fp16 contiguous, or undefined (no residual); may be D (in place)
  bool fp8 = false;                     // x2 and w are e4m3 (as bytes or kFloat8_e4m3fn)
  const void* a_scale = nullptr;        // fp8: device float(s), w's scale (CUBLASLT_MATMUL_DESC_A_SCALE_POINTER)
  const void* b_scale = nullptr;        // fp8: device float(s), x's scale (B_SCALE_POINTER)
  bool a_outer = false;                 // fp8: a_scale is N floats (CUBLASLT_MATMUL_DESC_A_SCALE_MODE outer vector)
  bool b_outer = false;                 // fp8: b_scale is M floats (B_SCALE_MODE outer vector)
  // fp8 without r: D written as e4m3 (CUDA_R_8F_E4M3, one byte per value) scaled by d_scale, a device float
  // (CUBLASLT_MATMUL_DESC_D_SCALE_POINTER): D = e4m3(d_scale · (alpha·a_scale·b_scale·(x·wᵀ) + bias)) (lt_fp8_linear with ys)
  const void* d_scale = nullptr;
};

// Sets an FP8 operand's scale mode to outer vector (CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F); false where this
// cuBLASLt lacks the mode (headers before 12.9, or a library that refuses the attribute): no algorithm then.
bool lt_outer_vector(cublasLtMatmulDesc_t op, bool a) {
#if defined(CUBLAS_VERSION) && CUBLAS_VERSION >= 120900
  const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
  return cublasLtMatmulDescSetAttribute(op, a ? CUBLASLT_MATMUL_DESC_A_SCALE_MODE : CUBLASLT_MATMUL_DESC_B_SCALE_MODE,
                                        &mode, sizeof(mode)) == CUBLAS_STATUS_SUCCESS;
#else
  (void)op;
  (void)a;
  return false;
#endif
}

// p's key, with D = d (undefined: D's alignment taken as 256, that of a new allocation), and its descriptors (the bias
// and scale pointers are p's: the descriptors serve this call only). False where this cuBLASLt lacks p's outer-vector
// scale modes (no algorithm).
bool lt_describe(const LtProduct& p, const at::Tensor& d, LtKey& key, LtDescriptors& desc) {
  const int64_t m = p.x2.size(0), n = p.w.size(0), k = p.w.size(1);
  const at::Tensor& c = p.r.defined() ? p.r : d;  // without r, C is D (beta 0: not read)
  const bool d_fp8 = p.fp8 && p.d_scale != nullptr && !p.r.defined();
  const int64_t d_align = d.defined() ? lt_alignment(d.data_ptr()) : 256;
  key = LtKey{p.x2.get_device(),
              m,
              n,
              k,
              p.w.stride(0),
              p.x2.stride(0),
              p.bias ? 1 : 0,
              lt_alignment(p.x2.data_ptr()),
              lt_alignment(p.w.data_ptr()),
              d_fp8 ? lt_alignment(p.w.data_ptr()) : c.defined() ? lt_alignment(c.data_ptr()) : d_align,  // lt_run's C
              d_align,
              p.bias ? lt_alignment(p.bias->data_ptr()) : 0,
              p.fp8 ? 1 : 0,
              p.r.defined() ? 1 : 0,
              p.fp8 && p.a_outer ? 1 : 0,
              p.fp8 && p.b_outer ? 1 : 0,
              d_fp8 ? 1 : 0};

  lt_check(cublasLtMatmulDescCreate(&desc.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  auto attr = [&](cublasLtMatmulDescAttributes_t a, const auto& value, const char* what) {
    lt_check(cublasLtMatmulDescSetAttribute(desc.op, a, &value, sizeof(value)), what);
  };
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  attr(CUBLASLT_MATMUL_DESC_TRANSA, transa, "transa");
  attr(CUBLASLT_MATMUL_DESC_TRANSB, transb, "transb");
  if (p.bias) {  // the bias's type: D's (fp16), CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE's default, set for FP8 explicitly
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const void* bias_ptr = p.bias->data_ptr();
    attr(CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue, "bias epilogue");
    attr(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_ptr, "bias pointer");
    if (p.fp8) {
      const int32_t bias_type = CUDA_R_16F;
      attr(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type, "bias type");
    }
  }
  if (p.fp8) {
    attr(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, p.a_scale, "scale of A");
    attr(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, p.b_scale, "scale of B");
    attr(CUBLASLT_MATMUL_DESC_FAST_ACCUM, kFp8FastAccum, "fast accumulation");
    if ((p.a_outer && !lt_outer_vector(desc.op, true)) || (p.b_outer && !lt_outer_vector(desc.op, false))) return false;
    if (d_fp8) attr(CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, p.d_scale, "scale of D");
  }
  const cudaDataType_t in_type = p.fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16F;
  lt_check(cublasLtMatrixLayoutCreate(&desc.a, in_type, k, n, p.w.stride(0)), "layout of A");
  lt_check(cublasLtMatrixLayoutCreate(&desc.b, in_type, k, m, p.x2.stride(0)), "layout of B");
  // C fp16 also where D is e4m3: cuBLASLt's FP8 products with an FP8 D take C (and the bias) in fp16 or bf16
  lt_check(cublasLtMatrixLayoutCreate(&desc.cd, CUDA_R_16F, n, m, n), "layout of C and D");
  if (d_fp8) lt_check(cublasLtMatrixLayoutCreate(&desc.d, CUDA_R_8F_E4M3, n, m, n), "layout of D");
  return true;
}

// A workspace of `bytes` from PyTorch's caching allocator on like's device (undefined for 0).
at::Tensor lt_workspace(uint64_t bytes, const at::Tensor& like) {
  return bytes > 0 ? at::empty({static_cast<int64_t>(bytes)}, like.options().dtype(at::kByte)) : at::Tensor();
}

// One cublasLtMatmul of p with `algo` into d_ptr on `stream`: alpha 1, C = p.r's memory with beta 1 (which may be d_ptr
// itself: in place), or without r, d_ptr with beta 0 (not read); for an e4m3 D (desc.d), C = w's memory with beta 0,
// not read (cuBLASLt takes neither a null C nor D's memory as C where C's type differs from D's; PyTorch's
// scaled_gemm passes A's memory the same way); workspace: at least algo's workspaceSize bytes.
cublasStatus_t lt_run(cublasLtHandle_t handle, const LtDescriptors& desc, const LtProduct& p,
                      const cublasLtMatmulHeuristicResult_t& algo, const at::Tensor& workspace, void* d_ptr,
                      cudaStream_t stream) {
  const float one = 1.0f, beta = p.r.defined() ? 1.0f : 0.0f;  // alpha and beta (CUDA_R_32F, the scale type)
  const void* c_ptr = p.r.defined() ? p.r.data_ptr() : desc.d != nullptr ? p.w.data_ptr() : d_ptr;
  return cublasLtMatmul(handle, desc.op, &one, p.w.data_ptr(), desc.a, p.x2.data_ptr(), desc.b, &beta, c_ptr, desc.cd,
                        d_ptr, desc.dd(), &algo.algo, workspace.defined() ? workspace.data_ptr() : nullptr,
                        algo.workspaceSize, stream);
}

// Whether `stream` is capturing a CUDA graph (or its capture status cannot be had: then no host syncs either).
bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
    (void)cudaGetLastError();  // not left behind for PyTorch's next launch check
    return true;
  }
  return status != cudaStreamCaptureStatusNone;
}

// Two timing events, destroyed on every way out.
struct LtEvents {
  cudaEvent_t start = nullptr, stop = nullptr;
  LtEvents() {
    cudaError_t err = cudaEventCreate(&start);
    if (err == cudaSuccess) err = cudaEventCreate(&stop);
    if (err != cudaSuccess) {
      destroy();
      cuda_check(err, "cudaEventCreate");
    }
  }
  ~LtEvents() { destroy(); }
  void destroy() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    start = stop = nullptr;
  }
};

// Times each of algos' candidates on p's operands (eager, on `stream`; SD_LT_AUTOTUNE): a warm-up call, then
// kLtTimedCalls calls between two events, one cudaEventSynchronize per candidate, all writing into d, which the call that
// follows overwrites (C = p.r where there is one, else d with beta 0), or, for a product in place (p.r is d: beta 1,
// each call would add into it), into a scratch output of d's shape (a new allocation: 256-byte aligned, at least the
// alignment the key has for D) with C = d, read only.
// Candidates cublasLtMatmul refuses are skipped. Stores and returns the key's entry with the fastest candidate as
// `tuned` (the heuristic's first pick unless another is faster by kLtMargin); where every candidate was refused, the
// entry has no candidates left (the callers' fallbacks from now on; a warning).
LtAlgos lt_tune(cublasLtHandle_t handle, const LtKey& key, const LtDescriptors& desc, LtAlgos algos, const LtProduct& p,
                const at::Tensor& d, cudaStream_t stream) {
  uint64_t most = 0;
  for (const auto& c : algos.candidates) most = std::max<uint64_t>(most, c.workspaceSize);
  const at::Tensor workspace = lt_workspace(most, p.x2);
  // the timing calls write d itself (the call that follows overwrites it), but for a product in place (C = D, beta 1:
  // each call would add into d again), which writes a scratch output instead
  const bool in_place = p.r.defined() && p.r.data_ptr() == d.data_ptr();
  const at::Tensor scratch = in_place ? at::empty({p.x2.size(0), p.w.size(0)}, d.options()) : at::Tensor();
  void* const out = in_place ? scratch.data_ptr() : d.data_ptr();
  LtEvents events;
  const int count = static_cast<int>(algos.candidates.size());
  int best = -1, ran = 0;
  float best_ms = 0.0f, first_ms = -1.0f;
  for (int i = 0; i < count; i++) {
    const cublasLtMatmulHeuristicResult_t& c = algos.candidates[i];
    if (lt_run(handle, desc, p, c, workspace, out, stream) != CUBLAS_STATUS_SUCCESS) continue;
    cuda_check(cudaEventRecord(events.start, stream), "cudaEventRecord");
    bool ok = true;
    for (int j = 0; j < kLtTimedCalls && ok; j++) {
      ok = lt_run(handle, desc, p, c, workspace, out, stream) == CUBLAS_STATUS_SUCCESS;
    }
    cuda_check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
    cuda_check(cudaEventSynchronize(events.stop), "cudaEventSynchronize");
    if (!ok) continue;
    float total = 0.0f;
    cuda_check(cudaEventElapsedTime(&total, events.start, events.stop), "cudaEventElapsedTime");
    const float ms = total / kLtTimedCalls;
    ran++;
    if (i == 0) first_ms = ms;
    if (best < 0 || ms < best_ms) {  // ties keep the heuristic's order
      best = i;
      best_ms = ms;
    }
  }
  if (best > 0 && first_ms >= 0 && best_ms > kLtMargin * first_ms) {  // not clearly faster than the heuristic's pick
    best = 0;
    best_ms = first_ms;
  }
  if (best < 0) {
    algos.candidates.clear();
    TORCH_WARN("cublasLtMatmul refused all ", count, " algorithms its heuristic offered for a product (M ", key[1],
               ", N ", key[2], ", K ", key[3], "): its shape takes the fallback from now on");
  } else {
    algos.tuned = best;
    algos.ran = ran;
    algos.tuned_ms = best_ms;
    algos.first_ms = first_ms;
  }
  std::lock_guard<std::mutex> lock(lt_algos_mutex);
  lt_algos[key] = algos;
  return algos;
}

// Runs p into d (M, N) fp16 contiguous, or e4m3 bytes where p.d_scale (d may be p.r itself: in place) and returns true,
// or false where cuBLASLt has
// no algorithm (nothing written). An undefined d runs nothing: whether it would (d's alignment taken as 256). The
// algorithm: the key's tuned one with SD_LT_AUTOTUNE on, timed here on this call's operands the first time the key is
// seen outside a capture with a d (lt_tune), else the heuristic's first pick.
bool lt_matmul(const LtProduct& p, const at::Tensor& d) {
  LtKey key;
  LtDescriptors desc;
  if (!lt_describe(p, d, key, desc)) return false;
  cublasLtHandle_t handle = at::cuda::getCurrentCUDABlasLtHandle();
  LtAlgos algos = lt_algo(handle, key, desc);
  if (algos.candidates.empty()) return false;
  if (!d.defined()) return true;

  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool tune = lt_autotune_on.load();
  if (tune && algos.tuned < 0 && !capturing(stream)) {
    algos = lt_tune(handle, key, desc, std::move(algos), p, d, stream);
    if (algos.candidates.empty()) return false;
  }
  const cublasLtMatmulHeuristicResult_t& algo = algos.candidates[tune && algos.tuned >= 0 ? algos.tuned : 0];
  const at::Tensor workspace = lt_workspace(algo.workspaceSize, p.x2);
  const cublasStatus_t status = lt_run(handle, desc, p, algo, workspace, d.data_ptr(), stream);
  if (status != CUBLAS_STATUS_SUCCESS) {
    // refused although the heuristic offered the algorithm (as cuBLASLt did for FP8 scale pointers 4 bytes apart):
    // nothing was written to d; this key takes the callers' fallbacks from now on instead of failing every call
    {
      std::lock_guard<std::mutex> lock(lt_algos_mutex);
      lt_algos[key].candidates.clear();
    }
    TORCH_WARN("cublasLtMatmul refused a product its heuristic offered (", cublasLtGetStatusName(status),
               "): its shape takes the fallback from now on");
    return false;
  }
  return true;
}

// The report of what autotuning found (NativeOps.ltTuneReport): a first line with how many keys were tuned and how
// many of them run another algorithm than the heuristic's first pick, then one line per tuned key in key order, e.g.
// "M 65536 N 320 K 320 fp16 +bias: picked #3 of 8 (8 ran), 0.0412 ms vs the heuristic's #0 0.0531 ms (1.29x)" (ms per
// call as timed; "w row stride" where w's rows are further apart than K, a device other than 0 at the end).
std::string lt_tune_report() {
  std::lock_guard<std::mutex> lock(lt_algos_mutex);
  std::string lines;
  int tuned = 0, other = 0, untuned = 0;
  for (const auto& [key, algos] : lt_algos) {
    if (algos.candidates.empty()) continue;
    if (algos.tuned < 0) {
      untuned++;
      continue;
    }
    tuned++;
    other += algos.tuned != 0 ? 1 : 0;
    char first[96];
    if (algos.first_ms < 0) {
      std::snprintf(first, sizeof(first), "the heuristic's #0 refused");
    } else {
      std::snprintf(first, sizeof(first), "the heuristic's #0 %.4f ms (%.2fx)", algos.first_ms,
                    algos.first_ms / std::max(algos.tuned_ms, 1e-6f));
    }
    char line[320];
    std::snprintf(line, sizeof(line), "\nM %lld N %lld K %lld %s%s%s%s%s: picked #%d of %zu (%d ran), %.4f ms vs %s",
                  static_cast<long long>(key[1]), static_cast<long long>(key[2]), static_cast<long long>(key[3]),
                  key[12] != 0 ? "fp8" : "fp16", key[16] != 0 ? " e4m3 out" : "", key[14] != 0 ? " outer-vector scales" : "",
                  key[6] != 0 ? " +bias" : "", key[13] != 0 ? " +residual" : "", algos.tuned, algos.candidates.size(),
                  algos.ran, algos.tuned_ms, first);
    lines += line;
    if (key[4] != key[3]) lines += ", w row stride " + std::to_string(key[4]);
    if (key[0] != 0) lines += ", cuda:" + std::to_string(key[0]);
  }
  return std::to_string(tuned) + " product shape(s) tuned, " + std::to_string(other) +
         " running another algorithm than the heuristic's first pick; " + std::to_string(untuned) +
         " seen but not tuned (autotuning off, or seen only under capture or without an output)" + lines;
}

// The (M, K) rows of x (..., K): x itself when 2-d with contiguous rows, a view of a contiguous x of any rank, else
// undefined; M between 1 and 2^31 - 1.
at::Tensor lt_rows(const at::Tensor& x, int64_t k) {
  const at::Tensor x2 = x.dim() == 2 ? x : x.is_contiguous() ? x.view({-1, k}) : at::Tensor();
  if (!x2.defined() || x2.size(0) == 0 || x2.size(0) > INT32_MAX || x2.stride(1) != 1 || x2.stride(0) != k) {
    return {};
  }
  return x2;
}

// Whether lt_matmul's fp16 product takes x (..., K), w (N, K), bias and r: fp16 CUDA tensors of one device, x's rows
// as lt_rows gives them, w's rows contiguous with a row stride of at least K and a multiple of 8 (w itself, or a view
// of some of a wider weight's columns), K and N multiples of 8, bias fp16 (N) or none, r (..., N) contiguous in the
// output's shape or undefined (no residual), all 16-byte aligned. Writes x's (M, K) rows to *x2.
bool lt_half_fits(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias, const at::Tensor& r,
                  at::Tensor* x2) {
  if (!x.is_cuda() || x.dim() < 2 || w.dim() != 2 || x.scalar_type() != at::kHalf || w.scalar_type() != at::kHalf ||
      w.device() != x.device()) {
    return false;
  }
  const int64_t n = w.size(0), k = w.size(1);
  if (x.size(-1) != k || k % 8 != 0 || n % 8 != 0 || k > INT32_MAX || n > INT32_MAX || w.stride(1) != 1 ||
      w.stride(0) < k || w.stride(0) % 8 != 0 || !aligned16(w)) {
    return false;
  }
  *x2 = lt_rows(x, k);
  if (!x2->defined() || !aligned16(*x2)) return false;
  if (bias && !(half_vector(bias, n) && bias->device() == x.device() && aligned16(*bias))) return false;
  if (!r.defined()) return true;
  const std::vector<int64_t> sizes = last_as(x, n);
  return r.scalar_type() == at::kHalf && r.device() == x.device() && r.is_contiguous() &&
         r.sizes() == at::IntArrayRef(sizes) && aligned16(r);
}

// y = x·wᵀ + bias [+ r] in one cuBLASLt product (lt_matmul) where lt_half_fits: writes the new (..., N) tensor to *out
// and returns true; false where the operands do not fit or cuBLASLt has no algorithm (no switch asked: the callers
// ask theirs). With out == nullptr nothing runs: whether it would.
bool lt_linear(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias, const at::Tensor& r,
               at::Tensor* out) {
  at::Tensor x2;
  if (!lt_half_fits(x, w, bias, r, &x2)) return false;
  const std::vector<int64_t> sizes = last_as(x, w.size(0));
  at::Tensor d = out != nullptr ? at::empty(sizes, x.options()) : at::Tensor();
  if (!lt_matmul(LtProduct{x2, w, bias, r}, d)) return false;
  if (out != nullptr) *out = std::move(d);
  return true;
}

// y = x·wᵀ + bias + r in one cuBLASLt product, r (..., N) in the output's shape: lt_linear with SD_LT_RESIDUAL on (the
// caller takes at::linear + add where it returns false).
bool lt_linear_residual(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                        const at::Tensor& r, at::Tensor* out) {
  return lt_residual_on.load() && r.defined() && lt_linear(x, w, bias, r, out);
}

// x·wᵀ + bias + r (r in the output's shape): lt_linear_residual where it applies, else at::linear + add.
at::Tensor linear_residual(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                           const at::Tensor& r) {
  RECORD_FUNCTION("sd::linear_residual", std::vector<c10::IValue>({x, w, r}));  // an op of its own in kernel profiles
  at::Tensor y;
  if (lt_linear_residual(x, w, bias, r, &y)) return y;
  return at::add(at::linear(x, w, bias), r);
}

// torch.nn.functional.linear, x (..., K)·wᵀ (N, K) + bias (N) or none: with SD_LT_AUTOTUNE on, one cuBLASLt product
// with the key's tuned algorithm (lt_linear: fp16 CUDA operands as lt_half_fits says), else, and where that does not
// apply, at::linear (as Python's nn.Linear runs it: the bias fused into the product). Both accumulate in fp32 and round
// to x's type once.
at::Tensor sd_linear(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias) {
  RECORD_FUNCTION("sd::linear", std::vector<c10::IValue>({x, w}));  // an op of its own in kernel profiles
  at::Tensor y;
  if (lt_autotune_on.load() && lt_linear(x, w, bias, at::Tensor(), &y)) return y;
  return at::linear(x, w, bias);
}

// Each candidate algorithm autotuning chooses from (the heuristic's, in its order) run once on x·wᵀ + bias [+ r] into
// a new (..., N) tensor: the outputs, undefined where cublasLtMatmul refused an algorithm; none where lt_half_fits does
// not hold or cuBLASLt has no algorithm. Whatever the switches say (the kernel self-check compares every one with the
// oracle).
std::vector<at::Tensor> lt_candidate_outputs(const at::Tensor& x, const at::Tensor& w,
                                             const std::optional<at::Tensor>& bias, const at::Tensor& r) {
  at::Tensor x2;
  if (!lt_half_fits(x, w, bias, r, &x2)) return {};
  const std::vector<int64_t> sizes = last_as(x, w.size(0));
  const LtProduct p{x2, w, bias, r};
  const at::Tensor first = at::empty(sizes, x.options());  // a new allocation: every output has its alignment
  LtKey key;
  LtDescriptors desc;
  if (!lt_describe(p, first, key, desc)) return {};
  cublasLtHandle_t handle = at::cuda::getCurrentCUDABlasLtHandle();
  const LtAlgos algos = lt_algo(handle, key, desc);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  std::vector<at::Tensor> outputs;
  for (size_t i = 0; i < algos.candidates.size(); i++) {
    at::Tensor d = i == 0 ? first : at::empty(sizes, x.options());
    const at::Tensor workspace = lt_workspace(algos.candidates[i].workspaceSize, x2);
    const cublasStatus_t status = lt_run(handle, desc, p, algos.candidates[i], workspace, d.data_ptr(), stream);
    outputs.push_back(status == CUBLAS_STATUS_SUCCESS ? d : at::Tensor());
  }
  return outputs;
}

// ---- FP8 products of LayerNorm outputs (issue 17) -----------------------------------------------------------------

// The linears that read a transformer block's LayerNorm (diffusers' BasicTransformerBlock: norm1 -> attn1's q|k|v,
// norm2 -> attn2's q, norm3 -> ff.net.0.proj) as FP8 (e4m3) products on GPUs with FP8 tensor cores (compute capability
// 8.9+), their input written as FP8 by the LayerNorm kernel itself (layer_norm_fp8), so quantising it costs no pass of
// its own. With x̂ = (x - mean)·rstd, y·Wᵀ + b = x̂·W'ᵀ + b' for the norm's y = x̂∘γ + β, W' = W·diag(γ), b' = b + W·β
// (folded in float32 by the Java side, Fp8Linear), so the kernel writes x̂·s_x without affine; W' is stored as
// e4m3 W'/s_w with s_w = amax|W'| / 448 (fp8_quantize). cuBLASLt computes s_w · (1/s_x) · (W'_fp8 · x̂_fp8) + b' with
// fp32 accumulation into fp16 (lt_matmul; cuBLASLt's FP8 needs both operands K-major, "TN", which row-major W' (N, K)
// and x̂ (M, K) are, and K a multiple of 16).

// Whether x8 and w8 fit a cuBLASLt FP8 product: e4m3 bytes (kByte or kFloat8_e4m3fn) x8 (..., K) contiguous and w8
// (N, K) contiguous, K a multiple of 16 and N of 8, bias fp16 (N) or none, all on one CUDA device, 16-byte aligned.
// Writes x8's (M, K) rows to *x2. The scales are each caller's (fp32_scales).
bool fp8_operands_fit(const at::Tensor& x8, const at::Tensor& w8, const std::optional<at::Tensor>& bias,
                      at::Tensor* x2) {
  auto byte = [](const at::Tensor& t) {
    return t.scalar_type() == at::kByte || t.scalar_type() == at::kFloat8_e4m3fn;
  };
  if (!x8.is_cuda() || x8.dim() < 2 || w8.dim() != 2 || !byte(x8) || !byte(w8) || w8.device() != x8.device() ||
      !w8.is_contiguous() || !x8.is_contiguous()) {
    return false;
  }
  const int64_t n = w8.size(0), k = w8.size(1);
  if (x8.size(-1) != k || k % 16 != 0 || n % 8 != 0 || k > INT32_MAX || n > INT32_MAX) return false;
  *x2 = lt_rows(x8, k);
  return x2->defined() && aligned16(*x2) && aligned16(w8) &&
         (!bias || (half_vector(bias, n) && bias->device() == x8.device() && aligned16(*bias)));
}

// Whether s holds count float32 scales as cuBLASLt's scale pointers want them: contiguous, on x's device, 16-byte aligned
// (cuBLASLt refuses a scale pointer that is not: CUBLAS_STATUS_NOT_SUPPORTED from cublasLtMatmul with two scales
// adjacent, scripts/gpu/probe_fp8_lt.cc on the H200).
bool fp32_scales(const at::Tensor& s, int64_t count, const at::Tensor& x) {
  return s.scalar_type() == at::kFloat && s.numel() == count && s.is_contiguous() && s.device() == x.device() &&
         aligned16(s);
}

// Whether lt_fp8_linear takes these: fp8_operands_fit, scales float32 (kFp8ScaleSlots) with s_w at 0 and 1/s_x at
// kFp8InputScale (fp32_scales).
bool fp8_linear_fits(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                     const std::optional<at::Tensor>& bias, at::Tensor* x2) {
  return fp8_operands_fit(x8, w8, bias, x2) && fp32_scales(scales, kFp8ScaleSlots, x8);
}

// y (..., N) fp16 = (x8 · w8ᵀ) · scales[0] · scales[kFp8InputScale] + bias as one cuBLASLt FP8 product (lt_matmul), operands as
// fp8_linear_fits says; with ys (float32, kFp8ScaleSlots, as fp32_scales says) y is e4m3 bytes instead, e4m3(ys[0] · that)
// (an e4m3 D with p.d_scale: SD_FP8_GEGLU below). Writes the new y to *out and returns true; false where they do not fit
// or cuBLASLt has no algorithm (a GPU without FP8 tensor cores). With out == nullptr nothing runs: whether it would.
bool lt_fp8_linear(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                   const std::optional<at::Tensor>& bias, at::Tensor* out, const at::Tensor* ys = nullptr) {
  at::Tensor x2;
  if (!fp8_linear_fits(x8, w8, scales, bias, &x2)) return false;
  if (ys != nullptr && !fp32_scales(*ys, kFp8ScaleSlots, x8)) return false;
  const std::vector<int64_t> sizes = last_as(x8, w8.size(0));
  at::Tensor d =
      out != nullptr ? at::empty(sizes, x8.options().dtype(ys != nullptr ? at::kByte : at::kHalf)) : at::Tensor();
  const float* sc = scales.data_ptr<float>();
  LtProduct p{x2.view(at::kFloat8_e4m3fn), w8.view(at::kFloat8_e4m3fn), bias, at::Tensor(), true, sc,
              sc + kFp8InputScale};
  if (ys != nullptr) p.d_scale = ys->data_ptr<float>();
  if (!lt_matmul(p, d)) return false;
  if (out != nullptr) *out = std::move(d);
  return true;
}

// e4m3 bytes (kByte or kFloat8_e4m3fn) as float32, exactly.
at::Tensor e4m3_float(const at::Tensor& t) {
  return (t.scalar_type() == at::kByte ? t.view(at::kFloat8_e4m3fn) : t).to(at::kFloat);
}

// The FP8 product's values without cuBLASLt (the fallbacks of fp8_linear and fp8_linear_e4m3): float32 operands (x8 and
// w8 converted from e4m3 exactly), at::linear, times the scales, + bias, in float32 (..., N).
at::Tensor fp8_linear_f32(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                          const std::optional<at::Tensor>& bias) {
  auto p = at::linear(e4m3_float(x8), e4m3_float(w8)) * scales[0] * scales[kFp8InputScale];
  if (bias) p.add_(bias->to(at::kFloat));
  return p;
}

// lt_fp8_linear where it applies; otherwise the same values dequantised: float32 operands (x8 and w8 converted from
// e4m3 exactly), at::linear, times the scales, + bias, rounded to fp16 (slow: a fallback, not a path).
at::Tensor fp8_linear(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                      const std::optional<at::Tensor>& bias) {
  RECORD_FUNCTION("sd::fp8_linear", std::vector<c10::IValue>({x8, w8}));  // an op of its own in kernel profiles
  at::Tensor y;
  if (lt_fp8_linear(x8, w8, scales, bias, &y)) return y;
  return fp8_linear_f32(x8, w8, scales, bias).to(at::kHalf);
}

// v clamped to ±448 and converted to e4m3 by PyTorch (round to nearest even), copied into w8 (bytes or e4m3, v's shape).
void store_e4m3(const at::Tensor& v, at::Tensor& w8) {
  (w8.scalar_type() == at::kByte ? w8.view(at::kFloat8_e4m3fn) : w8).copy_(v.clamp(-kFp8Max, kFp8Max).to(at::kFloat8_e4m3fn));
}

// ---- ff.net.0.proj written as e4m3 with a static scale (SD_FP8_GEGLU) --------------------------------------------

// GEGLU's intermediate h = ff.net.0.proj(norm3(x)) (B·HW, 2I), the UNet's largest tensor, written by the FP8 product as
// e4m3 instead of fp16 and read back so by the gate (geglu_gate_e4m3_into): half the bytes both ways. cuBLASLt's FP8
// matmul with an e4m3 D (CUBLASLT_MATMUL_DESC_D_SCALE_POINTER; C's layout fp16, not read, and the fp16 bias in the
// epilogue, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE CUDA_R_16F) computes D = e4m3(s_y · (s_w·(1/s_x)·(W'_fp8·x̂_fp8) + b'))
// (cuBLASLt's FP8 rule: the D scale multiplies the epilogue's output, bias included). s_y is static, one per layer,
// computed at load and on every refresh after LoRA patches with the other FP8 companions (Fp8Linear.outputScales, on the
// Java side): since ‖x̂‖₂ ≤ √C, Cauchy–Schwarz bounds |y_j| by ‖W'_j‖₂·‖x̂_fp8‖₂ + |b'_j| with margins for the e4m3
// roundings of W' and x̂, and s_y = 448 / max_j of that bound, so no value reaches e4m3's largest. ys: float32
// (kFp8ScaleSlots), s_y at 0 (the D scale) and 1/s_y at kFp8InputScale (the gate's factor), 16-byte aligned.

// lt_fp8_linear with ys where it applies; otherwise the same values dequantised (fp8_linear_f32, then times ys[0],
// clamped to ±448 and converted by PyTorch: slow, a fallback, not a path). e4m3 bytes (..., N).
at::Tensor fp8_linear_e4m3(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                           const std::optional<at::Tensor>& bias, const at::Tensor& ys) {
  RECORD_FUNCTION("sd::fp8_linear_e4m3", std::vector<c10::IValue>({x8, w8}));  // an op of its own in kernel profiles
  at::Tensor y;
  if (lt_fp8_linear(x8, w8, scales, bias, &y, &ys)) return y;
  auto p = fp8_linear_f32(x8, w8, scales, bias).mul_(ys[0]);
  auto y8 = at::empty(last_as(x8, w8.size(0)), x8.options().dtype(at::kByte));
  store_e4m3(p.view(y8.sizes()), y8);
  return y8;
}

// W'_fp8 and its scale, in place (the buffers captured CUDA graphs read): s_w = amax|w'| / 448 (a tiny positive number
// for an all-zero w'), w8 = e4m3(w' / s_w) (round to nearest even, clamped to ±448), scales[0] = s_w, scales[kFp8InputScale] = inv_sx. w' (N, K)
// float32 (the folded weight), w8 (N, K) bytes (kByte or kFloat8_e4m3fn), scales float32 (kFp8ScaleSlots), all on one
// device.
// Runs on the device without a sync (no host reads).
void fp8_quantize(const at::Tensor& wf, at::Tensor& w8, at::Tensor& scales, double inv_sx) {
  if (wf.scalar_type() != at::kFloat || wf.sizes() != w8.sizes() || w8.element_size() != 1 ||
      scales.scalar_type() != at::kFloat || scales.numel() != kFp8ScaleSlots || wf.device() != w8.device() ||
      scales.device() != w8.device()) {
    throw std::invalid_argument("fp8Quantize: w' float32 (N, K), w8 bytes (N, K), scales float32 (8), one device");
  }
  auto sw = wf.abs().amax().clamp_min(std::numeric_limits<float>::min()) / kFp8Max;
  store_e4m3(wf / sw, w8);
  scales.select(0, 0).copy_(sw);
  scales.select(0, kFp8InputScale).fill_(inv_sx);
}

// ff.net.2's FP8 weight and its per-row scales, in place: s_w[n] = amax|w[n, :]| / 448 (a tiny positive number for an
// all-zero row), w8 = e4m3(w / s_w) row by row, scales = s_w. w (N, K) any float type (the fp16 weight, converted to
// float32 exactly), w8 (N, K) bytes, scales float32 (N) contiguous, all on one device; no sync.
void fp8_quantize_rows(const at::Tensor& w, at::Tensor& w8, at::Tensor& scales) {
  if (w.dim() != 2 || !at::isFloatingType(w.scalar_type()) || w.sizes() != w8.sizes() || w8.element_size() != 1 ||
      scales.scalar_type() != at::kFloat || scales.numel() != w.size(0) || !scales.is_contiguous() ||
      w.device() != w8.device() || scales.device() != w8.device()) {
    throw std::invalid_argument("fp8QuantizeRows: w float (N, K), w8 bytes (N, K), scales float32 (N), one device");
  }
  auto wf = w.to(at::kFloat);
  auto sw = wf.abs().amax({1}, true).clamp_min(std::numeric_limits<float>::min()) / kFp8Max;  // (N, 1)
  store_e4m3(wf / sw, w8);
  scales.copy_(sw.view({-1}));
}

// ---- ff.net.2 as an FP8 product of the GEGLU gate's FP8 output (SD_FP8_FF_OUT) ------------------------------------

// The feed-forward's output projection (diffusers' BasicTransformerBlock: ff.net.2, whose input is the GEGLU gate's
// a * gelu(g)) as an FP8 product: the gate's output is not normalised, so the gate kernel writes it as e4m3 with one
// scale per row, s_m = amax|v[m, :]| / 448 (geglu_gate_fp8); W is e4m3 with one scale per output feature, s_w[n] =
// amax|W[n, :]| / 448 (fp8_quantize_rows), and one cuBLASLt FP8 product with outer-vector scales (lt_matmul: A's per
// output feature, B's per token) computes y[m, n] = s_w[n]·s_m·(W_fp8·v_fp8)[m, n] + b[n] + r[m, n], the block's
// residual r as C with beta 1 and the bias in the epilogue (as linear_residual's fp16 product does).

// The FP8 gates' fallback from the fp32 gate values v (rows, I): per row s = amax|v| / 448 and r = 448 / amax|v| (both 1
// for an all-zero row), q = e4m3(v * r), as geglu_gate_fp8_into states the rule; q (rows·I) bytes, s (rows) float32.
void gate_fp8_rows(const at::Tensor& v, at::Tensor& q, at::Tensor& s) {
  const int64_t rows = v.size(0), inner = v.size(1);
  auto amax = v.abs().amax({1}, true);
  auto s0 = amax / kFp8Max;
  auto pos = s0 > 0;  // NaN or 0: s = r = 1, as the kernel
  auto scale = at::where(pos, s0, at::ones_like(s0));
  // 448 / amax as an IEEE division of two tensors (a number divided by a tensor would be a reciprocal times 448)
  auto recip = at::where(pos, at::full_like(amax, kFp8Max).div(amax).clamp_max(std::numeric_limits<float>::max()),
                         at::ones_like(amax));
  auto q2 = q.view({rows, inner});
  store_e4m3(v * recip, q2);
  s.copy_(scale.view({-1}));
}

// {rows, inner} of a gate's h (..., 2I) (bytes where h_bytes) and its outputs q (..., I) bytes (rows = h.numel() / 2I)
// and s (rows) float32, contiguous, on h's device; throws std::invalid_argument(message) where they do not fit.
// geglu_gate_fp8_into's and geglu_gate_e4m3_into's check of their buffers.
std::pair<int64_t, int64_t> gate_fp8_shape(const at::Tensor& h, bool h_bytes, const at::Tensor& q, const at::Tensor& s,
                                           const char* message) {
  const int64_t inner = h.size(-1) / 2, rows = inner > 0 ? h.numel() / (2 * inner) : 0;
  if ((h_bytes && h.element_size() != 1) || h.size(-1) != 2 * inner || q.numel() != rows * inner ||
      q.element_size() != 1 || !q.is_contiguous() || s.scalar_type() != at::kFloat || s.numel() != rows ||
      !s.is_contiguous() || q.device() != h.device() || s.device() != h.device()) {
    throw std::invalid_argument(message);
  }
  return {rows, inner};
}

// a * gelu(g) of h = (..., 2I) = [a, g] as FP8 with per-row scales, into q (..., I) e4m3 bytes and s (rows) float32
// (rows = h.numel() / 2I): v = a·gelu(g) in fp32, NOT rounded to fp16 first (the fp16 gate rounds it; quantising the
// fp32 value loses less), per row s = amax|v| / 448 and r = min(448 / amax|v|, FLT_MAX) (both 1 where s is 0: an
// all-zero row), q = e4m3(v * r): the fp32 product, converted rounding to nearest even and saturating at ±448 (geglu.cu's
// row_scale states the rule and why a multiplication, not v / s). Our kernels (geglu.cu's geglu_fp8_warp_kernel and
// geglu_fp8_kernel) for fp16 contiguous 16-byte aligned CUDA h with I a multiple of 8 up to 16384 and SD_GEGLU_KERNEL
// on; PyTorch's ops otherwise (the same values, up to the last bit of erf, and of s: PyTorch's CUDA division by a
// number multiplies by its reciprocal).
void geglu_gate_fp8_into(const at::Tensor& h, at::Tensor& q, at::Tensor& s) {
  RECORD_FUNCTION("sd::geglu_gate_fp8", std::vector<c10::IValue>({h}));  // an op of its own in kernel profiles
  static std::atomic<bool> unusable{false};  // kernel not built for this GPU: PyTorch's path from then on
  const auto [rows, inner] =
      gate_fp8_shape(h, false, q, s, "gegluGateFp8: h (..., 2I), q (..., I) bytes, s (rows) float32, one device");
  if (geglu_kernel_on.load() && !unusable.load() && h.is_cuda() && h.scalar_type() == at::kHalf && h.is_contiguous() &&
      inner <= INT32_MAX && sd_geglu_fp8_supported(static_cast<int>(inner)) && aligned16(h) && aligned16(q) &&
      rows > 0) {
    int err = sd_geglu_fp8(h.data_ptr(), q.data_ptr(), s.data_ptr<float>(), rows, static_cast<int>(inner), sm_count(),
                           c10::cuda::getCurrentCUDAStream());
    if (launched(err, unusable, "GEGLU (FP8 output)")) return;
  }
  auto parts = h.to(at::kFloat).chunk(2, -1);
  gate_fp8_rows((parts[0] * at::gelu(parts[1])).reshape({rows, inner}), q, s);
}

// New buffers for the FP8 gate of h (..., 2I): {q (..., I) bytes, s (rows) float32}, each at the start of an allocation
// of its own (the caching allocator's blocks are 512-byte aligned; cuBLASLt wants its scale pointers 16-byte aligned).
std::pair<at::Tensor, at::Tensor> geglu_fp8_buffers(const at::Tensor& h) {
  const int64_t inner = h.size(-1) / 2;
  auto q = at::empty(last_as(h, inner), h.options().dtype(at::kByte));
  auto s = at::empty({inner > 0 ? q.numel() / inner : 0}, h.options().dtype(at::kFloat));
  return {q, s};
}

// geglu_gate_fp8_into new buffers: {q (..., I) e4m3 bytes, s (rows) float32}.
std::pair<at::Tensor, at::Tensor> geglu_gate_fp8(const at::Tensor& h) {
  auto qs = geglu_fp8_buffers(h);
  geglu_gate_fp8_into(h, qs.first, qs.second);
  return qs;
}

// y (..., N) fp16 = (x8·w8ᵀ)[m, n]·ws[n]·xs[m] + bias[n] + r[m, n] as one cuBLASLt FP8 product with outer-vector scales
// (lt_matmul): x8 (..., K) and w8 (N, K) as fp8_operands_fit says, xs (M) and ws (N) float32 (fp32_scales: each
// vector at the start of an allocation of its own keeps it 16-byte aligned), r (..., N) fp16 contiguous in the output's
// shape, 16-byte aligned. Writes the new y to *out and returns true; false where they do not fit or cuBLASLt has no
// algorithm (no outer-vector mode: cuBLASLt before 12.9, or a GPU it has none for). With out == nullptr nothing runs:
// whether it would.
bool lt_fp8_linear_residual(const at::Tensor& x8, const at::Tensor& xs, const at::Tensor& w8, const at::Tensor& ws,
                            const std::optional<at::Tensor>& bias, const at::Tensor& r, at::Tensor* out) {
  at::Tensor x2;
  if (!fp8_operands_fit(x8, w8, bias, &x2) || !fp32_scales(xs, x2.size(0), x8) || !fp32_scales(ws, w8.size(0), x8)) {
    return false;
  }
  const std::vector<int64_t> sizes = last_as(x8, w8.size(0));
  if (r.scalar_type() != at::kHalf || r.device() != x8.device() || !r.is_contiguous() ||
      r.sizes() != at::IntArrayRef(sizes) || !aligned16(r)) {
    return false;
  }
  at::Tensor d = out != nullptr ? at::empty(sizes, x8.options().dtype(at::kHalf)) : at::Tensor();
  LtProduct p{x2.view(at::kFloat8_e4m3fn), w8.view(at::kFloat8_e4m3fn), bias, r, true, ws.data_ptr(), xs.data_ptr(),
              true, true};
  if (!lt_matmul(p, d)) return false;
  if (out != nullptr) *out = std::move(d);
  return true;
}

// lt_fp8_linear_residual where it applies; otherwise the same values dequantised: float32 operands (x8 and w8 converted
// from e4m3 exactly), at::linear, times both scale vectors, + bias + r, rounded to fp16 (slow: a fallback, not a path).
at::Tensor fp8_linear_residual(const at::Tensor& x8, const at::Tensor& xs, const at::Tensor& w8, const at::Tensor& ws,
                               const std::optional<at::Tensor>& bias, const at::Tensor& r) {
  RECORD_FUNCTION("sd::fp8_linear_residual", std::vector<c10::IValue>({x8, w8, r}));  // an op of its own in profiles
  at::Tensor y;
  if (lt_fp8_linear_residual(x8, xs, w8, ws, bias, r, &y)) return y;
  const int64_t n = w8.size(0);
  auto p = at::linear(e4m3_float(x8).reshape({-1, w8.size(1)}), e4m3_float(w8)) * xs.to(at::kFloat).reshape({-1, 1}) *
           ws.to(at::kFloat).reshape({1, n});
  if (bias) p.add_(bias->to(at::kFloat));
  p.add_(r.reshape({-1, n}).to(at::kFloat));
  const std::vector<int64_t> sizes = last_as(x8, n);
  return p.to(at::kHalf).view(sizes);
}

// A transformer block's feed-forward after norm3 on the FP8 path, its residual added: h = fp8_linear(x8, w8, scales,
// b) (ff.net.0.proj, as gegluFp8), then where the FP8 product of ff.net.2 has a cuBLASLt algorithm for these shapes
// (asked before the gate runs, on the gate's output buffers), the gate as FP8 with per-row scales
// (geglu_gate_fp8_into) and that product with bias bo and residual r (fp8_linear_residual: w8o (C, I) bytes, wso (C)
// float32); elsewhere the fp16 gate and linear_residual with the fp16 weight wo (C, I), as without SD_FP8_FF_OUT (so
// a GPU or cuBLASLt without outer-vector FP8 products keeps the fp16 speed, not the dequantised fallback's).
at::Tensor feed_forward_fp8(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                            const std::optional<at::Tensor>& b, const at::Tensor& w8o, const at::Tensor& wso,
                            const std::optional<at::Tensor>& bo, const at::Tensor& wo, const at::Tensor& r) {
  at::Tensor h = fp8_linear(x8, w8, scales, b);
  auto [q, s] = geglu_fp8_buffers(h);
  if (lt_fp8_linear_residual(q, s, w8o, wso, bo, r, nullptr)) {
    geglu_gate_fp8_into(h, q, s);
    return fp8_linear_residual(q, s, w8o, wso, bo, r);
  }
  return linear_residual(geglu_gate(h), wo, bo, r);
}

// geglu_gate_fp8_into's output from an e4m3 h8 (..., 2I) = [a8, g8] (bytes, as fp8_linear_e4m3 writes it): a = e4m3(a8)
// · ys[kFp8InputScale] and g likewise (1/s_y: the values the product stood for, in fp32), v = a·gelu(g) in fp32 (exact
// erf), then the same rule into q (..., I) e4m3 bytes and s (rows) float32. Our kernels (geglu.cu, sd_geglu_e4m3: 16
// values per 16-byte pack) for contiguous 16-byte aligned CUDA h8 with I a multiple of 16 up to 16384 and SD_GEGLU_KERNEL
// on; PyTorch's ops otherwise (the same values up to the last bit of erf).
std::atomic<bool> gate_e4m3_unusable{false};  // e4m3 gate kernel not built for this GPU: PyTorch's path from then on

// Whether our e4m3 gate kernel takes rows of I (SD_GEGLU_KERNEL on, the kernel not marked unusable on this GPU,
// sd_geglu_e4m3_supported); the tensors' own conditions (CUDA, contiguous, aligned) are the caller's.
bool gate_e4m3_kernel_takes(int64_t inner) {
  return geglu_kernel_on.load() && !gate_e4m3_unusable.load() && inner > 0 && inner <= INT32_MAX &&
         sd_geglu_e4m3_supported(static_cast<int>(inner));
}

void geglu_gate_e4m3_into(const at::Tensor& h8, const at::Tensor& ys, at::Tensor& q, at::Tensor& s) {
  RECORD_FUNCTION("sd::geglu_gate_e4m3", std::vector<c10::IValue>({h8}));  // an op of its own in kernel profiles
  constexpr const char* kBadBuffers =
      "gegluGateE4m3: h8 (..., 2I) bytes, ys float32 (8), q (..., I) bytes, s (rows) float32, one device";
  const auto [rows, inner] = gate_fp8_shape(h8, true, q, s, kBadBuffers);
  if (!fp32_scales(ys, kFp8ScaleSlots, h8)) throw std::invalid_argument(kBadBuffers);
  if (gate_e4m3_kernel_takes(inner) && h8.is_cuda() && h8.is_contiguous() && aligned16(h8) && aligned16(q) && rows > 0) {
    int err = sd_geglu_e4m3(h8.data_ptr(), ys.data_ptr<float>() + kFp8InputScale, q.data_ptr(), s.data_ptr<float>(),
                            rows, static_cast<int>(inner), sm_count(), c10::cuda::getCurrentCUDAStream());
    if (launched(err, gate_e4m3_unusable, "GEGLU (e4m3 input)")) return;
  }
  auto parts = (e4m3_float(h8) * ys[kFp8InputScale]).reshape({rows, 2 * inner}).chunk(2, -1);
  gate_fp8_rows(parts[0] * at::gelu(parts[1]), q, s);
}

// geglu_gate_e4m3_into new buffers: {q (..., I) e4m3 bytes, s (rows) float32}.
std::pair<at::Tensor, at::Tensor> geglu_gate_e4m3(const at::Tensor& h8, const at::Tensor& ys) {
  auto qs = geglu_fp8_buffers(h8);
  geglu_gate_e4m3_into(h8, ys, qs.first, qs.second);
  return qs;
}

// feed_forward_fp8 with GEGLU's intermediate as e4m3 (SD_FP8_GEGLU): where cuBLASLt has algorithms for both FP8
// products (ff.net.0.proj with an e4m3 D, lt_fp8_linear with ys; ff.net.2 with outer-vector scales, asked on the
// gate's output buffers) and our e4m3 gate kernel takes rows of I (SD_GEGLU_KERNEL on, the kernel not marked unusable
// on this GPU, sd_geglu_e4m3_supported), h8 = fp8_linear_e4m3(x8, w8, scales, b, ys), the gate from it
// (geglu_gate_e4m3_into) and ff.net.2 (fp8_linear_residual); elsewhere feed_forward_fp8 itself (the fp16
// intermediate), as with the switch off.
at::Tensor feed_forward_fp8_e4m3(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& scales,
                                 const std::optional<at::Tensor>& b, const at::Tensor& ys, const at::Tensor& w8o,
                                 const at::Tensor& wso, const std::optional<at::Tensor>& bo, const at::Tensor& wo,
                                 const at::Tensor& r) {
  const int64_t inner = w8.dim() == 2 ? w8.size(0) / 2 : 0;
  // (rows of I our e4m3 gate kernel does not take keep the fp16 intermediate, not the gate's slow fallback)
  if (gate_e4m3_kernel_takes(inner) && w8.size(0) == 2 * inner && x8.dim() >= 2) {
    auto q = at::empty(last_as(x8, inner), x8.options().dtype(at::kByte));
    auto s = at::empty({q.numel() / inner}, x8.options().dtype(at::kFloat));
    at::Tensor h8;
    // (the product runs only where ff.net.2's would too: with out == nullptr lt_fp8_linear_residual only asks)
    if (lt_fp8_linear_residual(q, s, w8o, wso, bo, r, nullptr) && lt_fp8_linear(x8, w8, scales, b, &h8, &ys)) {
      geglu_gate_e4m3_into(h8, ys, q, s);
      return fp8_linear_residual(q, s, w8o, wso, bo, r);
    }
  }
  return feed_forward_fp8(x8, w8, scales, b, w8o, wso, bo, wo, r);
}

// ---- self-attention at head size 40 (issue 17) ----------------------------------------------------------------

// Whether a (B, T, C) tensor is one our kernel reads in place: its last dimension contiguous, its token and batch
// strides multiples of 8 elements, 16-byte aligned (every head's row is then 16-byte aligned, as 40·2 bytes is a
// multiple of 16).
bool attention_rows_fit(const at::Tensor& t) {
  return t.dim() == 3 && t.stride(2) == 1 && t.stride(1) % 8 == 0 && t.stride(0) % 8 == 0 && t.stride(1) >= 0 &&
         t.stride(0) >= 0 && aligned16(t);
}

// Whether q (B, N, C), k and v (B, M, C) are operands our attention kernels take in place: fp16 CUDA tensors of one
// device, k and v of one shape with q's B and C, C divisible by `heads`, every size within int, each tensor's rows as
// attention_rows_fit says. What each kernel supports beyond (head size, N, M, the GPU) its own _supported says.
bool attention_operands_fit(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  if (!q.is_cuda() || heads <= 0 || heads > INT32_MAX || q.dim() != 3 || k.dim() != 3 || v.dim() != 3 ||
      q.scalar_type() != at::kHalf || k.scalar_type() != at::kHalf || v.scalar_type() != at::kHalf ||
      k.device() != q.device() || v.device() != q.device() || k.sizes() != v.sizes() || k.size(0) != q.size(0) ||
      k.size(2) != q.size(2) || q.size(2) % heads != 0) {
    return false;
  }
  return q.size(0) <= INT32_MAX && q.size(1) <= INT32_MAX && q.size(2) <= INT32_MAX && k.size(1) <= INT32_MAX &&
         attention_rows_fit(q) && attention_rows_fit(k) && attention_rows_fit(v);
}

// Our wgmma kernel for SD 1.5's head-size-40 self-attentions (self_attention.cu; SD_SELF_ATTENTION_KERNEL, on unless 0:
// 0.976 ms against cuDNN's SDPA's 1.151 ms per (16, 8, 4096, 40) call on an H200, docs/GPU.md item 10) or SDPA (mha).
std::atomic<bool> self_attention_kernel_on{true};
std::atomic<bool> self_attention_kernel_unusable{false};  // not built for this GPU: SDPA from then on

// o (B, N, C) = softmax(q·kᵀ)·v over `heads` heads by our kernel (self_attention.cu; scale 1, the 1/√d already in q):
// q, k, v (B, N, C) fp16 CUDA tensors of one device, possibly strided views (the thirds of one (B, N, 3C) q|k|v
// projection: token stride 3C), as attention_rows_fit says; head size C / heads = 40, N a multiple of 128, a GPU of
// compute capability 9.0 and the library built with the file's sm_90a code (sd_self_attention_supported). Writes the
// new contiguous (B, N, C) output to *out and returns true; false where that does not hold or SD_SELF_ATTENTION_KERNEL
// is 0 (the caller runs mha, i.e. SDPA). With out == nullptr nothing runs: whether it would (the self-check's path
// report). Its workspace (K and V repacked, 2·B·heads·N·96 bytes: 101 MB at SD 1.5's batch 16) comes from PyTorch's
// caching allocator.
bool self_attention_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                           at::Tensor* out) {
  if (!self_attention_kernel_on.load() || self_attention_kernel_unusable.load() ||
      !attention_operands_fit(q, k, v, heads) || k.size(1) != q.size(1)) {
    return false;
  }
  const int64_t b = q.size(0), n = q.size(1), c = q.size(2), d = c / heads;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  if (!sd_self_attention_supported(prop->major, prop->minor, static_cast<int>(d), b, n, n, heads)) return false;
  if (out == nullptr) return true;
  // an op of its own in kernel profiles (scripts/gpu/profile_table.py: attention, 4·B·N·N·C FLOPs)
  RECORD_FUNCTION("sd::self_attention", std::vector<c10::IValue>({q, k, v}));
  auto o = at::empty({b, n, c}, q.options());
  auto work = at::empty({sd_self_attention_workspace(b, n, heads)}, q.options().dtype(at::kByte));
  int err = sd_self_attention(q.data_ptr(), q.stride(1), q.stride(0), k.data_ptr(), k.stride(1), k.stride(0),
                              v.data_ptr(), v.stride(1), v.stride(0), o.data_ptr(), static_cast<int>(b),
                              static_cast<int>(n), static_cast<int>(heads), static_cast<int>(d), work.data_ptr(),
                              c10::cuda::getCurrentCUDAStream());
  if (!launched(err, self_attention_kernel_unusable, "self-attention kernel")) return false;
  *out = std::move(o);
  return true;
}

// An attention's output projection o·woutᵀ + bout (sd_linear: cuBLASLt's tuned algorithm where it applies), or, given
// the residual r (the block's stream the attention's input was normalised from, in the output's shape: SD_ATTN_RESIDUAL,
// issue 17), o·woutᵀ + bout + r (linear_residual: one cuBLASLt product with r as its C operand, beta 1, so the sum is
// written once and the next LayerNorm reads only it; at::linear + add where that does not apply). The fused product
// adds bias and residual to the fp32 accumulator and rounds once, where the product + add rounded the attention's
// output to fp16 before the add: the two differ within fp16 rounding, not bit for bit.
at::Tensor attention_output(const at::Tensor& o, const at::Tensor& wout, const std::optional<at::Tensor>& bout,
                            const std::optional<at::Tensor>& residual) {
  return residual ? linear_residual(o, wout, bout, *residual) : sd_linear(o, wout, bout);
}

// Self-attention after its q|k|v projection: qkv (B, N, 3C) with the q columns pre-scaled, attention over heads with
// an additive (N, N) mask or none (our kernel where self_attention_kernel applies: no mask, head size 40; else SDPA),
// output projection (attention_output), plus the residual where one is given (else the residual add is the next
// LayerNorm's: LayerNormLayer.addForward, add + norm in one pass).
at::Tensor self_attention(const at::Tensor& qkv, const at::Tensor& wout, const std::optional<at::Tensor>& bout,
                          int64_t heads, const std::optional<at::Tensor>& mask,
                          const std::optional<at::Tensor>& residual = std::nullopt) {
  auto parts = qkv.chunk(3, -1);
  at::Tensor o;
  if (mask || !self_attention_kernel(parts[0], parts[1], parts[2], heads, &o)) {
    o = mha(parts[0], parts[1], parts[2], heads, mask);
  }
  return attention_output(o, wout, bout, residual);
}

// ---- attention over a short key set (cross-attention, issue 17) -------------------------------

// Our wgmma kernel for SD 1.5's head-size-40 cross-attentions over at most 128 keys (self_attention.cu;
// SD_CROSS_ATTENTION_KERNEL, on unless 0: 0.043 ms against cuDNN's SDPA's 0.073 ms per (16, 8, 4096, 40) call over 77
// keys on an H200, docs/GPU.md item 9) or SDPA (mha).
std::atomic<bool> cross_attention_kernel_on{true};
std::atomic<bool> cross_attention_kernel_unusable{false};  // not built for this GPU: SDPA from then on

// o (B, N, C) = softmax(q·kᵀ)·v over `heads` heads by our kernel (self_attention.cu; scale 1, the 1/√d already in q):
// q (B, N, C), k and v (B, M, C) fp16 CUDA tensors of one device, possibly strided views (the two halves of one
// (B, M, 2C) k|v projection: token stride 2C), as attention_rows_fit says; head size d = C / heads = 40; 1 <= M <= 128;
// a GPU of compute capability 9.0 and the library built with the file's sm_90a code (sd_cross_attention_supported).
// Writes the new contiguous (B, N, C) output to *out and returns true; false where that does not hold or
// SD_CROSS_ATTENTION_KERNEL is 0 (the caller runs mha, i.e. SDPA). With out == nullptr nothing runs: whether it would
// (the self-check's path report).
bool cross_attention_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                            at::Tensor* out) {
  if (!cross_attention_kernel_on.load() || cross_attention_kernel_unusable.load() ||
      !attention_operands_fit(q, k, v, heads)) {
    return false;
  }
  const int64_t b = q.size(0), n = q.size(1), c = q.size(2), m = k.size(1), d = c / heads;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  if (!sd_cross_attention_supported(prop->major, prop->minor, static_cast<int>(d), b, n, m, heads)) return false;
  if (out == nullptr) return true;
  // an op of its own in kernel profiles (scripts/gpu/profile_table.py: attention, 4·B·N·M·C FLOPs)
  RECORD_FUNCTION("sd::cross_attention", std::vector<c10::IValue>({q, k, v}));
  auto o = at::empty({b, n, c}, q.options());
  int err = sd_cross_attention(q.data_ptr(), q.stride(1), q.stride(0), k.data_ptr(), k.stride(1), k.stride(0),
                               v.data_ptr(), v.stride(1), v.stride(0), o.data_ptr(), static_cast<int>(b),
                               static_cast<int>(n), static_cast<int>(m), static_cast<int>(heads),
                               static_cast<int>(d), sm_count(), c10::cuda::getCurrentCUDAStream());
  if (!launched(err, cross_attention_kernel_unusable, "cross-attention kernel")) return false;
  *out = std::move(o);
  return true;
}

// Attention of q (B, N, C) over k, v (B, M, C) with `heads` heads, scale 1: cross_attention_kernel where it applies,
// else mha (SDPA).
at::Tensor short_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  at::Tensor o;
  if (cross_attention_kernel(q, k, v, heads, &o)) return o;
  return mha(q, k, v, heads);
}

// Cross-attention after its q and k|v projections: q (B, N, C) pre-scaled, kv (B, M, 2C) whose halves are k and v
// (views, token stride 2C), attention (short_attention: our kernel on Hopper for head size 40 and M <= 128 keys, SDPA
// otherwise), output projection (attention_output: sd_linear, or linear_residual plus the residual where one is
// given). kv is cross_attention's own product or a prompt K|V's slice (the same product made once per denoising loop:
// crossAttentionKv).
at::Tensor cross_attention_kv(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& wout,
                              const std::optional<at::Tensor>& bout, int64_t heads,
                              const std::optional<at::Tensor>& residual = std::nullopt) {
  auto parts = kv.chunk(2, -1);
  auto o = short_attention(q, parts[0], parts[1], heads);
  return attention_output(o, wout, bout, residual);
}

// Cross-attention after its q projection: q (B, N, C) pre-scaled, ctx (B, M, Cc) projected by wkv (2C, Cc) into k|v
// (B, M, 2C) by sd_linear, then cross_attention_kv (with the residual where one is given).
at::Tensor cross_attention(const at::Tensor& q, const at::Tensor& ctx, const at::Tensor& wkv,
                           const std::optional<at::Tensor>& bkv, const at::Tensor& wout,
                           const std::optional<at::Tensor>& bout, int64_t heads,
                           const std::optional<at::Tensor>& residual = std::nullopt) {
  return cross_attention_kv(q, sd_linear(ctx, wkv, bkv), wout, bout, heads, residual);
}

// A 1x1 convolution (stride 1, no padding) of an fp16 channels-last CUDA x (B, Cin, H, W) as a matrix product: x's
// memory is the (B·H·W, Cin) matrix, a 1x1 weight's (Cout, Cin, 1, 1) memory the (Cout, Cin) one (checked by strides:
// channels-last or row-major alike), and the (B·H·W, Cout) product's memory is the channels-last (B, Cout, H, W)
// output, so no copies. The bias goes into the product's epilogue (sd_linear: cuBLASLt's bias epilogue, with the
// tuned algorithm, or at::linear's addmm, as nn.Linear runs) when nothing else is added; with a residual alone (SD
// 1.x's transformer proj_out), the product reads the residual's NHWC memory as its C operand and adds bias and
// residual itself (lt_linear_residual); with a per-sample bias, or where that does not apply, bias_add's one pass adds
// them all, as after cuDNN. Returns an undefined tensor where it does not apply (the caller takes at::convolution).
// SD_CONV1X1_GEMM=0: cuDNN for these too.
std::atomic<bool> conv1x1_gemm_on{true};

// The (Cout, Cin) matrix view of a 1x1 convolution weight (Cout, Cin, 1, 1) whose memory is that matrix row-major
// (channels-last or row-major alike: the strides say), else an undefined tensor.
at::Tensor weight_rows(const at::Tensor& w) {
  auto w2d = w.select(3, 0).select(2, 0);
  return w2d.stride(1) == 1 && w2d.stride(0) == w.size(1) ? w2d : at::Tensor();
}

// The (B·H·W, C) matrix of a channels-last (B, C, H, W) tensor's memory, a view.
at::Tensor nhwc_rows(const at::Tensor& x) {
  return x.permute({0, 2, 3, 1}).view({x.size(0) * x.size(2) * x.size(3), x.size(1)});
}

// The channels-last (B, C, H, W) tensor whose memory is the (B·H·W, C) matrix y2d, a view.
at::Tensor rows_nhwc(const at::Tensor& y2d, int64_t n, int64_t h, int64_t w) {
  return y2d.view({n, h, w, y2d.size(1)}).permute({0, 3, 1, 2});
}

at::Tensor conv1x1_gemm(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                        const std::optional<at::Tensor>& nbias, const std::optional<at::Tensor>& residual,
                        int64_t stride, int64_t padding) {
  if (!conv1x1_gemm_on.load() || stride != 1 || padding != 0 || !x.is_cuda() || x.dim() != 4 || w.dim() != 4 ||
      x.scalar_type() != at::kHalf || w.scalar_type() != at::kHalf || w.device() != x.device() ||
      w.size(2) != 1 || w.size(3) != 1 || w.size(1) != x.size(1) || x.numel() == 0 ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast) || !half_vector(bias, w.size(0))) {
    return {};
  }
  const int64_t n = x.size(0), h = x.size(2), wd = x.size(3), cout = w.size(0);
  auto w2d = weight_rows(w);  // (Cout, Cin)
  if (!w2d.defined()) return {};
  RECORD_FUNCTION("sd::conv1x1_gemm", std::vector<c10::IValue>({x, w}));  // an op of its own in kernel profiles
  auto x2d = nhwc_rows(x);
  if (residual && !nbias && residual->sizes() == at::IntArrayRef({n, cout, h, wd}) &&
      residual->is_contiguous(at::MemoryFormat::ChannelsLast)) {
    at::Tensor y2d;
    if (lt_linear_residual(x2d, w2d, bias, nhwc_rows(*residual), &y2d)) return rows_nhwc(y2d, n, h, wd);
  }
  const bool fuse_bias = bias && !nbias && !residual;
  auto y = rows_nhwc(sd_linear(x2d, w2d, fuse_bias ? bias : std::nullopt), n, h, wd);
  return fuse_bias ? y : bias_add(y, bias, nbias, residual);
}

// torch.nn.Conv2d (groups 1) without its bias, then conv bias + nbias (B, C) per sample and channel + residual
// (B, C, H, W) added in one pass (bias_add); each term optional. A 1x1 convolution of an fp16 channels-last input runs
// as a matrix product (conv1x1_gemm; SD_CONV1X1_GEMM=0: cuDNN).
at::Tensor conv2d(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                  const std::optional<at::Tensor>& nbias, const std::optional<at::Tensor>& residual, int64_t stride,
                  int64_t padding) {
  auto gemm = conv1x1_gemm(x, w, bias, nbias, residual, stride, padding);
  if (gemm.defined()) return gemm;
  auto y = at::convolution(x, w, std::nullopt, {stride, stride}, {padding, padding}, {1, 1}, false, {0, 0}, 1);
  return bias_add(y, bias, nbias, residual);
}

// GroupNorm (+ SiLU) of x + bias (C) + nbias (B or 1, C) (each optional; nbias shaped as for bias_add): a ResNet
// block's conv1 output without its bias, with the time embedding. Our NHWC kernels add both where they read x (the sum
// rounded to fp16 as bias_add rounds it: the same values normalised, without bias_add's pass over the tensor); with
// SD_BIAS_KERNEL=0, or where the kernels do not apply (not fp16 channels-last CUDA, shapes, kernels not built for the
// GPU), bias_add adds them to x in place (our kernel or PyTorch's adds) and sd_group_norm normalises: x may be
// overwritten.
at::Tensor bias_group_norm(at::Tensor x, const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& nbias,
                           int64_t groups, const std::optional<at::Tensor>& gamma,
                           const std::optional<at::Tensor>& beta, double eps, bool silu) {
  RECORD_FUNCTION("sd::bias_group_norm",
                  std::vector<c10::IValue>({x, bias ? *bias : at::Tensor(), nbias ? *nbias : at::Tensor(),
                                            gamma ? *gamma : at::Tensor(), beta ? *beta : at::Tensor()}));
  if (bias_kernel_on.load()) {
    auto y = nhwc_group_norm(x, groups, gamma, beta, eps, silu, bias, nbias);
    if (y.defined()) return y;
  }
  return sd_group_norm(bias_add(x, bias, nbias, std::nullopt), groups, gamma, beta, eps, silu);
}

// ---- the up blocks' skip connections without their concatenation (issue 17) -----------------

// diffusers' UpBlock2D and CrossAttnUpBlock2D concatenate each ResNet block's input with a skip connection,
// torch.cat([hidden_states, res_hidden_states], dim=1), and the block's norm1 (GroupNorm + SiLU) and conv_shortcut (a 1x1
// convolution: in != out in every up-block ResNet block of SD 1.x/2.x and SDXL) are the concatenation's only readers.
// For fp16 channels-last CUDA parts x1 (B, C1, H, W) and x2 (B, C2, H, W) both read the parts in place: the norm through
// our kernels (sd_group_norm_nhwc_two: bit for bit their result on the concatenation), the shortcut as two matrix
// products into one output, so the concatenation (a write and a read of B·H·W·(C1 + C2) halves) is never made.
// SD_UPBLOCK_NO_CAT=0: the concatenation, as before.
std::atomic<bool> upblock_no_cat_on{true};

// Whether x1 (B, C1, H, W) and x2 (B, C2, H, W) can be read in place as the two parts of their channel concatenation:
// non-empty fp16 CUDA tensors of one device with the same B, H, W, each dense channels-last (its memory the (B·H·W, C)
// row-major matrix), 16-byte aligned, C1 and C2 multiples of 8 (every pixel row of each part starts on a 16-byte
// boundary: a 16-byte pack of 8 channels lies in one part). What both readers need; each adds its own.
bool half_nhwc_parts(const at::Tensor& x1, const at::Tensor& x2) {
  return x1.is_cuda() && x2.device() == x1.device() && x1.dim() == 4 && x2.dim() == 4 &&
         x1.scalar_type() == at::kHalf && x2.scalar_type() == at::kHalf && x1.size(0) == x2.size(0) &&
         x1.size(2) == x2.size(2) && x1.size(3) == x2.size(3) && x1.numel() > 0 && x2.numel() > 0 &&
         x1.is_contiguous(at::MemoryFormat::ChannelsLast) && x2.is_contiguous(at::MemoryFormat::ChannelsLast) &&
         aligned16(x1) && aligned16(x2) && x1.size(1) % 8 == 0 && x2.size(1) % 8 == 0;
}

// Whether cat_group_norm reads x1 (B, C1, H, W) and x2 (B, C2, H, W) in place as their channel concatenation: the
// switch on, half_nhwc_parts, C1 + C2 in `groups` groups that our kernels handle, and the kernels built for this GPU.
bool cat_parts_norm_fit(const at::Tensor& x1, const at::Tensor& x2, int64_t groups) {
  return upblock_no_cat_on.load() && !group_norm_unusable.load() && half_nhwc_parts(x1, x2) &&
         sd_group_norm_nhwc_two_supported(static_cast<int>(x1.size(1)), static_cast<int>(x2.size(1)),
                                          static_cast<int>(groups));
}

// Whether an up block's ResNet block hands x1 (B, C1, H, W) and x2 (B, C2, H, W) to its norm1 and conv_shortcut as two
// parts (NativeOps.catPartsFit): cat_parts_norm_fit for the norm and SD_CONV1X1_GEMM on for the shortcut's products
// (cat_conv1x1_fit, whose parts condition is half_nhwc_parts too). Otherwise the block concatenates.
bool cat_parts_fit(const at::Tensor& x1, const at::Tensor& x2, int64_t groups) {
  return conv1x1_gemm_on.load() && cat_parts_norm_fit(x1, x2, groups);
}

// GroupNorm (+ SiLU) of cat([x1, x2], 1), (B, C1 + C2, H, W): our NHWC kernels reading both parts in place where
// cat_parts_norm_fit (gamma, beta fp16 (C1 + C2) or absent), the output channels-last; otherwise the concatenation and
// sd_group_norm.
at::Tensor cat_group_norm(const at::Tensor& x1, const at::Tensor& x2, int64_t groups,
                          const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& beta, double eps,
                          bool silu) {
  RECORD_FUNCTION("sd::cat_group_norm", std::vector<c10::IValue>({x1, x2, gamma ? *gamma : at::Tensor()}));
  if (cat_parts_norm_fit(x1, x2, groups) && half_vector(gamma, x1.size(1) + x2.size(1)) &&
      half_vector(beta, x1.size(1) + x2.size(1))) {
    const int64_t n = x1.size(0), c1 = x1.size(1), c2 = x2.size(1), h = x1.size(2), w = x1.size(3);
    auto y = at::empty({n, c1 + c2, h, w}, x1.options().memory_format(at::MemoryFormat::ChannelsLast));
    auto work = at::empty(
        {sd_group_norm_nhwc_work_floats(static_cast<int>(n), h * w, static_cast<int>(c1 + c2), false, sm_count())},
        x1.options().dtype(at::kFloat));
    int err = sd_group_norm_nhwc_two(x1.data_ptr(), x2.data_ptr(), y.data_ptr(), gamma ? gamma->data_ptr() : nullptr,
                                     beta ? beta->data_ptr() : nullptr, work.data_ptr<float>(), static_cast<int>(n),
                                     h * w, static_cast<int>(c1), static_cast<int>(c2), static_cast<int>(groups),
                                     static_cast<float>(eps), silu, sm_count(), c10::cuda::getCurrentCUDAStream());
    if (launched(err, group_norm_unusable, "NHWC group norm of two parts")) return y;
  }
  return sd_group_norm(at::cat({x1, x2}, 1), groups, gamma, beta, eps, silu);
}

// Whether cat_conv1x1 runs its two products: SD_UPBLOCK_NO_CAT and SD_CONV1X1_GEMM on (parts read in place, 1x1
// convolutions as matrix products); x1, x2 half_nhwc_parts, so nhwc_rows gives each part's (B·H·W, C) matrix as a view
// with 16-byte aligned rows; w an fp16 (Cout, C1 + C2, 1, 1) weight on their device whose memory is the (Cout, C1 + C2)
// matrix (weight_rows), so W1 and W2 are views with row stride C1 + C2 and W2's first column, C1 halves in, is 16-byte
// aligned too (C1 a multiple of 8; cuBLAS's vectorised fp16 kernels want aligned operands, and would run slower ones
// otherwise); bias an fp16 (Cout) vector on that device or absent. No groups and no GroupNorm kernels: unlike
// cat_parts_fit it does not ask for them.
bool cat_conv1x1_fit(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& w,
                     const std::optional<at::Tensor>& bias) {
  return upblock_no_cat_on.load() && conv1x1_gemm_on.load() && half_nhwc_parts(x1, x2) && w.dim() == 4 &&
         w.scalar_type() == at::kHalf && w.device() == x1.device() && w.size(1) == x1.size(1) + x2.size(1) &&
         w.size(2) == 1 && w.size(3) == 1 && weight_rows(w).defined() && aligned16(w) && half_vector(bias, w.size(0)) &&
         (!bias || bias->device() == x1.device());
}

// A 1x1 convolution (stride 1, no padding; w (Cout, C1 + C2, 1, 1), bias (Cout) or absent) of cat([x1, x2], 1) as two
// matrix products into one (B, Cout, H, W) channels-last output, on the (B·H·W, C) views of the parts' memory as in
// conv1x1_gemm: y = x1·W1ᵀ + bias (sd_linear: the bias in the product's epilogue), then y += x2·W2ᵀ in place, W1 =
// w[:, :C1] and W2 = w[:, C1:] as views of the weight's (Cout, C1 + C2) memory: row stride C1 + C2, inner stride 1,
// which cuBLAS takes as a leading dimension without a copy (lt_matmul's lda; PyTorch's prepare_matrix_for_cublas in
// ATen's cuda/Blas.cpp for a transposed view with stride(0) == 1 and stride(1) >= size(0)). The second product is
// one cuBLASLt call with C = D = y (beta 1, in place; lt_matmul, its tuned algorithm) with SD_LT_AUTOTUNE on, else and
// where that has no algorithm addmm_ (beta 1). Being views, W1 and W2 see the LoRA patches added to the weight in
// place. y is rounded to fp16 after each product (the concatenation's one product rounds once). Where cat_conv1x1_fit
// does not hold, the concatenation and the convolution (conv1x1_gemm, else cuDNN and bias_add).
at::Tensor cat_conv1x1(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& w,
                       const std::optional<at::Tensor>& bias) {
  if (!cat_conv1x1_fit(x1, x2, w, bias)) {
    return conv2d(at::cat({x1, x2}, 1), w, bias, std::nullopt, std::nullopt, 1, 0);
  }
  RECORD_FUNCTION("sd::cat_conv1x1", std::vector<c10::IValue>({x1, x2, w}));
  const int64_t c1 = x1.size(1), c2 = x2.size(1);
  auto w2d = weight_rows(w);  // (Cout, C1 + C2)
  auto a1 = nhwc_rows(x1), a2 = nhwc_rows(x2);
  const at::Tensor w1 = w2d.narrow(1, 0, c1), w2 = w2d.narrow(1, c1, c2);
  auto y2d = sd_linear(a1, w1, bias);
  at::Tensor a2_rows;
  if (!(lt_autotune_on.load() && lt_half_fits(a2, w2, std::nullopt, y2d, &a2_rows) &&
        lt_matmul(LtProduct{a2_rows, w2, std::nullopt, y2d}, y2d))) {
    y2d.addmm_(a2, w2.t());
  }
  return rows_nhwc(y2d, x1.size(0), x1.size(2), x1.size(3));
}

// ---- nearest-neighbour upsampling ----------------------------------------------------------

// Our 2x kernel (upsample_nearest.cu; on = true, the default) or PyTorch's upsample_nearest2d for every size.
// SD_UPSAMPLE_KERNEL=0: PyTorch's.
std::atomic<bool> upsample_kernel_on{true};
std::atomic<bool> upsample_kernel_unusable{false};  // kernel not built for this GPU: PyTorch's path from then on

// Nearest-neighbour upsampling of x (B, C, H, W) to (B, C, h, w) by our kernel: for h = 2H and w = 2W exactly, an fp16
// or float32 CUDA x whose suggested memory format is channels-last (as PyTorch decides its output's layout) and which
// is dense in it, C · element size a multiple of 16 bytes, 16-byte aligned. Writes the new channels-last (B, C, 2H,
// 2W) tensor (the layout at::upsample_nearest2d gives such an x) to *out and returns true; returns false where that
// does not hold, SD_UPSAMPLE_KERNEL=0 or the kernel is not built for the GPU (the caller takes
// at::upsample_nearest2d). With out == nullptr nothing runs: whether it would (the self-check's path report).
bool upsample_nearest2x(const at::Tensor& x, int64_t h, int64_t w, at::Tensor* out) {
  if (!upsample_kernel_on.load() || upsample_kernel_unusable.load() || !x.is_cuda() || x.dim() != 4 ||
      (x.scalar_type() != at::kHalf && x.scalar_type() != at::kFloat) || x.numel() == 0 || h != 2 * x.size(2) ||
      w != 2 * x.size(3) || x.suggest_memory_format() != at::MemoryFormat::ChannelsLast ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast) || !aligned16(x)) {
    return false;
  }
  const int64_t bytes = x.size(1) * static_cast<int64_t>(x.element_size());
  const int64_t rows = x.size(0) * x.size(2), vecs = bytes / 16;
  if (bytes % 16 != 0 || !sd_upsample_nearest2x_supported(rows, x.size(3), vecs)) return false;
  if (out == nullptr) return true;
  auto y = at::empty({x.size(0), x.size(1), h, w}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  int err = sd_upsample_nearest2x(x.data_ptr(), y.data_ptr(), rows, x.size(3), vecs,
                                  c10::cuda::getCurrentCUDAStream());
  if (!launched(err, upsample_kernel_unusable, "nearest upsampling")) return false;
  *out = std::move(y);
  return true;
}

// torch.nn.functional.interpolate(x, size=(h, w), mode="nearest") of x (B, C, H, W), as DJL's interpolation runs it
// (the C++ frontend's interpolate: at::upsample_nearest2d with the size and no scales): upsample_nearest2x where it
// applies, at::upsample_nearest2d otherwise (other sizes, types, layouts, CPU).
at::Tensor upsample_nearest(const at::Tensor& x, int64_t h, int64_t w) {
  RECORD_FUNCTION("sd::upsample_nearest", std::vector<c10::IValue>({x}));  // an op of its own in kernel profiles
  at::Tensor y;
  if (upsample_nearest2x(x, h, w, &y)) return y;
  return at::upsample_nearest2d(x, at::IntArrayRef{h, w}, std::nullopt, std::nullopt);
}

// ---- the ResNet blocks' time-embedding projections in one launch (issue 17) ----------------

std::atomic<bool> time_proj_unusable{false};  // kernel not built for this GPU: one product per block from then on

// Whether our kernel (time_proj.cu) computes every x·w[i]ᵀ + b[i] in one launch: x (B, K) fp16 contiguous CUDA,
// 16-byte aligned; each w[i] (N_i, K) fp16 contiguous on x's device, 16-byte aligned; each b[i] absent or fp16 (N_i)
// contiguous on that device; sizes as sd_time_proj_supported says (1 ≤ B ≤ 16, K and every N_i multiples of 8, x in
// 48 KB), and the kernel built for this GPU. Fills *n with the N_i where it holds.
bool time_proj_fits(const at::Tensor& x, const std::vector<at::Tensor>& w,
                    const std::vector<std::optional<at::Tensor>>& b, std::vector<int>* n) {
  if (time_proj_unusable.load() || w.empty() || w.size() != b.size() || !x.is_cuda() || x.dim() != 2 ||
      x.scalar_type() != at::kHalf || !x.is_contiguous() || !aligned16(x) || x.size(0) > 16 || x.size(1) > (1 << 20)) {
    return false;
  }
  n->clear();
  for (size_t i = 0; i < w.size(); ++i) {
    const at::Tensor& wi = w[i];
    if (!wi.defined() || wi.device() != x.device() || wi.scalar_type() != at::kHalf || wi.dim() != 2 ||
        wi.size(1) != x.size(1) || wi.size(0) > (1 << 24) || !wi.is_contiguous() || !aligned16(wi) ||
        (b[i] && (b[i]->device() != x.device() || !half_vector(b[i], wi.size(0))))) {
      return false;
    }
    n->push_back(static_cast<int>(wi.size(0)));
  }
  return sd_time_proj_supported(static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), n->data(),
                                static_cast<int>(n->size()));
}

// Every ResNet block's time-embedding projection of a UNet call, y_i = x·w[i]ᵀ + b[i] (x: SiLU of the time embedding,
// (B, K); w[i] (N_i, K), b[i] (N_i) or absent): our kernel in one launch where time_proj_fits, the outputs contiguous
// (B, N_i) blocks of one allocation (each 16-byte aligned, as bias_group_norm's nbias wants them); otherwise one
// sd_linear per product (what each block's time_emb_proj runs without it). The weights are read where they are at each
// call (LoRA patches in place apply).
std::vector<at::Tensor> time_projections(const at::Tensor& x, const std::vector<at::Tensor>& w,
                                         const std::vector<std::optional<at::Tensor>>& b) {
  RECORD_FUNCTION("sd::time_proj", std::vector<c10::IValue>({x}));  // an op of its own in kernel profiles
  std::vector<int> n;
  std::vector<at::Tensor> out;
  if (time_proj_fits(x, w, b, &n)) {
    const int64_t rows = x.size(0);
    int64_t total = 0;
    std::vector<const void*> wp, bp;
    for (size_t i = 0; i < w.size(); ++i) {
      total += n[i];
      wp.push_back(w[i].data_ptr());
      bp.push_back(b[i] ? b[i]->data_ptr() : nullptr);
    }
    auto y = at::empty({rows * total}, x.options());
    int err = sd_time_proj(x.data_ptr(), wp.data(), bp.data(), n.data(), static_cast<int>(n.size()), y.data_ptr(),
                           static_cast<int>(rows), static_cast<int>(x.size(1)), sm_count(),
                           c10::cuda::getCurrentCUDAStream());
    if (launched(err, time_proj_unusable, "time projections")) {
      int64_t offset = 0;
      for (int ni : n) {
        out.push_back(y.narrow(0, offset, rows * ni).view({rows, ni}));
        offset += rows * ni;
      }
      return out;
    }
  }
  for (size_t i = 0; i < w.size(); ++i) out.push_back(sd_linear(x, w[i], b[i]));
  return out;
}

// NativeOps.timeProjections' and timeProjectionsKernel's operands: x, the weights and the biases (0: none) as tensors;
// the two arrays must have the same length.
void time_proj_operands(JNIEnv* env, jlongArray jw, jlongArray jb, std::vector<at::Tensor>* w,
                        std::vector<std::optional<at::Tensor>>* b) {
  const jsize n = jw == nullptr ? 0 : env->GetArrayLength(jw);
  if (jb == nullptr || env->GetArrayLength(jb) != n) throw std::invalid_argument("time projections: array lengths");
  std::vector<jlong> wh(static_cast<size_t>(n)), bh(static_cast<size_t>(n));
  if (n > 0) {
    env->GetLongArrayRegion(jw, 0, n, wh.data());
    env->GetLongArrayRegion(jb, 0, n, bh.data());
  }
  for (jsize i = 0; i < n; ++i) {
    if (wh[i] == 0) throw std::invalid_argument("time projections: a weight handle is 0");
    w->push_back(T(wh[i]));
    b->push_back(opt(bh[i]));
  }
}

// ---- LoRA patches (issue 14) ---------------------------------------------------------------

// One term of a weight's change: scale * up @ down, or scale * up without a down.
struct LoraTerm {
  at::Tensor up;
  std::optional<at::Tensor> down;
  double scale;
};

// Every shape checked before anything is written: each term's product has its weight's element count.
void lora_check(const std::vector<at::Tensor>& targets, const std::vector<std::vector<LoraTerm>>& terms) {
  if (targets.size() != terms.size()) throw std::invalid_argument("LoRA patch: one list of terms per weight");
  for (size_t i = 0; i < targets.size(); i++) {
    for (const LoraTerm& t : terms[i]) {
      const int64_t numel = !t.down ? t.up.numel()
                            : (t.up.dim() == 2 && t.down->dim() == 2 && t.up.size(1) == t.down->size(0))
                                ? t.up.size(0) * t.down->size(1) : -1;
      if (numel != targets[i].numel()) {
        throw std::invalid_argument("LoRA patch: a change of another size for a weight of " +
                                    std::to_string(targets[i].numel()) + " elements");
      }
    }
  }
}

// Adds each weight's terms in place (targets share the model's memory): the sum in float32, added with one
// rounding to the weight's dtype (add_ of a float32 tensor to a float16 one computes in float32); a weight
// with keep[i] is cloned first. Returns the clones (undefined tensors where keep[i] is false). On an error
// midway (out of memory) the weights cloned so far are written back before it is rethrown; the others
// already had their originals kept by the caller.
std::vector<at::Tensor> lora_add(std::vector<at::Tensor>& targets, const std::vector<std::vector<LoraTerm>>& terms,
                                 const std::vector<bool>& keep) {
  lora_check(targets, terms);
  std::vector<at::Tensor> originals(targets.size());
  size_t i = 0;
  try {
    for (; i < targets.size(); i++) {
      at::Tensor& w = targets[i];
      if (keep[i]) originals[i] = w.clone();
      at::Tensor sum;
      for (const LoraTerm& t : terms[i]) {
        at::Tensor up = t.up.to(at::kFloat);
        at::Tensor d = (t.down ? at::mm(up, t.down->to(at::kFloat)) : up).reshape(w.sizes());
        if (terms[i].size() == 1) {
          w.add_(d, t.scale);  // one term: one fused add, in float32
        } else if (!sum.defined()) {
          sum = d.mul(t.scale);
        } else {
          sum.add_(d, t.scale);
        }
      }
      if (sum.defined()) w.add_(sum);
    }
  } catch (...) {
    for (size_t j = 0; j <= i && j < targets.size(); j++) {
      if (originals[j].defined()) targets[j].copy_(originals[j]);
    }
    throw;
  }
  return originals;
}

// The rows [offset, offset + rows) of a weight's storage (rows < 0: the whole tensor), sharing its memory.
at::Tensor lora_target(jlong storage, jlong offset, jlong rows) {
  return rows < 0 ? T(storage) : T(storage).narrow(0, offset, rows);
}

// A Java array as a vector of n elements (its length must be n).
template <typename J, typename V>
std::vector<V> java_array(JNIEnv* env, J array, jsize n, void (JNIEnv::*get)(J, jsize, jsize, V*)) {
  if (array == nullptr || env->GetArrayLength(array) != n) throw std::invalid_argument("LoRA patch: array length");
  std::vector<V> out(static_cast<size_t>(n));
  if (n > 0) (env->*get)(array, 0, n, out.data());
  return out;
}

// The weights (NativeOps.loraAdd's storages, offsets, rows) as tensors sharing the model's memory.
std::vector<at::Tensor> lora_targets(JNIEnv* env, jlongArray jstorages, jlongArray joffsets, jlongArray jrows) {
  const jsize n = jstorages == nullptr ? 0 : env->GetArrayLength(jstorages);
  auto storages = java_array<jlongArray, jlong>(env, jstorages, n, &JNIEnv::GetLongArrayRegion);
  auto offsets = java_array<jlongArray, jlong>(env, joffsets, n, &JNIEnv::GetLongArrayRegion);
  auto rows = java_array<jlongArray, jlong>(env, jrows, n, &JNIEnv::GetLongArrayRegion);
  std::vector<at::Tensor> targets;
  targets.reserve(n);
  for (jsize i = 0; i < n; i++) targets.push_back(lora_target(storages[i], offsets[i], rows[i]));
  return targets;
}

struct Graph {
  at::cuda::CUDAGraph graph;
  c10::cuda::CUDAStream stream;
  std::optional<c10::cuda::CUDAStream> previous;
  at::cuda::MempoolId_t pool{0, 0};  // {0, 0}: a private pool of its own
  explicit Graph(c10::cuda::CUDAStream s) : stream(s) {}
};

// A new event recorded on the current stream, owned by the caller (HostCopy, StepFence); a CUDA error throws, naming
// `what`.
cudaEvent_t record_event(const char* what) {
  cudaEvent_t e = nullptr;
  cudaError_t err = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  if (err == cudaSuccess) err = cudaEventRecord(e, c10::cuda::getCurrentCUDAStream().stream());
  if (err != cudaSuccess) {
    if (e != nullptr) cudaEventDestroy(e);
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
  return e;
}

// Two tensors as a new Java long[2] of handles (an undefined one as 0); null with an OutOfMemoryError pending.
jlongArray handle_pair(JNIEnv* env, std::pair<at::Tensor, at::Tensor> r) {
  jlongArray out = env->NewLongArray(2);
  if (out == nullptr) return nullptr;  // OutOfMemoryError pending
  jlong v[2] = {r.first.defined() ? wrap(std::move(r.first)) : 0, r.second.defined() ? wrap(std::move(r.second)) : 0};
  env->SetLongArrayRegion(out, 0, 2, v);
  return out;
}

// ---- the ResNet blocks' 3x3 convolutions as FP8 products (SD_FP8_CONV) -----------------------------------------

// A ResNet block (diffusers' ResnetBlock2D: norm1 + SiLU, conv1, + time embedding, norm2 + SiLU, conv2, + shortcut)
// with both 3x3 convolutions as FP8 (e4m3) implicit GEMMs on Hopper (conv_fp8.cu) and their inputs written as e4m3 by
// the GroupNorm kernels that precede them (group_norm_nhwc.cu's e4m3 output, s_x = 1): x8 = e4m3(SiLU(GroupNorm(...)))
// (B, H, W, C) bytes, weights e4m3 KRSC with one scale per output channel (the Java side's Fp8Conv), y = fp16(descale[k]
// · Σ x8·w8 + bias + residual) channels-last. The Java side (ResnetBlock2D) takes the path where fp8_resnet_fit says
// the kernels take the block's shapes, else the fp16 path.

// sm_90a's FP8 convolution takes (n, h, w, c) -> k for the CUDA tensor x (sd_conv3x3_fp8_supported with the current
// device's compute capability: the device our ops run on, as the attention kernels ask it).
bool conv3x3_fp8_supported(const at::Tensor& x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k) {
  if (!x.is_cuda()) return false;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  return sd_conv3x3_fp8_supported(prop->major, prop->minor, n, h, w, c, k);
}

// e4m3 bytes (B, H, W, C) of a (B, C, H, W) tensor y by PyTorch's conversion (clamped to +-448, round to nearest even):
// the e4m3 GroupNorm's fallback, where our kernels do not apply.
at::Tensor nhwc_e4m3(const at::Tensor& y) {
  auto f = y.permute({0, 2, 3, 1}).to(at::kFloat).clamp(-kFp8Max, kFp8Max);
  return f.to(at::kFloat8_e4m3fn).contiguous().view(at::kByte);
}

// SiLU(GroupNorm(x + bias + nbias)) as e4m3 bytes (B, H, W, C) contiguous, s_x = 1 (sd_group_norm_nhwc_silu_e4m3):
// our NHWC kernels with the addend in their registers where they apply (as bias_group_norm; with SD_BIAS_KERNEL=0 the
// add first, in place in x, then the kernels); otherwise bias_group_norm's fp16 result converted by PyTorch (a
// fallback: one more rounding, at most one e4m3 step apart). bias (C), nbias (B or 1, C) optional; x may be
// overwritten.
at::Tensor group_norm_silu_e4m3(at::Tensor x, const std::optional<at::Tensor>& bias,
                                const std::optional<at::Tensor>& nbias, int64_t groups,
                                const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& beta,
                                double eps) {
  RECORD_FUNCTION(bias || nbias ? "sd::bias_group_norm_e4m3" : "sd::group_norm_e4m3",
                  std::vector<c10::IValue>({x, bias ? *bias : at::Tensor(), nbias ? *nbias : at::Tensor()}));
  if (bias_kernel_on.load() || !(bias || nbias)) {
    auto y8 = nhwc_group_norm(x, groups, gamma, beta, eps, true, bias, nbias, true);
    if (y8.defined()) return y8;
  } else {
    auto added = bias_add(x, bias, nbias, std::nullopt);
    auto y8 = nhwc_group_norm(added, groups, gamma, beta, eps, true, std::nullopt, std::nullopt, true);
    if (y8.defined()) return y8;
    return nhwc_e4m3(sd_group_norm(added, groups, gamma, beta, eps, true));
  }
  return nhwc_e4m3(bias_group_norm(x, bias, nbias, groups, gamma, beta, eps, true));
}

// SiLU(GroupNorm(cat([x1, x2], 1))) as e4m3 bytes (B, H, W, C1 + C2) contiguous, s_x = 1: our kernels reading both
// parts in place where cat_parts_norm_fit (sd_group_norm_nhwc_two_silu_e4m3: bit for bit group_norm_silu_e4m3 of the
// concatenation); otherwise cat_group_norm's fp16 result converted by PyTorch.
at::Tensor cat_group_norm_silu_e4m3(const at::Tensor& x1, const at::Tensor& x2, int64_t groups,
                                    const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& beta,
                                    double eps) {
  RECORD_FUNCTION("sd::cat_group_norm_e4m3", std::vector<c10::IValue>({x1, x2, gamma ? *gamma : at::Tensor()}));
  if (cat_parts_norm_fit(x1, x2, groups) && half_vector(gamma, x1.size(1) + x2.size(1)) &&
      half_vector(beta, x1.size(1) + x2.size(1))) {
    const int64_t n = x1.size(0), c1 = x1.size(1), c2 = x2.size(1), h = x1.size(2), w = x1.size(3);
    auto y8 = at::empty({n, h, w, c1 + c2}, x1.options().dtype(at::kByte));
    auto work = at::empty(
        {sd_group_norm_nhwc_work_floats(static_cast<int>(n), h * w, static_cast<int>(c1 + c2), false, sm_count())},
        x1.options().dtype(at::kFloat));
    int err = sd_group_norm_nhwc_two_silu_e4m3(
        x1.data_ptr(), x2.data_ptr(), y8.data_ptr(), gamma ? gamma->data_ptr() : nullptr,
        beta ? beta->data_ptr() : nullptr, work.data_ptr<float>(), static_cast<int>(n), h * w, static_cast<int>(c1),
        static_cast<int>(c2), static_cast<int>(groups), static_cast<float>(eps), sm_count(),
        c10::cuda::getCurrentCUDAStream());
    if (launched(err, group_norm_unusable, "NHWC group norm of two parts (e4m3 output)")) return y8;
  }
  return nhwc_e4m3(cat_group_norm(x1, x2, groups, gamma, beta, eps, true));
}

// Set at the FP8 convolution's first failed launch (conv3x3_fp8: e.g. cudaFuncSetAttribute refused, a TMA descriptor the
// driver will not encode, or the launch itself failing; a missing encoder already makes sd_conv3x3_fp8_supported say no,
// and FP8 convolutions are off): fp8_resnet_fit says no from then on, so the ResNet blocks run their fp16 path.
std::atomic<bool> conv3x3_fp8_unusable{false};

// conv3x3_fp8's result by PyTorch: the fp16 convolution of the e4m3 operands dequantised (x8 exactly, s_x = 1; w8 ·
// descale rounded to fp16), + bias + residual. The call whose launch failed returns it (the UNet call goes on; the
// ops are capturable, and CudaGraphRunner runs each shape eagerly before it captures it, so a failure shows there).
at::Tensor conv3x3_fp8_fallback(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& descale,
                                const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& residual,
                                int64_t k, int64_t c) {
  auto x = x8.view(at::kFloat8_e4m3fn).to(at::kHalf).permute({0, 3, 1, 2});  // (B, C, H, W), channels-last strides
  auto wt = (w8.view(at::kFloat8_e4m3fn).to(at::kFloat).reshape({k, 9 * c}) * descale.view({k, 1}))
                .to(at::kHalf)
                .reshape({k, 3, 3, c})
                .permute({0, 3, 1, 2});  // (K, C, 3, 3), channels-last strides
  auto y = at::conv2d(x, wt, bias, {1, 1}, {1, 1});
  if (residual) y.add_(*residual);
  return y.contiguous(at::MemoryFormat::ChannelsLast);
}

// y = fp16(descale[k] · conv3x3(x8, w8) + bias[k] + residual) (sd_conv3x3_fp8: stride 1, padding 1, cross-correlation
// as torch.nn.Conv2d), a new channels-last (B, K, H, W) fp16 tensor. x8: e4m3 bytes (B, H, W, C) contiguous (the e4m3
// GroupNorms' output); w8: e4m3 bytes, K·9·C of them, contiguous, in KRSC order ((K, 3, 3, C) or its (K, 9C) rows);
// descale: float32 (K) contiguous (s_w[k] / s_x); bias: fp16 (K) or absent; residual: fp16 (B, K, H, W), channels-last
// (another layout is copied to it first) or absent; all on one CUDA device, 16-byte aligned; the shape one sd_conv3x3_fp8_supported takes on that device.
// Throws std::invalid_argument (IllegalStateException on the Java side) naming what does not fit; a failed launch is
// logged once, computed by conv3x3_fp8_fallback and marks the kernel unusable (conv3x3_fp8_unusable).
at::Tensor conv3x3_fp8(const at::Tensor& x8, const at::Tensor& w8, const at::Tensor& descale,
                       const std::optional<at::Tensor>& bias, std::optional<at::Tensor> residual) {
  const auto e4m3_bytes = [](const at::Tensor& t) {
    return t.scalar_type() == at::kByte || t.scalar_type() == at::kFloat8_e4m3fn;
  };
  if (!x8.is_cuda() || x8.dim() != 4 || !e4m3_bytes(x8) || !x8.is_contiguous()) {
    throw std::invalid_argument("conv3x3Fp8: x8 must be e4m3 bytes (B, H, W, C), contiguous, on CUDA");
  }
  const int64_t n = x8.size(0), h = x8.size(1), w = x8.size(2), c = x8.size(3);
  const int64_t k = w8.dim() > 0 ? w8.size(0) : 0;
  if (w8.device() != x8.device() || !e4m3_bytes(w8) || !w8.is_contiguous() ||
      w8.numel() != k * 9 * c) {
    throw std::invalid_argument("conv3x3Fp8: w8 must be e4m3 bytes (K, 3, 3, C) or (K, 9C), KRSC, contiguous, on x8's device");
  }
  if (descale.device() != x8.device() || descale.scalar_type() != at::kFloat || !descale.is_contiguous() ||
      descale.numel() != k) {
    throw std::invalid_argument("conv3x3Fp8: descale must be float32 (K), contiguous, on x8's device");
  }
  if (bias && (bias->device() != x8.device() || !half_vector(bias, k) || !aligned16(*bias))) {
    throw std::invalid_argument("conv3x3Fp8: bias must be fp16 (K), contiguous, 16-byte aligned, on x8's device");
  }
  if (residual && residual->dim() == 4 && !residual->is_contiguous(at::MemoryFormat::ChannelsLast)) {
    residual = residual->contiguous(at::MemoryFormat::ChannelsLast);  // (a shortcut that is not: one copy)
  }
  if (residual && (residual->device() != x8.device() || residual->scalar_type() != at::kHalf ||
                   residual->sizes() != at::IntArrayRef({n, k, h, w}) ||
                   !residual->is_contiguous(at::MemoryFormat::ChannelsLast) || !aligned16(*residual))) {
    throw std::invalid_argument("conv3x3Fp8: residual must be fp16 (B, K, H, W) channels-last, 16-byte aligned, on x8's device");
  }
  if (!aligned16(x8) || !aligned16(w8) || !aligned16(descale)) {
    throw std::invalid_argument("conv3x3Fp8: x8, w8 and descale must be 16-byte aligned");
  }
  if (!conv3x3_fp8_supported(x8, n, h, w, c, k)) {
    throw std::invalid_argument("conv3x3Fp8: no FP8 convolution kernel for (B, H, W, C) = (" + std::to_string(n) +
                                ", " + std::to_string(h) + ", " + std::to_string(w) + ", " + std::to_string(c) +
                                ") -> K = " + std::to_string(k) +
                                " here (compute capability 9.0, a library built for sm_90a, C % 64, K % 160)");
  }
  RECORD_FUNCTION("sd::conv3x3_fp8", std::vector<c10::IValue>({x8, w8}));  // an op of its own in kernel profiles
  auto y = at::empty({n, k, h, w}, x8.options().dtype(at::kHalf).memory_format(at::MemoryFormat::ChannelsLast));
  int err = sd_conv3x3_fp8(x8.data_ptr(), w8.data_ptr(), descale.data_ptr<float>(), bias ? bias->data_ptr() : nullptr,
                           residual ? residual->data_ptr() : nullptr, y.data_ptr(), static_cast<int>(n),
                           static_cast<int>(h), static_cast<int>(w), static_cast<int>(c), static_cast<int>(k),
                           sm_count(), c10::cuda::getCurrentCUDAStream());
  if (err != cudaSuccess) {  // logged once; this call by PyTorch, the blocks' fp16 path from then on
    if (!conv3x3_fp8_unusable.exchange(true)) {
      std::fprintf(stderr, "sd_native_ops: the FP8 convolution failed (%s): FP8 convolutions off from now on\n",
                   cudaGetErrorString(static_cast<cudaError_t>(err)));
    }
    (void)cudaGetLastError();  // a failed launch's error is not left for the next check
    return conv3x3_fp8_fallback(x8, w8, descale, bias, residual, k, c);
  }
  return y;
}

// Whether a ResNet block's FP8 path takes its input x (B, Cin, H, W), or the parts x1 = x and x2 of an up block's
// concatenation (x2 defined: cat_parts_norm_fit), to cout output channels in `groups` groups: fp16 channels-last CUDA
// input, 16-byte aligned, our NHWC GroupNorm kernels for norm1 (Cin) and for norm2 with its addend (cout; conv1's
// output, fp16 channels-last), built for this GPU, no failed FP8 convolution launch yet, and the FP8 convolution for (B, H, W, Cin) -> cout and (B, H, W,
// cout) -> cout on x's device.
bool fp8_resnet_fit(const at::Tensor& x, const std::optional<at::Tensor>& x2, int64_t groups, int64_t cout) {
  if (conv3x3_fp8_unusable.load() || group_norm_unusable.load() || !x.is_cuda() || x.dim() != 4 ||
      x.scalar_type() != at::kHalf || !x.is_contiguous(at::MemoryFormat::ChannelsLast) || !aligned16(x) ||
      groups < 1 || cout < 1) {
    return false;
  }
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  int64_t cin = x.size(1);
  if (x2) {
    if (!cat_parts_norm_fit(x, *x2, groups)) return false;
    cin += x2->size(1);
  } else if (!sd_group_norm_nhwc_supported(static_cast<int>(cin), static_cast<int>(groups))) {
    return false;
  }
  return sd_group_norm_nhwc_supported(static_cast<int>(cout), static_cast<int>(groups)) &&
         sd_group_norm_nhwc_biased_supported(h * w, static_cast<int>(cout)) &&
         conv3x3_fp8_supported(x, n, h, w, cin, cout) && conv3x3_fp8_supported(x, n, h, w, cout, cout);
}

}  // namespace

extern "C" {

// ---- attention ------------------------------------------------------------------------------

// Self-attention: x (B, N, C); wqkv (3C, C) with the q rows pre-scaled, bqkv (3C) or 0; out proj, plus residual
// (B, N, C) in the same product where it is not 0 (attention_output).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_selfAttention(
    JNIEnv* env, jclass, jlong x, jlong wqkv, jlong bqkv, jlong wout, jlong bout, jint heads, jlong mask,
    jlong residual) {
  NATIVE_BEGIN
  return wrap(self_attention(sd_linear(T(x), T(wqkv), opt(bqkv)), T(wout), opt(bout), heads, opt(mask),
                             opt(residual)));
  NATIVE_END(0)
}

// Cross-attention: x (B, N, C), ctx (B, M, Cc); wq (C, C) pre-scaled, wkv (2C, Cc); out proj, plus residual (B, N, C)
// in the same product where it is not 0 (attention_output).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttention(
    JNIEnv* env, jclass, jlong x, jlong ctx, jlong wq, jlong bq, jlong wkv, jlong bkv, jlong wout, jlong bout,
    jint heads, jlong residual) {
  NATIVE_BEGIN
  return wrap(cross_attention(sd_linear(T(x), T(wq), opt(bq)), T(ctx), T(wkv), opt(bkv), T(wout), opt(bout), heads,
                              opt(residual)));
  NATIVE_END(0)
}

// Cross-attention with its k|v made before (a prompt K|V's slice: UNet2DConditionModel.withPromptKv): x (B, N, C); wq
// (C, C) pre-scaled; kv (B, M, 2C); out proj, plus residual (B, N, C) in the same product where it is not 0
// (attention_output). x == 0 is a probe (NativeOps.crossAttentionKvLinked): returns 0.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttentionKv(
    JNIEnv* env, jclass, jlong x, jlong kv, jlong wq, jlong bq, jlong wout, jlong bout, jint heads, jlong residual) {
  NATIVE_BEGIN
  if (x == 0) return 0;
  return wrap(cross_attention_kv(sd_linear(T(x), T(wq), opt(bq)), T(kv), T(wout), opt(bout), heads, opt(residual)));
  NATIVE_END(0)
}

// Whether the attention entries above (and their FP8 ones) take a residual: always true. A library built before they
// did lacks this function (the probe of NativeOps.ATTN_RESIDUAL, which passes no residual to such a library).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_attentionResidual(JNIEnv*, jclass) {
  return true;
}

// Attention core of a cross-attention on already projected tensors (checks of the kernel against SDPA): q (B, N, C)
// and kv (B, M, 2C), the k|v projection whose two halves are k and v, as cross_attention passes them; a new (B, N, C).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttentionCore(JNIEnv* env, jclass,
                                                                                             jlong q, jlong kv,
                                                                                             jint heads) {
  NATIVE_BEGIN
  auto parts = T(kv).chunk(2, -1);
  return wrap(short_attention(T(q), parts[0], parts[1], heads));
  NATIVE_END(0)
}

// Whether crossAttentionCore runs our kernel for these (conditions and switch; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttentionKernel(JNIEnv* env, jclass,
                                                                                                  jlong q, jlong kv,
                                                                                                  jint heads) {
  NATIVE_BEGIN
  auto parts = T(kv).chunk(2, -1);
  return cross_attention_kernel(T(q), parts[0], parts[1], heads, nullptr);
  NATIVE_END(false)
}

// Our kernel for head-size-40 cross-attentions (on: SD_CROSS_ATTENTION_KERNEL unless 0) or SDPA (off).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setCrossAttentionKernel(JNIEnv* env, jclass,
                                                                                                 jboolean on) {
  cross_attention_kernel_on.store(on);
}

// Attention core of a self-attention on its q|k|v projection (checks of the kernel against SDPA): qkv (B, N, 3C), whose
// thirds q (pre-scaled), k and v are read as strided views, as self_attention passes them; no mask; a new (B, N, C).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_selfAttentionCore(JNIEnv* env, jclass,
                                                                                             jlong qkv, jint heads) {
  NATIVE_BEGIN
  auto parts = T(qkv).chunk(3, -1);
  at::Tensor o;
  if (!self_attention_kernel(parts[0], parts[1], parts[2], heads, &o)) o = mha(parts[0], parts[1], parts[2], heads);
  return wrap(o);
  NATIVE_END(0)
}

// Whether selfAttentionCore runs our kernel for these (conditions and switch; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_selfAttentionKernel(JNIEnv* env, jclass,
                                                                                                 jlong qkv,
                                                                                                 jint heads) {
  NATIVE_BEGIN
  auto parts = T(qkv).chunk(3, -1);
  return self_attention_kernel(parts[0], parts[1], parts[2], heads, nullptr);
  NATIVE_END(false)
}

// Wide-head attention (head size > 256 without a mask on CUDA: the VAE's mid-block) as plain products + softmax (on:
// SD_WIDE_HEAD_ATTENTION unless 0) or SDPA (off).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setWideHeadAttention(JNIEnv* env, jclass,
                                                                                              jboolean on) {
  wide_head_attention_on.store(on);
}

// Test hook (the self-check's chunked cases): at most maxScores scores per chunk of queries; 0 restores the default
// (2^26).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setWideHeadAttentionChunk(JNIEnv* env, jclass,
                                                                                                   jlong max_scores) {
  wide_head_max_scores.store(max_scores > 0 ? max_scores : 0);
}

// Whether the library has the wide-head path (built against PyTorch >= 2.8, SD_WIDE_HEAD_BUILT).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_wideHeadAttentionBuilt(JNIEnv*, jclass) {
  return SD_WIDE_HEAD_BUILT ? JNI_TRUE : JNI_FALSE;
}

// Whether selfAttentionCore runs wide_head_attention for these (conditions and switch; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_wideHeadAttention(JNIEnv* env, jclass,
                                                                                               jlong qkv, jint heads) {
  NATIVE_BEGIN
  auto parts = T(qkv).chunk(3, -1);
  return !self_attention_kernel(parts[0], parts[1], parts[2], heads, nullptr) &&
         wide_head_attention_fits(parts[0], parts[1], parts[2], heads, false);
  NATIVE_END(false)
}

// Whether the library has the self-attention kernel's sm_90a code (built for Hopper) and this is a GPU it runs on:
// compute capability 9.0.
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_selfAttentionKernelBuilt(JNIEnv* env,
                                                                                                      jclass) {
  NATIVE_BEGIN
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  return sd_self_attention_supported(prop->major, prop->minor, 40, 1, 128, 128, 1);
  NATIVE_END(false)
}

// Our kernel for head-size-40 self-attentions (on: SD_SELF_ATTENTION_KERNEL unless 0) or SDPA (off).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setSelfAttentionKernel(JNIEnv* env, jclass,
                                                                                                jboolean on) {
  self_attention_kernel_on.store(on);
}

// Self-attention of an FP8 input: x8 (B, N, C) e4m3 bytes (layerNormFp8's), its q|k|v projection the FP8 product
// (fp8_linear: w8 (3C, C), scales, b (3C) fp16 or 0), then as selfAttention (no mask; residual fp16 (B, N, C) or 0).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_selfAttentionFp8(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b, jlong wout, jlong bout, jint heads,
    jlong residual) {
  NATIVE_BEGIN
  return wrap(self_attention(fp8_linear(T(x8), T(w8), T(scales), opt(b)), T(wout), opt(bout), heads, std::nullopt,
                             opt(residual)));
  NATIVE_END(0)
}

// Cross-attention of an FP8 input: its q projection the FP8 product (fp8_linear: x8 (B, N, C) bytes, w8 (C, C),
// scales, b (C) fp16 or 0), k|v from the fp16 ctx as crossAttention (residual fp16 (B, N, C) or 0).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttentionFp8(
    JNIEnv* env, jclass, jlong x8, jlong ctx, jlong w8, jlong scales, jlong b, jlong wkv, jlong bkv, jlong wout,
    jlong bout, jint heads, jlong residual) {
  NATIVE_BEGIN
  return wrap(cross_attention(fp8_linear(T(x8), T(w8), T(scales), opt(b)), T(ctx), T(wkv), opt(bkv), T(wout),
                              opt(bout), heads, opt(residual)));
  NATIVE_END(0)
}

// Cross-attention of an FP8 input with its k|v made before: its q projection the FP8 product (fp8_linear: x8 (B, N,
// C) bytes, w8 (C, C), scales, b (C) fp16 or 0), then as crossAttentionKv (residual fp16 (B, N, C) or 0). x8 == 0 is
// a probe: returns 0.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_crossAttentionKvFp8(
    JNIEnv* env, jclass, jlong x8, jlong kv, jlong w8, jlong scales, jlong b, jlong wout, jlong bout, jint heads,
    jlong residual) {
  NATIVE_BEGIN
  if (x8 == 0) return 0;
  return wrap(cross_attention_kv(fp8_linear(T(x8), T(w8), T(scales), opt(b)), T(kv), T(wout), opt(bout), heads,
                                 opt(residual)));
  NATIVE_END(0)
}

// ---- normalisation and activations ----------------------------------------------------------

// torch.nn.GroupNorm (+ optional SiLU) over (B, C, ...).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_groupNorm(
    JNIEnv* env, jclass, jlong x, jint groups, jlong gamma, jlong beta, jdouble eps, jboolean silu) {
  NATIVE_BEGIN
  return wrap(sd_group_norm(T(x), groups, opt(gamma), opt(beta), eps, silu));
  NATIVE_END(0)
}

// GroupNorm (+ SiLU) of x + bias (C) + nbias (B or 1, C) (bias_group_norm; bias and nbias may be 0); x may be
// overwritten. x = 0 returns 0 (NativeOps' probe for the function).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_biasGroupNorm(
    JNIEnv* env, jclass, jlong x, jlong b, jlong nbias, jint groups, jlong gamma, jlong beta, jdouble eps,
    jboolean silu) {
  NATIVE_BEGIN
  if (x == 0) return 0;
  return wrap(bias_group_norm(T(x), opt(b), opt(nbias), groups, opt(gamma), opt(beta), eps, silu));
  NATIVE_END(0)
}

// GroupNorm (+ SiLU) of cat([x1, x2], 1) (cat_group_norm: both parts read in place where cat_parts_fit).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_catGroupNorm(
    JNIEnv* env, jclass, jlong x1, jlong x2, jint groups, jlong gamma, jlong beta, jdouble eps, jboolean silu) {
  NATIVE_BEGIN
  return wrap(cat_group_norm(T(x1), T(x2), groups, opt(gamma), opt(beta), eps, silu));
  NATIVE_END(0)
}

// A 1x1 convolution (stride 1, no padding) of cat([x1, x2], 1) with weight w and bias b (or 0) (cat_conv1x1: two
// products, no concatenation, where cat_conv1x1_fit).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_catConv1x1(JNIEnv* env, jclass, jlong x1,
                                                                                     jlong x2, jlong w, jlong b) {
  NATIVE_BEGIN
  return wrap(cat_conv1x1(T(x1), T(x2), T(w), opt(b)));
  NATIVE_END(0)
}

// Whether an up block's ResNet block hands x1 and x2 to catGroupNorm and catConv1x1 as two parts (cat_parts_fit;
// GroupNorm in `groups` groups).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_catPartsFit(JNIEnv* env, jclass, jlong x1,
                                                                                         jlong x2, jint groups) {
  NATIVE_BEGIN
  return cat_parts_fit(T(x1), T(x2), groups);
  NATIVE_END(false)
}

// torch.nn.functional.layer_norm over the last dimension (gamma, beta: (C) or 0).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_layerNorm(
    JNIEnv* env, jclass, jlong x, jlong gamma, jlong beta, jdouble eps) {
  NATIVE_BEGIN
  return wrap(layer_norm(T(x), std::nullopt, opt(gamma), opt(beta), eps).second);
  NATIVE_END(0)
}

// Residual add + layer norm: {s = x + d, layer_norm(s)} (two new tensor handles).
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_addLayerNorm(
    JNIEnv* env, jclass, jlong x, jlong d, jlong gamma, jlong beta, jdouble eps) {
  NATIVE_BEGIN
  auto r = layer_norm(T(x), T(d), opt(gamma), opt(beta), eps);
  jlongArray out = env->NewLongArray(2);
  if (out == nullptr) return nullptr;  // OutOfMemoryError pending
  jlong v[2] = {wrap(std::move(r.first)), wrap(std::move(r.second))};
  env->SetLongArrayRegion(out, 0, 2, v);
  return out;
  NATIVE_END(nullptr)
}

// conv2d: b, nbias and residual may be 0 (all 0: the bare convolution).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_conv2d(
    JNIEnv* env, jclass, jlong x, jlong w, jlong b, jint stride, jint padding, jlong nbias, jlong residual) {
  NATIVE_BEGIN
  return wrap(conv2d(T(x), T(w), opt(b), opt(nbias), opt(residual), stride, padding));
  NATIVE_END(0)
}

// y += bias + nbias + residual in place (bias_add; any of them 0); the kernel checks against PyTorch.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_biasAdd(JNIEnv* env, jclass, jlong y, jlong b,
                                                                                  jlong nbias, jlong residual) {
  NATIVE_BEGIN
  return wrap(bias_add(T(y), opt(b), opt(nbias), opt(residual)));
  NATIVE_END(0)
}

// torch.nn.functional.linear with the bias fused into the product (sd_linear: one cuBLASLt product with the tuned
// algorithm where SD_LT_AUTOTUNE is on and it applies, else at::linear as Python's nn.Linear runs it: a contiguous 3-d
// input through addmm), unlike DJL's linear (the C++ frontend's, which adds the bias in a second pass).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linear(JNIEnv* env, jclass, jlong x, jlong w,
                                                                                 jlong b) {
  NATIVE_BEGIN
  return wrap(sd_linear(T(x), T(w), opt(b)));
  NATIVE_END(0)
}

// Whether linear runs these as one cuBLASLt product (SD_LT_AUTOTUNE on, the operands fit, an algorithm; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearFused(JNIEnv* env, jclass, jlong x,
                                                                                        jlong w, jlong b) {
  NATIVE_BEGIN
  return lt_autotune_on.load() && lt_linear(T(x), T(w), opt(b), at::Tensor(), nullptr);
  NATIVE_END(false)
}

// The tensors as a Java long[] of handles (wrap; 0 for an undefined one), or null with an OutOfMemoryError pending
// (the tensors freed).
static jlongArray handle_array(JNIEnv* env, std::vector<at::Tensor>&& tensors) {
  std::vector<jlong> handles;
  for (auto& y : tensors) handles.push_back(y.defined() ? wrap(std::move(y)) : 0);
  const jsize n = static_cast<jsize>(handles.size());
  jlongArray out = env->NewLongArray(n);
  if (out == nullptr) {
    for (jlong h : handles) delete reinterpret_cast<at::Tensor*>(h);
    return nullptr;
  }
  if (n > 0) env->SetLongArrayRegion(out, 0, n, handles.data());
  return out;
}

// x·wᵀ + b [+ r] with each of cuBLASLt's candidate algorithms for it (lt_candidate_outputs; b and r may be 0): a new
// long[] of output handles in the heuristic's order, 0 where cublasLtMatmul refused one; empty where the operands do
// not fit an fp16 cuBLASLt product or it has no algorithm.
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearCandidates(
    JNIEnv* env, jclass, jlong x, jlong w, jlong b, jlong r) {
  NATIVE_BEGIN
  auto outputs = lt_candidate_outputs(T(x), T(w), opt(b), r == 0 ? at::Tensor() : T(r));
  return handle_array(env, std::move(outputs));
  NATIVE_END(nullptr)
}

// y = x·wᵀ + b + r (linear_residual: one cuBLASLt product where it applies, at::linear + add otherwise); b may be 0,
// r has the output's shape.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearResidual(JNIEnv* env, jclass, jlong x,
                                                                                         jlong w, jlong b, jlong r) {
  NATIVE_BEGIN
  return wrap(linear_residual(T(x), T(w), opt(b), T(r)));
  NATIVE_END(0)
}

// Whether linearResidual runs these as one cuBLASLt product (conditions, switch and an algorithm; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearResidualFused(
    JNIEnv* env, jclass, jlong x, jlong w, jlong b, jlong r) {
  NATIVE_BEGIN
  return lt_linear_residual(T(x), T(w), opt(b), T(r), nullptr);
  NATIVE_END(false)
}

// The tensor in channels-last memory layout (a copy unless it already is; 4-d tensors only).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_channelsLast(JNIEnv* env, jclass, jlong x) {
  NATIVE_BEGIN
  return wrap(T(x).contiguous(at::MemoryFormat::ChannelsLast));
  NATIVE_END(0)
}

// The tensor in the default (row-major) layout: what DJL's host copies expect.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_contiguous(JNIEnv* env, jclass, jlong x) {
  NATIVE_BEGIN
  return wrap(T(x).contiguous());
  NATIVE_END(0)
}

// Whether the tensor is laid out channels-last (and not also row-major).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_isChannelsLast(JNIEnv* env, jclass, jlong x) {
  NATIVE_BEGIN
  return T(x).dim() == 4 && T(x).is_contiguous(at::MemoryFormat::ChannelsLast) && !T(x).is_contiguous();
  NATIVE_END(false)
}

// GEGLU feed-forward input: h = linear(x); a, g = h.chunk(2); a * gelu(g).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_geglu(
    JNIEnv* env, jclass, jlong x, jlong w, jlong b) {
  NATIVE_BEGIN
  return wrap(geglu_gate(sd_linear(T(x), T(w), opt(b))));
  NATIVE_END(0)
}

// GEGLU's gate alone, a * gelu(g) of h = [a, g] (checks of the kernel against PyTorch).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_gegluGate(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  return wrap(geglu_gate(T(h)));
  NATIVE_END(0)
}

// GEGLU feed-forward input of an FP8 input: h = fp8_linear(x8, w8, scales, b); a * gelu(g) (geglu_gate).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_gegluFp8(JNIEnv* env, jclass, jlong x8,
                                                                                   jlong w8, jlong scales, jlong b) {
  NATIVE_BEGIN
  return wrap(geglu_gate(fp8_linear(T(x8), T(w8), T(scales), opt(b))));
  NATIVE_END(0)
}

// The FP8 product alone (fp8_linear; checks). x8 = 0 returns 0 (NativeOps' probe for the FP8 functions).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearFp8(JNIEnv* env, jclass, jlong x8,
                                                                                    jlong w8, jlong scales, jlong b) {
  NATIVE_BEGIN
  if (x8 == 0) return 0;
  return wrap(fp8_linear(T(x8), T(w8), T(scales), opt(b)));
  NATIVE_END(0)
}

// Whether linearFp8 runs these as one cuBLASLt FP8 product (operands and an algorithm; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearFp8Fused(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b) {
  NATIVE_BEGIN
  return lt_fp8_linear(T(x8), T(w8), T(scales), opt(b), nullptr);
  NATIVE_END(false)
}

// LayerNorm without affine as FP8 (layer_norm_fp8): {sum (0 without d), y8 (x's shape, e4m3 bytes)}; d may be 0.
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_layerNormFp8(
    JNIEnv* env, jclass, jlong x, jlong d, jdouble eps, jdouble scale) {
  NATIVE_BEGIN
  return handle_pair(env, layer_norm_fp8(T(x), opt(d), eps, scale));
  NATIVE_END(nullptr)
}

// W'_fp8 and {s_w, invSx} written in place from the folded float32 weight (fp8_quantize).
// GEGLU's gate as FP8 with per-row scales (geglu_gate_fp8): {q (..., I) e4m3 bytes, s (rows) float32} of h (..., 2I).
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_gegluGateFp8(JNIEnv* env, jclass,
                                                                                           jlong h) {
  NATIVE_BEGIN
  return handle_pair(env, geglu_gate_fp8(T(h)));
  NATIVE_END(nullptr)
}

// y = (x8·w8ᵀ)·(ws ⊗ xs) + b + r (fp8_linear_residual: one cuBLASLt FP8 product with outer-vector scales where it has an
// algorithm, else dequantised in float32); b may be 0. x8 = 0 returns 0 (NativeOps' probe for SD_FP8_FF_OUT).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearResidualFp8(
    JNIEnv* env, jclass, jlong x8, jlong xs, jlong w8, jlong ws, jlong b, jlong r) {
  NATIVE_BEGIN
  if (x8 == 0) return 0;
  return wrap(fp8_linear_residual(T(x8), T(xs), T(w8), T(ws), opt(b), T(r)));
  NATIVE_END(0)
}

// Whether linearResidualFp8 runs these as one cuBLASLt FP8 product (operands and an algorithm; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearResidualFp8Fused(
    JNIEnv* env, jclass, jlong x8, jlong xs, jlong w8, jlong ws, jlong b, jlong r) {
  NATIVE_BEGIN
  return lt_fp8_linear_residual(T(x8), T(xs), T(w8), T(ws), opt(b), T(r), nullptr);
  NATIVE_END(false)
}

// A transformer block's feed-forward on the FP8 path with its residual (feed_forward_fp8); b and bo may be 0.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_feedForwardFp8(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b, jlong w8o, jlong wso, jlong bo, jlong wo, jlong r) {
  NATIVE_BEGIN
  return wrap(feed_forward_fp8(T(x8), T(w8), T(scales), opt(b), T(w8o), T(wso), opt(bo), T(wo), T(r)));
  NATIVE_END(0)
}

// ff.net.0.proj's FP8 product with an e4m3 output (fp8_linear_e4m3: one cuBLASLt FP8 product with a D scale where it has
// an algorithm, else dequantised); b may be 0. x8 = 0 returns 0 (NativeOps' probe for SD_FP8_GEGLU).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearFp8E4m3(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b, jlong ys) {
  NATIVE_BEGIN
  if (x8 == 0) return 0;
  return wrap(fp8_linear_e4m3(T(x8), T(w8), T(scales), opt(b), T(ys)));
  NATIVE_END(0)
}

// Whether linearFp8E4m3 runs these as one cuBLASLt FP8 product (operands and an algorithm; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_linearFp8E4m3Fused(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b, jlong ys) {
  NATIVE_BEGIN
  return lt_fp8_linear(T(x8), T(w8), T(scales), opt(b), nullptr, &T(ys));
  NATIVE_END(false)
}

// GEGLU's gate of an e4m3 h8 as FP8 with per-row scales (geglu_gate_e4m3): {q (..., I) e4m3 bytes, s (rows) float32}.
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_gegluGateE4m3(JNIEnv* env, jclass,
                                                                                            jlong h8, jlong ys) {
  NATIVE_BEGIN
  return handle_pair(env, geglu_gate_e4m3(T(h8), T(ys)));
  NATIVE_END(nullptr)
}

// A transformer block's feed-forward on the FP8 path with GEGLU's intermediate as e4m3 (feed_forward_fp8_e4m3); b and bo
// may be 0.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_feedForwardFp8E4m3(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong scales, jlong b, jlong ys, jlong w8o, jlong wso, jlong bo, jlong wo,
    jlong r) {
  NATIVE_BEGIN
  return wrap(feed_forward_fp8_e4m3(T(x8), T(w8), T(scales), opt(b), T(ys), T(w8o), T(wso), opt(bo), T(wo), T(r)));
  NATIVE_END(0)
}

// ff.net.2's FP8 weight and per-row scales written in place from its weight (fp8_quantize_rows).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fp8QuantizeRows(JNIEnv* env, jclass, jlong w,
                                                                                         jlong w8, jlong scales) {
  NATIVE_BEGIN
  fp8_quantize_rows(T(w), T(w8), T(scales));
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fp8Quantize(JNIEnv* env, jclass, jlong wf,
                                                                                     jlong w8, jlong scales,
                                                                                     jdouble inv_sx) {
  NATIVE_BEGIN
  fp8_quantize(T(wf), T(w8), T(scales), inv_sx);
  NATIVE_END()
}

// SiLU(GroupNorm(x + b + nbias)) as e4m3 bytes (B, H, W, C) (group_norm_silu_e4m3; b and nbias may be 0); x may be
// overwritten.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_groupNormSiluE4m3(
    JNIEnv* env, jclass, jlong x, jlong b, jlong nbias, jint groups, jlong gamma, jlong beta, jdouble eps) {
  NATIVE_BEGIN
  return wrap(group_norm_silu_e4m3(T(x), opt(b), opt(nbias), groups, opt(gamma), opt(beta), eps));
  NATIVE_END(0)
}

// SiLU(GroupNorm(cat([x1, x2], 1))) as e4m3 bytes (B, H, W, C1 + C2) (cat_group_norm_silu_e4m3).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_catGroupNormSiluE4m3(
    JNIEnv* env, jclass, jlong x1, jlong x2, jint groups, jlong gamma, jlong beta, jdouble eps) {
  NATIVE_BEGIN
  return wrap(cat_group_norm_silu_e4m3(T(x1), T(x2), groups, opt(gamma), opt(beta), eps));
  NATIVE_END(0)
}

// The FP8 3x3 convolution (conv3x3_fp8); b and r may be 0. x8 = 0 returns 0 (NativeOps' probe for SD_FP8_CONV).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_conv3x3Fp8(
    JNIEnv* env, jclass, jlong x8, jlong w8, jlong descale, jlong b, jlong r) {
  NATIVE_BEGIN
  if (x8 == 0) return 0;
  return wrap(conv3x3_fp8(T(x8), T(w8), T(descale), opt(b), opt(r)));
  NATIVE_END(0)
}

// Whether the FP8 convolution takes (n, h, w, c) -> k on the current device (sd_conv3x3_fp8_supported; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_conv3x3Fp8Supported(
    JNIEnv* env, jclass, jlong n, jlong h, jlong w, jlong c, jlong k) {
  NATIVE_BEGIN
  if (!at::hasCUDA() || c10::cuda::device_count() == 0) return false;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  return sd_conv3x3_fp8_supported(prop->major, prop->minor, n, h, w, c, k);
  NATIVE_END(false)
}

// Whether a ResNet block's FP8 path takes x (and x2, or 0) to cout channels in `groups` groups (fp8_resnet_fit).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fp8ResnetFits(
    JNIEnv* env, jclass, jlong x, jlong x2, jint groups, jint cout) {
  NATIVE_BEGIN
  return fp8_resnet_fit(T(x), opt(x2), groups, cout);
  NATIVE_END(false)
}

// e4m3 bytes as float32, exactly (the checks' dequantisation: e4m3_float), the same shape and strides.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fromFp8Bytes(JNIEnv* env, jclass, jlong x8) {
  NATIVE_BEGIN
  return wrap(e4m3_float(T(x8)));
  NATIVE_END(0)
}

// x (any float type) as e4m3 bytes, converted by PyTorch (x.to(torch.float8_e4m3fn): round to nearest even; the checks'
// reference for the kernel's conversion).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_toFp8Bytes(JNIEnv* env, jclass, jlong x) {
  NATIVE_BEGIN
  return wrap(T(x).to(at::kFloat8_e4m3fn).view(at::kByte));
  NATIVE_END(0)
}

// The current CUDA device's compute capability as major * 10 + minor (libtorch's device properties; 89 = Ada, 90 =
// Hopper), or -1 without a CUDA device.
JNIEXPORT jint JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_computeCapability(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  if (!at::hasCUDA() || c10::cuda::device_count() == 0) return -1;
  const cudaDeviceProp* p = at::cuda::getCurrentDeviceProperties();
  return p->major * 10 + p->minor;
  NATIVE_END(-1)
}

// In-place copy (same shape, dtype converted if needed), asynchronous on the current stream.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_copyInto(
    JNIEnv* env, jclass, jlong dst, jlong src) {
  NATIVE_BEGIN
  T(dst).copy_(T(src), true);
  NATIVE_END()
}

// ---- nearest-neighbour upsampling ----------------------------------------------------------

// F.interpolate(x, size=(h, w), mode="nearest") of x (B, C, H, W) (upsample_nearest: our 2x kernel where it applies,
// at::upsample_nearest2d otherwise).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_upsampleNearest(JNIEnv* env, jclass, jlong x,
                                                                                          jlong h, jlong w) {
  NATIVE_BEGIN
  return wrap(upsample_nearest(T(x), h, w));
  NATIVE_END(0)
}

// Whether upsampleNearest runs our kernel for these (conditions and switch; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_upsampleNearestKernel(
    JNIEnv* env, jclass, jlong x, jlong h, jlong w) {
  NATIVE_BEGIN
  return upsample_nearest2x(T(x), h, w, nullptr);
  NATIVE_END(false)
}

// Our 2x nearest upsampling kernel (on = true, the default) or PyTorch's upsample_nearest2d.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setUpsampleKernel(JNIEnv* env, jclass,
                                                                                          jboolean on) {
  upsample_kernel_on.store(on);
}

// ---- the ResNet blocks' time-embedding projections (issue 17) ------------------------------

// y_i = x·w[i]ᵀ + b[i] for every i (time_projections: one launch of our kernel where it applies, else one product
// each): a new long[] of output handles, one per weight; x = 0 returns an empty array (NativeOps' probe).
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_timeProjections(JNIEnv* env, jclass,
                                                                                               jlong x, jlongArray jw,
                                                                                               jlongArray jb) {
  NATIVE_BEGIN
  std::vector<at::Tensor> outputs;
  if (x != 0) {
    std::vector<at::Tensor> w;
    std::vector<std::optional<at::Tensor>> b;
    time_proj_operands(env, jw, jb, &w, &b);
    outputs = time_projections(T(x), w, b);
  }
  return handle_array(env, std::move(outputs));
  NATIVE_END(nullptr)
}

// Whether timeProjections runs our kernel for these (time_proj_fits; nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_timeProjectionsKernel(
    JNIEnv* env, jclass, jlong x, jlongArray jw, jlongArray jb) {
  NATIVE_BEGIN
  std::vector<at::Tensor> w;
  std::vector<std::optional<at::Tensor>> b;
  time_proj_operands(env, jw, jb, &w, &b);
  std::vector<int> n;
  return x != 0 && time_proj_fits(T(x), w, b, &n);
  NATIVE_END(false)
}

// ---- asynchronous host copies (previews) --------------------------------------------------

// A float32 copy of a tensor on its way to pinned host memory: the copy and the event after it are queued on the
// stream that was current when it started; `done` completes when the bytes are on the host.
struct HostCopy {
  at::Tensor host;  // pinned, row-major, float32
  cudaEvent_t done = nullptr;
  ~HostCopy() {
    if (done != nullptr) cudaEventDestroy(done);  // returns at once; CUDA frees it when the event completes
  }
};

// NativeOps.hostCopyStart: queues a float32 copy of x (any layout, float16 or float32, CUDA) into pinned host
// memory on the current stream and records an event after it; returns the HostCopy handle (hostCopyFree it).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_hostCopyStart(JNIEnv* env, jclass,
                                                                                       jlong x) {
  NATIVE_BEGIN
  const at::Tensor& src = T(x);
  if (!src.is_cuda()) throw std::invalid_argument("hostCopyStart: not a CUDA tensor");
  auto copy = std::make_unique<HostCopy>();
  copy->host = at::empty(src.sizes(), at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
  // non_blocking into pinned memory: a cudaMemcpyAsync on the current stream (after a cast / row-major copy on the
  // device where needed); the host allocator keeps the block until the copy is done, even if it is freed before
  copy->host.copy_(src, /*non_blocking=*/true);
  copy->done = record_event("hostCopyStart");
  return reinterpret_cast<jlong>(copy.release());
  NATIVE_END(0)
}

// NativeOps.hostCopyRead: waits for the copy's event (only this copy and the work queued before it), then the
// values as a new float[] (row-major).
JNIEXPORT jfloatArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_hostCopyRead(JNIEnv* env, jclass,
                                                                                            jlong h) {
  NATIVE_BEGIN
  auto* copy = reinterpret_cast<HostCopy*>(h);
  cudaError_t err = cudaEventSynchronize(copy->done);
  if (err != cudaSuccess) throw std::runtime_error(std::string("hostCopyRead: ") + cudaGetErrorString(err));
  const int64_t n = copy->host.numel();
  if (n > INT32_MAX) throw std::invalid_argument("hostCopyRead: more than 2^31 values");
  jfloatArray out = env->NewFloatArray(static_cast<jsize>(n));
  if (out == nullptr) return nullptr;  // OutOfMemoryError pending
  env->SetFloatArrayRegion(out, 0, static_cast<jsize>(n), copy->host.data_ptr<float>());
  return out;
  NATIVE_END(nullptr)
}

// NativeOps.hostCopyFree (0 is ignored); safe while the copy is still in flight.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_hostCopyFree(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  delete reinterpret_cast<HostCopy*>(h);
  NATIVE_END()
}

// NativeOps.fenceRecord: a CUDA event recorded on the current stream (StepFence; fenceRelease frees it).
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fenceRecord(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  return reinterpret_cast<jlong>(record_event("fenceRecord"));
  NATIVE_END(0)
}

// NativeOps.fenceRelease: waits until the GPU has done the work queued before the fence (wait = true), then frees it;
// with wait = false only frees it (0 is ignored).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_fenceRelease(JNIEnv* env, jclass, jlong h,
                                                                                      jboolean wait) {
  NATIVE_BEGIN
  if (h == 0) return;
  auto e = reinterpret_cast<cudaEvent_t>(h);
  cudaError_t err = wait ? cudaEventSynchronize(e) : cudaSuccess;
  cudaEventDestroy(e);
  if (err != cudaSuccess) throw std::runtime_error(std::string("fenceRelease: ") + cudaGetErrorString(err));
  NATIVE_END()
}

// ---- CUDA graphs ----------------------------------------------------------------------------

// A new graph; with share != 0 its capture allocates from the memory pool of that (captured) graph, and runs on that
// graph's side stream: graphs replayed one at a time on one stream can share one pool, whose size is then the largest
// capture's working memory rather than the sum of all. The caching allocator hands a freed block out again only on
// the stream it was allocated on (as torch.cuda.graph captures every graph on one default side stream), so graphs
// captured on streams of their own would share the pool's id but none of its memory.
JNIEXPORT jlong JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphCreate(
    JNIEnv* env, jclass, jlong share) {
  NATIVE_BEGIN
  auto* shared = reinterpret_cast<Graph*>(share);
  auto* g = new Graph(shared != nullptr ? shared->stream : c10::cuda::getStreamFromPool(false));
  if (shared != nullptr) g->pool = shared->graph.pool();
  return reinterpret_cast<jlong>(g);
  NATIVE_END(0)
}

// SDPA backend order: cuDNN attention first (on = true), or PyTorch's default order (on = false).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setCudnnAttention(
    JNIEnv* env, jclass, jboolean on) {
  NATIVE_BEGIN
  static const auto defaults = at::globalContext().sDPPriorityOrder();
  std::vector<int64_t> order;
  if (on) order.push_back(static_cast<int64_t>(at::SDPBackend::cudnn_attention));
  for (auto b : defaults) {
    if (!on || b != at::SDPBackend::cudnn_attention) order.push_back(static_cast<int64_t>(b));
  }
  if (on) at::globalContext().setSDPUseCuDNN(true);
  at::globalContext().setSDPPriorityOrder(order);
  NATIVE_END()
}

// Our GEGLU kernel (on = true, the default) or PyTorch's chunk + gelu + mul.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setGegluKernel(JNIEnv* env, jclass,
                                                                                       jboolean on) {
  geglu_kernel_on.store(on);
}

// Our LayerNorm kernel (on = true, the default) or PyTorch's layer_norm (and add).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setLayerNormKernel(JNIEnv* env, jclass,
                                                                                           jboolean on) {
  layer_norm_kernel_on.store(on);
}

// The up blocks' norm1 and conv_shortcut read the two parts in place (cat_parts_fit; on = true, the default) or their
// concatenation.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setUpblockNoCat(JNIEnv* env, jclass,
                                                                                        jboolean on) {
  upblock_no_cat_on.store(on);
}

// Small groups in one launch of our NHWC GroupNorm kernel (group_norm_nhwc.cu's group_norm_one; on:
// SD_GROUP_NORM_ONE_PASS unless 0) or every shape in its three launches (off).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setGroupNormOnePass(JNIEnv* env, jclass,
                                                                                            jboolean on) {
  sd_group_norm_nhwc_set_one_pass(on);
}

// Whether our NHWC GroupNorm kernels (groupNorm, biasGroupNorm, catGroupNorm on fp16 channels-last CUDA tensors)
// normalise hw pixels of c channels in `groups` groups in one launch, as the switch is set now (nothing runs).
JNIEXPORT jboolean JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_groupNormOnePass(JNIEnv* env, jclass,
                                                                                             jlong hw, jint c,
                                                                                             jint groups) {
  return sd_group_norm_nhwc_one_pass(hw, c, groups) ? JNI_TRUE : JNI_FALSE;
}

// Float32 GroupNorm on CUDA with split statistics (group_norm_split; on = true, the default) or PyTorch's group_norm.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setFp32GroupNormSplit(JNIEnv* env, jclass,
                                                                                              jboolean on) {
  fp32_group_norm_split.store(on);
}

// Float32 attention on CUDA with float16 products (mha; on = true, the default) or in float32 throughout.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setFp32AttentionInHalf(JNIEnv* env, jclass,
                                                                                               jboolean on) {
  fp32_attention_in_half.store(on);
}

// Our one-pass bias add kernel (on = true, the default) or PyTorch's add_ per term.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setBiasKernel(JNIEnv* env, jclass,
                                                                                      jboolean on) {
  bias_kernel_on.store(on);
}

// 1x1 convolutions of fp16 channels-last inputs as matrix products (conv1x1_gemm; on = true, the default) or cuDNN's.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setConv1x1Gemm(JNIEnv* env, jclass,
                                                                                       jboolean on) {
  conv1x1_gemm_on.store(on);
}

// Products with their bias and residual in one cuBLASLt call (lt_linear_residual; on = true, the default) or at::linear
// + add.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setLtResidual(JNIEnv* env, jclass,
                                                                                      jboolean on) {
  lt_residual_on.store(on);
}

// cuBLASLt's algorithms timed per product shape on first use and the fastest kept, the plain fp16 linears through
// cuBLASLt too (lt_tune, sd_linear; on = true, the default), or the heuristic's first pick and at::linear.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setLtAutotune(JNIEnv* env, jclass,
                                                                                      jboolean on) {
  lt_autotune_on.store(on);
}

// What autotuning found so far (lt_tune_report): a summary line, then one line per tuned product shape.
JNIEXPORT jstring JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_ltTuneReport(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  return env->NewStringUTF(lt_tune_report().c_str());
  NATIVE_END(nullptr)
}

// cuDNN autotuning (torch.backends.cudnn.benchmark).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_setCudnnBenchmark(
    JNIEnv* env, jclass, jboolean on) {
  NATIVE_BEGIN
  at::globalContext().setBenchmarkCuDNN(on);
  NATIVE_END()
}

// Makes the graph's side stream the current stream of this thread (DJL calls then run on it).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphEnter(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  auto* g = reinterpret_cast<Graph*>(h);
  auto cur = c10::cuda::getCurrentCUDAStream();
  g->stream.synchronize();
  cur.synchronize();
  g->previous = cur;
  c10::cuda::setCurrentCUDAStream(g->stream);
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphExit(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  auto* g = reinterpret_cast<Graph*>(h);
  g->stream.synchronize();
  if (g->previous) c10::cuda::setCurrentCUDAStream(*g->previous);
  g->previous.reset();
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphCaptureBegin(
    JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  auto* g = reinterpret_cast<Graph*>(h);
  g->stream.synchronize();
  g->graph.capture_begin(g->pool, cudaStreamCaptureModeThreadLocal);
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphCaptureEnd(
    JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  reinterpret_cast<Graph*>(h)->graph.capture_end();
  NATIVE_END()
}

// Replays on the current stream of this thread.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphReplay(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  reinterpret_cast<Graph*>(h)->graph.replay();
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_graphDestroy(JNIEnv* env, jclass, jlong h) {
  NATIVE_BEGIN
  auto* g = reinterpret_cast<Graph*>(h);
  c10::cuda::device_synchronize();
  g->graph.reset();
  delete g;
  NATIVE_END()
}

// ---- LoRA patches (issue 14) ---------------------------------------------------------------

// NativeOps.loraAdd: weight i is the rows of storages[i] (lora_target), its terms are [ends[i-1], ends[i])
// with downs[t] == 0 for a term without a down factor; returns the handles of the clones (0 where !keep[i]).
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_loraAdd(
    JNIEnv* env, jclass, jlongArray jstorages, jlongArray joffsets, jlongArray jrows, jbooleanArray jkeep,
    jintArray jends, jlongArray jups, jlongArray jdowns, jdoubleArray jscales) {
  NATIVE_BEGIN
  auto targets = lora_targets(env, jstorages, joffsets, jrows);
  const jsize n = static_cast<jsize>(targets.size());
  auto keep = java_array<jbooleanArray, jboolean>(env, jkeep, n, &JNIEnv::GetBooleanArrayRegion);
  auto ends = java_array<jintArray, jint>(env, jends, n, &JNIEnv::GetIntArrayRegion);
  const jsize count = n == 0 ? 0 : ends[n - 1];
  auto ups = java_array<jlongArray, jlong>(env, jups, count, &JNIEnv::GetLongArrayRegion);
  auto downs = java_array<jlongArray, jlong>(env, jdowns, count, &JNIEnv::GetLongArrayRegion);
  auto scales = java_array<jdoubleArray, jdouble>(env, jscales, count, &JNIEnv::GetDoubleArrayRegion);
  std::vector<std::vector<LoraTerm>> terms(static_cast<size_t>(n));
  std::vector<bool> kept;
  for (jsize i = 0, t = 0; i < n; i++) {
    if (ends[i] < t || ends[i] > count) throw std::invalid_argument("LoRA patch: term ranges");
    kept.push_back(keep[i] != JNI_FALSE);
    for (; t < ends[i]; t++) terms[i].push_back({T(ups[t]), opt(downs[t]), scales[t]});
  }
  auto originals = lora_add(targets, terms, kept);
  std::vector<jlong> handles(static_cast<size_t>(n), 0);
  for (jsize i = 0; i < n; i++) {
    if (originals[i].defined()) handles[i] = wrap(std::move(originals[i]));
  }
  jlongArray out = env->NewLongArray(n);
  if (out != nullptr && n > 0) env->SetLongArrayRegion(out, 0, n, handles.data());
  return out;
  NATIVE_END(nullptr)
}

// NativeOps.loraRestore: each original copied back into its rows, bit for bit.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_loraRestore(
    JNIEnv* env, jclass, jlongArray jstorages, jlongArray joffsets, jlongArray jrows, jlongArray joriginals) {
  NATIVE_BEGIN
  auto targets = lora_targets(env, jstorages, joffsets, jrows);
  const jsize n = static_cast<jsize>(targets.size());
  auto originals = java_array<jlongArray, jlong>(env, joriginals, n, &JNIEnv::GetLongArrayRegion);
  for (jsize i = 0; i < n; i++) targets[i].copy_(T(originals[i]));
  NATIVE_END()
}

// ---- device and allocator -------------------------------------------------------------------

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_synchronize(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  c10::cuda::device_synchronize();
  NATIVE_END()
}

// {allocated now, allocated peak, reserved now, reserved peak} in bytes, device 0.
JNIEXPORT jlongArray JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_memoryStats(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  jlong v[4] = {s.allocated_bytes[0].current, s.allocated_bytes[0].peak, s.reserved_bytes[0].current,
                s.reserved_bytes[0].peak};
  jlongArray out = env->NewLongArray(4);
  env->SetLongArrayRegion(out, 0, 4, v);
  return out;
  NATIVE_END(nullptr)
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_resetPeakMemory(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
  NATIVE_END()
}

JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_NativeOps_emptyCache(JNIEnv* env, jclass) {
  NATIVE_BEGIN
  c10::cuda::CUDACachingAllocator::emptyCache();
  NATIVE_END()
}

}  // extern "C"
