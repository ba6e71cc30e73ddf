# Issue 17's FP8 question, measured on diffusers' own UNet: how much faster is the UNet when its linear layers run
# as FP8 (e4m3) matrix products on Hopper, and how much do the images change?
#
# Swapped layers: every nn.Linear inside a Transformer2DModel (attention to_q/to_k/to_v/to_out.0, GEGLU
# ff.net.0.proj, ff.net.2, and proj_in/proj_out where they are Linear: SDXL; SD 1.5's are 1x1 convolutions and stay).
# Each becomes an Fp8Linear holding the original layer; the mode (module global MODE) picks the path:
#   fp16             the original nn.Linear
#   rowwise          weight e4m3 with a per-output-channel scale (once), activation e4m3 with a per-row (per-token)
#                    dynamic scale (amax/448); torch._scaled_mm with (M,1) and (1,N) fp32 scales, out bf16 (bias bf16),
#                    cast back to fp16
#   rowwise_fast     the same with use_fast_accum=True
#   rowwise_f16      rowwise with out_dtype fp16 directly (only when this torch accepts it: rowwise_f16out_supported)
#   tensor, tensor_fast  one scale per weight and one dynamic scale per activation tensor, out fp16
# A layer whose _scaled_mm raises (e.g. a dimension not a multiple of 16) falls back to its fp16 linear for that
# mode; fallbacks are counted and printed (fallback_<mode> N: N layers; 'not applicable' for those layers).
# The activation quantisation is plain eager PyTorch (amax, scale, multiply, cast: unfused), so the UNet times are
# a lower bound of what FP8 buys; linears_* lines time the swapped linears alone (one CUDA graph of every linear
# call of a batch-16 UNet in order), fp16 against FP8 with and without the quantisation.
#
# Figures (one `key value` line each, flushed as they come; the last line is a human summary):
#   <model>_unet_ms_b<B>_<mode>, <model>_unet_ratio_b<B>_<mode> (fp16 ms / mode ms; > 1 = faster): CUDA graph
#     replays (static inputs), best of 20 after warm-up; sd15 at batch 2 and 16 (64x64 latents, 77x768 context),
#     sdxl at batch 2 (128x128, pooled embedding + time ids as bench_diffusers_sdxl.py builds them).
#   <model>_unet_relerr_<mode>: ||out_mode - out_fp16|| / ||out_fp16|| of one UNet call (batch 2, t=500);
#     <model>_unet_relerr32_<mode>: the same against fp32 (TF32 off), fp16 itself included, for scale.
#   <model>_img_<a>_vs_<b>_{mean,max,psnr_db,frac_gt1}: pipeline images (DPM++ 2M Karras, 30 steps, cfg 7.5,
#     2 prompts, generator seeds 1 and 2; sd15 512x512, tiny 64x64) in 8-bit levels round(255*image): mean and max
#     |diff| in levels, PSNR in dB (inf: identical), share of values more than 1 level apart. fp16_vs_fp16rerun is
#     the noise floor (the fp16 pipeline run twice); *_vs_fp32 compares with the fp32 pipeline (TF32 off).
#
# The project's tolerances, for scale (worker/src/test/resources/reference/README.md, "Tolerances to hold"): on the
# CPU in float32 "8-bit images differ by at most 1 level per channel"; for CUDA fp16 against CPU fp32 (`worker.jar
# doctor` and `bench --check`, docs/GPU.md): mean |diff| <= 1.5/255 and PSNR >= 35 dB.
#
# Models: SD 1.5 full size with random weights (reference/full-size/sd15/manifest.json, seed 0, built as
# bench_diffusers.py builds them), the SDXL UNet (sdxl_models.configs, seed 0: the UNet of bench_diffusers_sdxl.py),
# and the tiny SD 1.5 test model (worker/src/test/resources/reference/tiny-sd15/model, from_pretrained, local).
# Usage: DIFFUSERS_SRC=.../diffusers/src python3 probe_fp8.py [--d D_DIR] [--tiny TINY_DIR] [--parts tiny,sd15,sdxl]
#   D_DIR: the folder holding reference/ (bench-build.sh: /tmp/gpuwork/d; the tree's worker/src/test/resources works
#   too); bench-build.sh runs it with FP8=1 (-> $OUT/probe_fp8.txt). About 60-90 s on an H200.
#   --device cpu --dry: a local try of the script without a GPU: FP8 emulated (quantise, dequantise, fp32 matmul),
#   fp32 models, tiny stand-ins for SD 1.5 and SDXL (SDXL_SCALE=tiny), 2 steps, no CUDA graphs (times meaningless).
import argparse, json, math, os, sys, time
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--d", default=os.path.join(HERE, "..", "..", "worker", "src", "test", "resources"))
ap.add_argument("--tiny", default=None, help="tiny SD 1.5 diffusers folder (default: D_DIR's, else the tree's)")
ap.add_argument("--device", default="cuda")
ap.add_argument("--dry", action="store_true", help="small stand-ins, 2 steps, no graphs: to try the script")
ap.add_argument("--parts", default="tiny,sd15,sdxl")
args = ap.parse_args()
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
sys.path.insert(0, HERE)
if args.dry:
    os.environ["SDXL_SCALE"] = "tiny"
from diffusers import (UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline,  # noqa: E402
                       DPMSolverMultistepScheduler)
from diffusers.models.transformers.transformer_2d import Transformer2DModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402

T_START = time.time()
dev = args.device
CUDA = dev.startswith("cuda")
DT = torch.float16 if CUDA else torch.float32  # CPU: fp32 models, FP8 emulated
FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0
# activation amax floor: keeps 448/amax finite in fp16 (<= 65504); rows below it just use less of e4m3's range
AMIN = FP8_MAX / 60000.0
STEPS = 2 if args.dry else 30
PROMPTS = ["a photograph of an astronaut riding a horse", "a red cabin in a snowy forest at dusk, oil painting"]
SEEDS = (1, 2)
torch.set_grad_enabled(False)
torch.backends.cuda.matmul.allow_tf32 = True
RESULTS = {}


def out(key, value):
    RESULTS[key] = value
    print(f"{key} {value}", flush=True)


def fmt(x, sig=4):
    """x to sig significant digits (inf as 'inf')."""
    return "inf" if x == float("inf") else float(f"{x:.{sig}g}")


# ---------------------------------------------------------------- FP8 linear

MODE = "fp16"
MODES = ["rowwise", "rowwise_fast", "tensor", "tensor_fast"]  # rowwise_f16 added when supported
FUSED_CAST = False  # torch.mul(x, inv, out=<fp8 tensor>): multiply and cast in one kernel, when this torch does it
ROWWISE_F16 = False
FALLBACK_PRINTED = {}
RECORD = None  # a list while recording the (module, M) of every swapped linear call


def quant_rows(x2):
    """(M,K) fp16/fp32 -> (e4m3 (M,K) row-major, fp32 scale (M,1)): per-row dynamic scale amax/448."""
    amax = torch.linalg.vector_norm(x2, ord=float("inf"), dim=1, keepdim=True).float().clamp_(min=AMIN)
    inv = (FP8_MAX / amax).to(x2.dtype)
    return cast_fp8(x2, inv), amax / FP8_MAX


def quant_tensor(x2):
    """(M,K) -> (e4m3 (M,K), fp32 scalar scale): one dynamic scale for the whole activation."""
    amax = torch.linalg.vector_norm(x2, ord=float("inf")).float().clamp_(min=AMIN)
    inv = (FP8_MAX / amax).to(x2.dtype)
    return cast_fp8(x2, inv), amax / FP8_MAX


def cast_fp8(x2, inv):
    if FUSED_CAST:
        q = torch.empty(x2.shape, dtype=FP8, device=x2.device)
        torch.mul(x2, inv, out=q)
        return q
    q = (x2 * inv).to(FP8)
    return q if q.is_contiguous() else q.contiguous()


def quant_weight(w, rowwise):
    """(N,K) weight -> (e4m3 (N,K) contiguous, fp32 scale: (1,N) rowwise, () per tensor)."""
    w32 = w.float()
    if rowwise:
        amax = w32.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)  # (N,1)
        s = amax / FP8_MAX
        return (w32 / s).to(FP8).contiguous(), s.reshape(1, -1).contiguous()
    s = (w32.abs().amax().clamp_(min=1e-12) / FP8_MAX)
    return (w32 / s).to(FP8).contiguous(), s


def mm_emulated(xq, wq, sa, sb, bias, out_dtype):
    """What _scaled_mm computes, in fp32 (the CPU path and the self-test's reference)."""
    y = (xq.float() * sa) @ (wq.float() * sb.reshape(-1, 1) if sb.dim() else wq.float() * sb).t()
    if bias is not None:
        y = y + bias.float()
    return y.to(out_dtype)


def scaled_mm(xq, wq, sa, sb, bias, out_dtype, fast):
    if not xq.is_cuda:
        return mm_emulated(xq, wq, sa, sb, bias, out_dtype)
    return torch._scaled_mm(xq, wq.t(), scale_a=sa, scale_b=sb, bias=bias, out_dtype=out_dtype,
                            use_fast_accum=fast)


class Fp8Linear(nn.Module):
    """Drop-in for an nn.Linear (in_features K, out_features N; input (..., K) fp16 -> (..., N) fp16): FP8 e4m3
    matrix product in the global MODE, the original layer (kept as .lin) in mode fp16 or when a mode fell back."""

    def __init__(self, lin):
        super().__init__()
        self.lin = lin
        self.n, self.k = lin.weight.shape
        self.wr, self.sr = quant_weight(lin.weight, True)
        self.wt, self.st = quant_weight(lin.weight, False)
        b = lin.bias.detach() if lin.bias is not None else None
        self.b16 = b
        self.bbf = b.to(torch.bfloat16) if b is not None else None
        self.fallback = set()  # modes this layer runs in fp16 (its _scaled_mm raised)
        self.bias_apart = set()  # modes whose _scaled_mm refused the bias: added after it

    def forward(self, x):
        if RECORD is not None:
            RECORD.append((self, x.numel() // self.k))
        if MODE == "fp16" or MODE in self.fallback:
            return self.lin(x)
        x2 = x.reshape(-1, self.k)
        try:
            y = self.fp8(x2, MODE)
        except RuntimeError as e:  # shape or dtype this torch's _scaled_mm refuses: fp16 for this layer and mode
            if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
                raise
            if self.b16 is not None and MODE not in self.bias_apart:  # first try: the bias added after the product
                self.bias_apart.add(MODE)
                try:
                    return self.fp8(x2, MODE).reshape(*x.shape[:-1], self.n)
                except RuntimeError:
                    self.bias_apart.discard(MODE)
            self.fallback.add(MODE)
            FALLBACK_PRINTED[MODE] = FALLBACK_PRINTED.get(MODE, 0) + 1
            if FALLBACK_PRINTED[MODE] <= 3:
                print(f"fallback {MODE} {self.n}x{self.k} M={x2.shape[0]}: {str(e).splitlines()[0][:160]}", flush=True)
            return self.lin(x)
        return y.reshape(*x.shape[:-1], self.n)

    def fp8(self, x2, mode, pre=None):
        """x2 (M,K) -> (M,N) in x2's dtype through _scaled_mm in mode; pre: x2 already quantised (timing only)."""
        fast = mode.endswith("_fast")
        apart = mode in self.bias_apart
        if mode.startswith("rowwise"):
            xq, sa = pre if pre is not None else quant_rows(x2)
            if mode == "rowwise_f16":
                y = scaled_mm(xq, self.wr, sa, self.sr, None if apart else self.b16, x2.dtype, fast)
            else:
                bf = x2.is_cuda  # rowwise: out bf16 (and a bf16 bias), cast back; the CPU emulation skips that
                y = scaled_mm(xq, self.wr, sa, self.sr, None if apart else (self.bbf if bf else self.b16),
                              torch.bfloat16 if bf else x2.dtype, fast).to(x2.dtype)
        else:
            xq, sa = pre if pre is not None else quant_tensor(x2)
            y = scaled_mm(xq, self.wt, sa, self.st, None if apart else self.b16, x2.dtype, fast)
        return y + self.b16 if apart else y


def swap_linears(unet):
    """Replaces every nn.Linear inside the UNet's Transformer2DModels by an Fp8Linear; returns the list of
    (parent, attribute name, Fp8Linear) to undo it."""
    done = []
    for tmod in [m for m in unet.modules() if isinstance(m, Transformer2DModel)]:
        for pname, parent in list(tmod.named_modules()):
            for cname, child in list(parent.named_children()):
                if type(child) is nn.Linear:
                    f = Fp8Linear(child)
                    setattr(parent, cname, f)
                    done.append((parent, cname, f))
    return done


def unswap(done):
    for parent, cname, f in done:
        setattr(parent, cname, f.lin)


def fallbacks(done, prefix):
    for m in MODES:
        nfb = sum(1 for _, _, f in done if m in f.fallback)
        out(f"{prefix}_fallback_{m}", nfb if nfb == 0 else f"{nfb} of {len(done)} (not applicable: fp16 there)")
        nba = sum(1 for _, _, f in done if m in f.bias_apart)
        if nba:
            out(f"{prefix}_bias_added_apart_{m}", f"{nba} of {len(done)} (_scaled_mm refused their bias)")


# ---------------------------------------------------------------- timing, comparisons

def sync():
    if CUDA:
        torch.cuda.synchronize()


def graph_ms(fn, reps=20):
    """Best ms of reps CUDA graph replays of fn (captured after 3 warm-up calls on a side stream); on the CPU one
    eager call's ms."""
    if not CUDA:
        s = time.time()
        fn()
        return 1000 * (time.time() - s)
    st = torch.cuda.Stream()
    st.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(st):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(st)
    g = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(g):
            fn()
    except Exception as e:  # noqa: BLE001 - capture refused: eager time instead, said so
        print(f"graph_capture_failed {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}", flush=True)
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(reps // 2):
            s = time.time()
            fn()
            torch.cuda.synchronize()
            best = min(best, 1000 * (time.time() - s))
        return best
    for _ in range(3):
        g.replay()
    best = float("inf")
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(reps):
        e0.record()
        g.replay()
        e1.record()
        e1.synchronize()
        best = min(best, e0.elapsed_time(e1))
    del g
    torch.cuda.empty_cache()
    return best


def relerr(a, b):
    a, b = a.float(), b.float()
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp(min=1e-30)).item()


def levels(images):
    """pipeline output (np float in [0,1], (n,h,w,3)) -> float64 tensor of 8-bit levels round(255*image)."""
    return torch.from_numpy(images).double().mul(255).round()


def img_diff(prefix, a_name, a, b_name, b):
    d = (a - b).abs()
    mse = (d * d).mean().item()
    psnr = float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
    k = f"{prefix}_img_{a_name}_vs_{b_name}"
    out(f"{k}_mean", fmt(d.mean().item()))
    out(f"{k}_max", d.max().item())
    out(f"{k}_psnr_db", fmt(psnr))
    out(f"{k}_frac_gt1", fmt((d > 1).double().mean().item(), 3))


def run_pipe(pipe, size):
    gens = [torch.Generator("cpu").manual_seed(s) for s in SEEDS]
    r = pipe(PROMPTS, num_inference_steps=STEPS, guidance_scale=7.5, generator=gens, height=size, width=size,
             output_type="np")
    return levels(r.images)


def dpmpp_karras():
    return DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       algorithm_type="dpmsolver++", use_karras_sigmas=True, steps_offset=1)


def image_study(prefix, pipe, size, done, unet_args):
    """fp16 pipeline twice (noise floor), each FP8 mode, then fp32 (TF32 off): image differences and the relative
    error of one UNet call (unet_args: (args, kwargs) of a batch-2 call)."""
    global MODE
    a, kw = unet_args
    outs, imgs = {}, {}
    for m in ["fp16"] + MODES:
        MODE = m
        outs[m] = pipe.unet(*a, **kw)[0].float()
    MODE = "fp16"
    for m in MODES:
        out(f"{prefix}_unet_relerr_{m}", fmt(relerr(outs[m], outs["fp16"])))
    fallbacks(done, prefix)
    s = time.time()
    imgs["fp16"] = run_pipe(pipe, size)
    out(f"{prefix}_pipe_s_fp16", round(time.time() - s, 2))
    imgs["fp16rerun"] = run_pipe(pipe, size)
    img_diff(prefix, "fp16", imgs["fp16"], "fp16rerun", imgs["fp16rerun"])
    out(f"{prefix}_img_fp16_range", f"{imgs['fp16'].min().item():.0f}..{imgs['fp16'].max().item():.0f} "
        f"mean {imgs['fp16'].mean().item():.1f} std {imgs['fp16'].std().item():.1f}")
    for m in MODES:
        MODE = m
        s = time.time()
        imgs[m] = run_pipe(pipe, size)
        MODE = "fp16"
        out(f"{prefix}_pipe_s_{m}", round(time.time() - s, 2))
        img_diff(prefix, m, imgs[m], "fp16", imgs["fp16"])
    # fp32 reference: the original layers back, everything fp32, TF32 off
    unswap(done)
    pipe.to(dtype=torch.float32)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    a32 = tuple(t.float() if torch.is_floating_point(t) else t for t in a)
    kw32 = {k: (v.float() if torch.is_tensor(v) and torch.is_floating_point(v) else v) for k, v in kw.items()}
    o32 = pipe.unet(*a32, **kw32)[0].float()
    for m in ["fp16"] + MODES:
        out(f"{prefix}_unet_relerr32_{m}", fmt(relerr(outs[m], o32)))
    imgs["fp32"] = run_pipe(pipe, size)
    for m in ["fp16"] + MODES:
        img_diff(prefix, m, imgs[m], "fp32", imgs["fp32"])
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def time_unet(prefix, unet, inputs, batches):
    global MODE
    for b in batches:
        a, kw = inputs(b)
        ms = {}
        for m in ["fp16"] + MODES:
            MODE = m
            ms[m] = graph_ms(lambda: unet(*a, **kw))
            out(f"{prefix}_unet_ms_b{b}_{m}", round(ms[m], 3))
        MODE = "fp16"
        for m in MODES:
            out(f"{prefix}_unet_ratio_b{b}_{m}", round(ms["fp16"] / ms[m], 3))


def time_linears(prefix, unet, done, a, kw):
    """The swapped linears alone: one graph of every linear call of the UNet call (a, kw) in order, each on a static
    random input of its shape: fp16, FP8 with the quantisation, FP8 matrix products only (inputs quantised before)."""
    global MODE, RECORD
    MODE, RECORD = "fp16", []
    unet(*a, **kw)
    calls, RECORD, MODE = RECORD, None, "fp16"
    xs = {}
    for f, mrows in calls:
        if (mrows, f.k) not in xs:
            xs[(mrows, f.k)] = torch.randn(mrows, f.k, device=dev, dtype=DT)
    flops = sum(2 * mrows * f.k * f.n for f, mrows in calls)
    out(f"{prefix}_linears_calls", len(calls))
    out(f"{prefix}_linears_gflop", round(flops / 1e9, 1))
    def each(fn, todo):
        for f, mrows in todo:
            fn(f, mrows)

    ms16 = graph_ms(lambda: each(lambda f, mrows: f.lin(xs[(mrows, f.k)]), calls))
    out(f"{prefix}_linears_ms_fp16", round(ms16, 3))
    for m in MODES:
        live = [(f, mrows) for f, mrows in calls if m not in f.fallback]
        msq = graph_ms(lambda: each(lambda f, mrows: f.fp8(xs[(mrows, f.k)], m), live))
        quant = quant_rows if m.startswith("rowwise") else quant_tensor
        pre = {key: quant(x) for key, x in xs.items()}
        msg = graph_ms(lambda: each(lambda f, mrows: f.fp8(xs[(mrows, f.k)], m, pre[(mrows, f.k)]), live))
        out(f"{prefix}_linears_ms_{m}", round(msq, 3))
        out(f"{prefix}_linears_ms_gemm_only_{m}", round(msg, 3))


# ---------------------------------------------------------------- start-up checks

def startup_checks():
    """Whether mul-with-fp8-out fuses the cast (bit-equal to the two-step one), whether rowwise takes fp16 out, and a
    self-test of each mode's _scaled_mm on one 4096x640x1280 product against the fp32 emulation."""
    global FUSED_CAST, ROWWISE_F16
    out("torch", torch.__version__)
    if CUDA:
        out("device", torch.cuda.get_device_name() + f" sm{''.join(map(str, torch.cuda.get_device_capability()))}")
    torch.manual_seed(0)
    x = torch.randn(4096, 640, device=dev, dtype=DT) * 3
    lin = nn.Linear(640, 1280).to(dev, DT)
    inv = (FP8_MAX / torch.linalg.vector_norm(x, ord=float("inf"), dim=1, keepdim=True).float()).to(DT)
    try:
        q = torch.empty(x.shape, dtype=FP8, device=dev)
        torch.mul(x, inv, out=q)
        FUSED_CAST = bool(torch.equal(q.view(torch.uint8), (x * inv).to(FP8).view(torch.uint8)))
    except RuntimeError:
        FUSED_CAST = False
    out("fused_cast", int(FUSED_CAST))
    f = Fp8Linear(lin)
    if CUDA:
        try:
            xq, sa = quant_rows(x)
            torch._scaled_mm(xq, f.wr.t(), scale_a=sa, scale_b=f.sr, bias=f.b16, out_dtype=torch.float16)
            ROWWISE_F16 = True
        except RuntimeError as e:
            print(f"rowwise fp16 out: {str(e).splitlines()[0][:200]}", flush=True)
        out("rowwise_f16out_supported", int(ROWWISE_F16))
        if ROWWISE_F16:
            MODES.insert(2, "rowwise_f16")
    ref = lin(x).float()
    for m in MODES:
        quant = quant_rows if m.startswith("rowwise") else quant_tensor
        xq, sa = quant(x)
        w, s = (f.wr, f.sr) if m.startswith("rowwise") else (f.wt, f.st)
        try:
            y = f.fp8(x, m).float()
            emu = mm_emulated(xq, w, sa, s, f.b16, torch.float32)
            out(f"selftest_{m}_vs_emulation_relerr", fmt(relerr(y, emu)))
            out(f"selftest_{m}_vs_fp16_relerr", fmt(relerr(y, ref)))
        except RuntimeError as e:
            out(f"selftest_{m}_error", str(e).splitlines()[0][:200])


# ---------------------------------------------------------------- models

def sd15_configs():
    man = json.load(open(os.path.join(args.d, "reference/full-size/sd15/manifest.json")))
    ucfg = {k: v for k, v in man["unet"]["config"].items() if not k.startswith("_")}
    vcfg = {k: v for k, v in man["vae"]["config"].items() if not k.startswith("_")}
    tcfg = {k: v for k, v in man["text_encoder"]["config"].items() if k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "max_position_embeddings", "hidden_act", "layer_norm_eps", "projection_dim")}
    if args.dry:  # a small stand-in with the same structure, for the CPU try only
        ucfg.update(block_out_channels=[32, 64, 64, 64], norm_num_groups=8, cross_attention_dim=32)
        vcfg.update(block_out_channels=[16, 32, 32, 32], norm_num_groups=8)
        tcfg.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
    return ucfg, vcfg, tcfg


def sd15_inputs(b, lat=64, ctx=768):
    """A batch-b UNet call as the pipeline makes it (0-dim int64 timestep, return_dict=False)."""
    g = torch.Generator("cpu").manual_seed(100 + b)
    return ((torch.randn(b, 4, lat, lat, generator=g).to(dev, DT), torch.tensor(500, device=dev)),
            {"encoder_hidden_states": torch.randn(b, 77, ctx, generator=g).to(dev, DT), "return_dict": False})


def part_tiny():
    tiny = args.tiny
    if tiny is None:
        cands = [os.path.join(args.d, "reference/tiny-sd15/model"),
                 os.path.join(HERE, "..", "..", "worker/src/test/resources/reference/tiny-sd15/model")]
        tiny = next((c for c in cands if os.path.exists(os.path.join(c, "unet", "config.json"))), cands[-1])
    pipe = StableDiffusionPipeline.from_pretrained(tiny, torch_dtype=DT, safety_checker=None,
                                                   requires_safety_checker=False, local_files_only=True)
    pipe.scheduler = dpmpp_karras()
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    done = swap_linears(pipe.unet)
    out("tiny_swapped_linears", len(done))
    cdim = pipe.unet.config.cross_attention_dim
    image_study("tiny", pipe, 64, done, sd15_inputs(2, 8, cdim))
    del pipe, done


def part_sd15():
    ucfg, vcfg, tcfg = sd15_configs()
    torch.manual_seed(0)
    s = time.time()
    with torch.device(dev):
        unet = UNet2DConditionModel(**ucfg).to(DT).eval()
        vae = AutoencoderKL(**vcfg).to(DT).eval()
        te = CLIPTextModel(CLIPTextConfig(**tcfg)).to(DT).eval()
    tok = CLIPTokenizer.from_pretrained(os.path.join(args.d, "reference/tiny-sd15/model/tokenizer"),
                                        model_max_length=77)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=dpmpp_karras(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    done = swap_linears(unet)
    out("sd15_init_s", round(time.time() - s, 1))
    out("sd15_swapped_linears", len(done))
    lat, cdim = (8, 32) if args.dry else (64, 768)
    inputs = lambda b: sd15_inputs(b, lat, cdim)  # noqa: E731
    time_unet("sd15", unet, inputs, (2, 16))
    a16, kw16 = inputs(16)
    time_linears("sd15_b16", unet, done, a16, kw16)
    del a16, kw16
    image_study("sd15", pipe, 64 if args.dry else 512, done, inputs(2))
    del pipe, unet, vae, te, done


def part_sdxl():
    from sdxl_models import configs
    ucfg = configs(args.d)[0]
    torch.manual_seed(0)
    s = time.time()
    with torch.device(dev):
        unet = UNet2DConditionModel(**ucfg).to(DT).eval()
    done = swap_linears(unet)
    out("sdxl_init_s", round(time.time() - s, 1))
    out("sdxl_swapped_linears", len(done))
    cdim = unet.config.cross_attention_dim
    pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
    lat = 16 if args.dry else 128

    def inputs(b):
        g = torch.Generator("cpu").manual_seed(200 + b)
        added = {"text_embeds": torch.randn(b, pooled, generator=g).to(dev, DT),
                 "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * b, device=dev, dtype=DT)}
        return ((torch.randn(b, 4, lat, lat, generator=g).to(dev, DT), torch.tensor(500.0, device=dev)),
                {"encoder_hidden_states": torch.randn(b, 77, cdim, generator=g).to(dev, DT),
                 "added_cond_kwargs": added, "return_dict": False})

    time_unet("sdxl", unet, inputs, (2,))
    global MODE
    a, kw = inputs(2)
    outs = {}
    for m in ["fp16"] + MODES:
        MODE = m
        outs[m] = unet(*a, **kw)[0].float()
    MODE = "fp16"
    for m in MODES:
        out(f"sdxl_unet_relerr_{m}", fmt(relerr(outs[m], outs["fp16"])))
    fallbacks(done, "sdxl")
    unswap(done)
    del done
    unet.to(torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    a32 = (a[0].float(), a[1])
    kw32 = {"encoder_hidden_states": kw["encoder_hidden_states"].float(), "return_dict": False,
            "added_cond_kwargs": {k: v.float() for k, v in kw["added_cond_kwargs"].items()}}
    o32 = unet(*a32, **kw32)[0].float()
    torch.backends.cuda.matmul.allow_tf32 = True
    for m in ["fp16"] + MODES:
        out(f"sdxl_unet_relerr32_{m}", fmt(relerr(outs[m], o32)))
    del unet, outs, o32


def summary():
    r = RESULTS
    best = lambda p: max(MODES, key=lambda m: r.get(f"{p}_{m}", 0))  # noqa: E731
    parts = []
    for key, label in (("sd15_unet_ratio_b2", "SD1.5 b2"), ("sd15_unet_ratio_b16", "SD1.5 b16"),
                       ("sdxl_unet_ratio_b2", "SDXL b2")):
        if f"{key}_rowwise" in r:
            m = best(key)
            parts.append(f"{label} x{r[f'{key}_rowwise']} rowwise (best {m} x{r[f'{key}_{m}']})")
    for p in ("tiny", "sd15"):
        if f"{p}_img_rowwise_vs_fp16_psnr_db" in r:
            parts.append(f"{p} images rowwise vs fp16: mean {r[f'{p}_img_rowwise_vs_fp16_mean']} max "
                         f"{r[f'{p}_img_rowwise_vs_fp16_max']} levels, PSNR {r[f'{p}_img_rowwise_vs_fp16_psnr_db']} dB"
                         f" (fp16 vs fp32: PSNR {r.get(f'{p}_img_fp16_vs_fp32_psnr_db')} dB)")
    print("summary: FP8 UNet speed-up (fp16 ms / fp8 ms): " + "; ".join(parts)
          + "; tolerance: CPU fp32 1 level, CUDA fp16 check mean <= 1.5 levels and PSNR >= 35 dB", flush=True)


startup_checks()
for part in args.parts.split(","):
    s = time.time()
    try:
        {"tiny": part_tiny, "sd15": part_sd15, "sdxl": part_sdxl}[part]()
    except Exception as e:  # noqa: BLE001 - report and go on with the next part
        import traceback
        traceback.print_exc()
        out(f"{part}_error", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    MODE = "fp16"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if CUDA:
        torch.cuda.empty_cache()
        out(f"{part}_peak_gb", round(torch.cuda.max_memory_allocated() / 2**30, 2))
        torch.cuda.reset_peak_memory_stats()
    out(f"{part}_s", round(time.time() - s, 1))
out("total_s", round(time.time() - T_START, 1))
summary()
