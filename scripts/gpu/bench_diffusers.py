# Baseline for the GPU benchmark: diffusers with an SD 1.5-size pipeline of random weights, fp16.
# Prints per-UNet-call and per-image timings and the FLOPs of one UNet call, one VAE decode and one
# text encoding, one JSON line per group (GpuBench --diffusers reads them). Needs the diffusers source on
# DIFFUSERS_SRC (its src/ folder); torch and transformers are on the GPU machine.
# Usage: DIFFUSERS_SRC=/path/to/diffusers/src [COMPILE=1|MODE] python3 bench_diffusers.py [--d D_DIR] [--compile MODE]
#   D_DIR: the folder holding reference/ (bench-build.sh: /tmp/gpuwork/d); default: this file's folder's parent.
#   COMPILE / --compile: then also the torch.compile baseline, the UNet and the VAE decoder compiled (1 =
#   reduce-overhead; or default, max-autotune-no-cudagraphs...): UNet calls at batch 2 and 16, one image and 8
#   images in one batch, as compiled_* figures; each shape's warm-up (the compile) is timed apart and printed.
# Timing code: diffusers_timing.py beside it (shared with bench_diffusers_sdxl.py).
import argparse, json, os, sys, time
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--d", default=os.path.join(HERE, ".."))
ap.add_argument("--device", default="cuda", help="where the models run (cuda; cpu only to try the script)")
ap.add_argument("--compile", default=os.environ.get("COMPILE"), help="torch.compile mode (1 = reduce-overhead)")
args = ap.parse_args()
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
sys.path.insert(0, HERE)
from diffusers import UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, DPMSolverMultistepScheduler  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402
import diffusers_timing as dt  # noqa: E402

mode = dt.compile_mode(args.compile)
torch.backends.cuda.matmul.allow_tf32 = True
dev = args.device
man = json.load(open(os.path.join(args.d, "reference/full-size/sd15/manifest.json")))
ucfg = {k: v for k, v in man["unet"]["config"].items() if not k.startswith("_")}
vcfg = {k: v for k, v in man["vae"]["config"].items() if not k.startswith("_")}
tcfg = {k: v for k, v in man["text_encoder"]["config"].items() if k in (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "max_position_embeddings", "hidden_act", "layer_norm_eps", "projection_dim")}
torch.manual_seed(0)
t0 = time.time()
with torch.device(dev):
    unet = UNet2DConditionModel(**ucfg).half().eval()
    vae = AutoencoderKL(**vcfg).half().eval()
    te = CLIPTextModel(CLIPTextConfig(**tcfg)).half().eval()
print("init s", round(time.time() - t0, 1), flush=True)
tok = CLIPTokenizer.from_pretrained(os.path.join(args.d, "reference/tiny-sd15/model/tokenizer"), model_max_length=77)
sched = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                    algorithm_type="dpmsolver++", use_karras_sigmas=True, steps_offset=1)
pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=sched,
                               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
torch.set_grad_enabled(False)

# FLOPs
x = torch.randn(2, 4, 64, 64, device=dev, dtype=torch.half)
ctx = torch.randn(2, 77, 768, device=dev, dtype=torch.half)
ids = torch.zeros(1, 77, dtype=torch.long, device=dev)
dt.emit({"unet_flops_batch2_64x64": dt.flops(lambda: unet(x, torch.tensor([500, 500], device=dev), ctx)),
         "vae_decode_flops_512": dt.flops(lambda: vae.decode(torch.randn(1, 4, 64, 64, device=dev, dtype=torch.half))),
         "text_encoder_flops": dt.flops(lambda: te(ids))})


def unet_inputs(batch):
    """A UNet call's arguments as the pipeline passes them (a 0-dim int64 timestep: DPM++'s; return_dict=False),
    so that the compiled pipeline reuses the graphs these calls compile."""
    return ((torch.randn(batch, 4, 64, 64, device=dev, dtype=torch.half), torch.tensor(500, device=dev)),
            {"encoder_hidden_states": torch.randn(batch, 77, 768, device=dev, dtype=torch.half), "return_dict": False})


res = {}
for b in (2, 4, 8, 16):
    a, kw = unet_inputs(b)
    res[f"unet_call_ms_batch{b}"] = round(1000 * dt.per_call(lambda: unet(*a, **kw), 30, warmup=5), 2)
dt.emit(res)

pres = {}
for n in (1, 4, 8):
    sec, _ = dt.best_pipe(pipe, n, 512, 7.5)
    pres[f"pipe_30steps_512_images{n}_s"] = round(sec, 3)
    pres[f"pipe_30steps_512_images{n}_img_per_s"] = round(n / sec, 3)
dt.emit(pres)
print("peak_mem_gb", dt.peak_gb(), flush=True)

if mode:  # the second baseline: UNet and VAE decoder compiled (its UNet shapes are those of the 1- and 8-image runs)
    dt.compiled_baseline(pipe, mode, unet_inputs, (2, 16), (1, 8), 512, 7.5, "compiled_")
