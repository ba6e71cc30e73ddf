# Baseline for the GPU benchmark: diffusers with an SD 1.5-size pipeline of random weights, fp16.
# Prints per-UNet-call and per-image timings and the FLOPs of one UNet call, one VAE decode and one
# text encoding. Needs the diffusers source on DIFFUSERS_SRC (its src/ folder); torch and transformers
# are on the GPU machine. Usage: DIFFUSERS_SRC=/path/to/diffusers/src python3 bench_diffusers.py [COMPILE=1]
# (From /work/shared/bench; the SDXL baseline is bench_diffusers_sdxl.py beside it.)
import json, os, sys, time
import torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(HERE, "src")))
from diffusers import UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, DPMSolverMultistepScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from torch.utils.flop_counter import FlopCounterMode

torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"
man = json.load(open(os.path.join(HERE, "../reference/full-size/sd15/manifest.json")))
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
tok = CLIPTokenizer.from_pretrained(os.path.join(HERE, "../reference/tiny-sd15/model/tokenizer"), model_max_length=77)
sched = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                    algorithm_type="dpmsolver++", use_karras_sigmas=True, steps_offset=1)
pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=sched,
                               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
torch.set_grad_enabled(False)

# FLOPs
x = torch.randn(2, 4, 64, 64, device=dev, dtype=torch.half)
ctx = torch.randn(2, 77, 768, device=dev, dtype=torch.half)
t = torch.tensor([500, 500], device=dev)
with FlopCounterMode(display=False) as fc:
    unet(x, t, ctx)
unet_flops = fc.get_total_flops()
with FlopCounterMode(display=False) as fc:
    vae.decode(torch.randn(1, 4, 64, 64, device=dev, dtype=torch.half))
vae_flops = fc.get_total_flops()
ids = torch.zeros(1, 77, dtype=torch.long, device=dev)
with FlopCounterMode(display=False) as fc:
    te(ids)
te_flops = fc.get_total_flops()
print(json.dumps({"unet_flops_batch2_64x64": unet_flops, "vae_decode_flops_512": vae_flops, "text_encoder_flops": te_flops}), flush=True)


def sync():
    torch.cuda.synchronize()


def time_unet(batch, iters=30):
    x = torch.randn(batch, 4, 64, 64, device=dev, dtype=torch.half)
    c = torch.randn(batch, 77, 768, device=dev, dtype=torch.half)
    tt = torch.full((batch,), 500, device=dev)
    for _ in range(5):
        unet(x, tt, c)
    sync()
    s = time.time()
    for _ in range(iters):
        unet(x, tt, c)
    sync()
    return (time.time() - s) / iters


res = {}
for b in (2, 4, 8, 16):
    res[f"unet_call_ms_batch{b}"] = round(1000 * time_unet(b), 2)
print(json.dumps(res), flush=True)


def time_pipe(n_images, steps=30, reps=3):
    prompts = ["a photograph of an astronaut riding a horse"] * n_images
    g = torch.Generator("cpu").manual_seed(1)
    pipe(prompts, num_inference_steps=steps, guidance_scale=7.5, generator=g, height=512, width=512)
    sync()
    best = 1e9
    for _ in range(reps):
        s = time.time()
        pipe(prompts, num_inference_steps=steps, guidance_scale=7.5, generator=g, height=512, width=512)
        sync()
        best = min(best, time.time() - s)
    return best


pres = {}
for n in (1, 4, 8):
    sec = time_pipe(n)
    pres[f"pipe_30steps_512_images{n}_s"] = round(sec, 3)
    pres[f"pipe_30steps_512_images{n}_img_per_s"] = round(n / sec, 3)
print(json.dumps(pres), flush=True)
print("peak_mem_gb", round(torch.cuda.max_memory_allocated() / 2**30, 2), flush=True)

if os.environ.get("COMPILE"):
    s = time.time()
    pipe.unet = torch.compile(unet, fullgraph=True)
    unet_c = pipe.unet
    x = torch.randn(2, 4, 64, 64, device=dev, dtype=torch.half)
    unet_c(x, torch.full((2,), 500, device=dev), torch.randn(2, 77, 768, device=dev, dtype=torch.half))
    print("compile s", round(time.time() - s, 1), flush=True)
    unet = unet_c
    cres = {}
    for b in (2, 8):
        cres[f"compiled_unet_call_ms_batch{b}"] = round(1000 * time_unet(b), 2)
    print(json.dumps(cres), flush=True)
