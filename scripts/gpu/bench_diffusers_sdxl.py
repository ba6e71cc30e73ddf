# The SDXL baseline of the GPU benchmark (issue 13): diffusers' StableDiffusionXLPipeline with SDXL-size
# random weights (reference/full-size/sdxl/manifest.json), fp16, 1024x1024, 30 steps Euler, cfg 7, as
# diffusers runs it eagerly (its VAE upcast to fp32 for the decode: force_upcast). Prints the FLOPs of
# one UNet call, UNet call times at batch 2 and 8, one image, 4 images in one batch, peak memory.
# Usage: DIFFUSERS_SRC=.../diffusers/src python3 bench_diffusers_sdxl.py [--d D_DIR]
#   D_DIR: the folder holding reference/ (run.sh: $GPU_WORK/d); default: this file's folder's parent.
# The same models are what gen_sdxl.py saves for the Java worker (same construction order and seed).
import argparse, json, os, sys, time
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--d", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
args = ap.parse_args()
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdxl_models import build_sdxl  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"
t0 = time.time()
pipe = build_sdxl(args.d, dev)
print("init s", round(time.time() - t0, 1), flush=True)
pipe.set_progress_bar_config(disable=True)
torch.set_grad_enabled(False)
unet = pipe.unet
ctx_dim = unet.config.cross_attention_dim
pooled_dim = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim


def unet_inputs(batch, lat=128):
    x = torch.randn(batch, 4, lat, lat, device=dev, dtype=torch.half)
    c = torch.randn(batch, 77, ctx_dim, device=dev, dtype=torch.half)
    t = torch.full((batch,), 500, device=dev)
    added = {"text_embeds": torch.randn(batch, pooled_dim, device=dev, dtype=torch.half),
             "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * batch, device=dev, dtype=torch.half)}
    return x, t, c, added


x, t, c, added = unet_inputs(2)
with FlopCounterMode(display=False) as fc:
    unet(x, t, c, added_cond_kwargs=added)
print(json.dumps({"sdxl_unet_flops_batch2_128x128": fc.get_total_flops()}), flush=True)


def sync():
    torch.cuda.synchronize()


def time_unet(batch, iters=20):
    x, t, c, added = unet_inputs(batch)
    for _ in range(3):
        unet(x, t, c, added_cond_kwargs=added)
    sync()
    s = time.time()
    for _ in range(iters):
        unet(x, t, c, added_cond_kwargs=added)
    sync()
    return (time.time() - s) / iters


res = {}
for b in (2, 8):
    res[f"sdxl_unet_call_ms_batch{b}"] = round(1000 * time_unet(b), 2)
print(json.dumps(res), flush=True)


def time_pipe(n_images, steps=30, reps=3):
    prompts = ["a photograph of an astronaut riding a horse"] * n_images
    g = torch.Generator("cpu").manual_seed(1)
    pipe(prompts, num_inference_steps=steps, guidance_scale=7.0, generator=g, height=1024, width=1024)
    sync()
    best = 1e9
    for _ in range(reps):
        s = time.time()
        pipe(prompts, num_inference_steps=steps, guidance_scale=7.0, generator=g, height=1024, width=1024)
        sync()
        best = min(best, time.time() - s)
    return best


torch.cuda.reset_peak_memory_stats()
pres = {}
for n in (1, 4):
    sec = time_pipe(n)
    pres[f"sdxl_pipe_30steps_1024_images{n}_s"] = round(sec, 3)
    pres[f"sdxl_pipe_30steps_1024_images{n}_img_per_s"] = round(n / sec, 3)
print(json.dumps(pres), flush=True)
print("sdxl_peak_mem_gb", round(torch.cuda.max_memory_allocated() / 2**30, 2), flush=True)
