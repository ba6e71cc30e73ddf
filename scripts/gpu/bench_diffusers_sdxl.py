# The SDXL baseline of the GPU benchmark (issue 13): diffusers' StableDiffusionXLPipeline with SDXL-size
# random weights (reference/full-size/sdxl/manifest.json), fp16, 1024x1024, 30 steps Euler, cfg 7, as
# diffusers runs it eagerly (its VAE upcast to fp32 for the decode: force_upcast). Prints the FLOPs of
# one UNet call, UNet call times at batch 2 and 8, one image, 4 images in one batch, peak memory.
# Usage: DIFFUSERS_SRC=.../diffusers/src [COMPILE_SDXL=1|MODE] python3 bench_diffusers_sdxl.py [--d D_DIR] [--compile MODE]
#   D_DIR: the folder holding reference/ (bench-build.sh: /tmp/gpuwork/d); default: this file's folder's parent.
#   COMPILE_SDXL / --compile (a switch of its own: SDXL's compile takes minutes): then also the torch.compile
#   baseline (sdxl_compiled_* figures): the UNet compiled in that mode (1 = reduce-overhead), the VAE decoder in
#   "default" mode when the UNet's mode uses CUDA graphs (the pipeline casts the VAE's weights to fp32 and back
#   around every decode: new storage each time, which CUDA graphs would re-record); UNet calls at batch 2 and 8,
#   one image and 4 images in one batch; each shape's warm-up (the compile) is timed apart and printed.
# The same models are what gen_sdxl.py saves for the Java worker (same construction order and seed).
# Timing code: diffusers_timing.py beside it (shared with bench_diffusers.py).
import argparse, os, sys, time
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--d", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ap.add_argument("--device", default="cuda", help="where the models run (cuda; cpu only to try the script)")
ap.add_argument("--compile", default=os.environ.get("COMPILE_SDXL"), help="torch.compile mode (1 = reduce-overhead)")
args = ap.parse_args()
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdxl_models import build_sdxl  # noqa: E402
import diffusers_timing as dt  # noqa: E402

mode = dt.compile_mode(args.compile)
torch.backends.cuda.matmul.allow_tf32 = True
dev = args.device
t0 = time.time()
pipe = build_sdxl(args.d, dev)
print("init s", round(time.time() - t0, 1), flush=True)
pipe.set_progress_bar_config(disable=True)
torch.set_grad_enabled(False)
unet = pipe.unet
ctx_dim = unet.config.cross_attention_dim
pooled_dim = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim


def unet_inputs(batch, lat=128):
    """A UNet call's arguments as the pipeline passes them (a 0-dim float32 timestep: Euler's; added conditioning;
    return_dict=False), so that the compiled pipeline reuses the graphs these calls compile."""
    x = torch.randn(batch, 4, lat, lat, device=dev, dtype=torch.half)
    added = {"text_embeds": torch.randn(batch, pooled_dim, device=dev, dtype=torch.half),
             "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * batch, device=dev, dtype=torch.half)}
    return ((x, torch.tensor(500.0, device=dev)),
            {"encoder_hidden_states": torch.randn(batch, 77, ctx_dim, device=dev, dtype=torch.half),
             "added_cond_kwargs": added, "return_dict": False})


a, kw = unet_inputs(2)
dt.emit({"sdxl_unet_flops_batch2_128x128": dt.flops(lambda: unet(*a, **kw))})

res = {}
for b in (2, 8):
    a, kw = unet_inputs(b)
    res[f"sdxl_unet_call_ms_batch{b}"] = round(1000 * dt.per_call(lambda: unet(*a, **kw), 20), 2)
dt.emit(res)

dt.reset_peak()
pres = {}
for n in (1, 4):
    sec, _ = dt.best_pipe(pipe, n, 1024, 7.0)
    pres[f"sdxl_pipe_30steps_1024_images{n}_s"] = round(sec, 3)
    pres[f"sdxl_pipe_30steps_1024_images{n}_img_per_s"] = round(n / sec, 3)
dt.emit(pres)
print("sdxl_peak_mem_gb", dt.peak_gb(), flush=True)

if mode:  # the second baseline (its UNet shapes are those of the 1- and 4-image runs)
    dt.compiled_baseline(pipe, mode, unet_inputs, (2, 8), (1, 4), 1024, 7.0, "sdxl_compiled_",
                         vae_mode="default" if mode in ("reduce-overhead", "max-autotune") else mode)
