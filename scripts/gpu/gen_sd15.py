# Writes a diffusers pipeline folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
# scheduler/) of SD 1.5-size random fp16 weights, built exactly as bench_diffusers.py builds its
# models: same manifest configs, torch.manual_seed(0), UNet then VAE then text encoder constructed on
# the same device, then .half(). The Java worker loads it with `bench --model DIR`.
# Usage: DIFFUSERS_SRC=.../diffusers/src python3 gen_sd15.py OUT_DIR --d D_DIR [--device cuda]
#   D_DIR: the folder holding reference/ (bench-build.sh passes /tmp/gpuwork/d).
#   SD15_SCALE=tiny (tests only): shrinks the configs so that it runs on a CPU in seconds.
import argparse, json, os, shutil, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--d", required=True, help="the folder holding reference/ (bench-build.sh: /tmp/gpuwork/d)")
ap.add_argument("--device", default="cuda")
args = ap.parse_args()

sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
import torch
from diffusers import UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, DPMSolverMultistepScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

dev = args.device
man = json.load(open(os.path.join(args.d, "reference/full-size/sd15/manifest.json")))
ucfg = {k: v for k, v in man["unet"]["config"].items() if not k.startswith("_")}
vcfg = {k: v for k, v in man["vae"]["config"].items() if not k.startswith("_")}
tcfg = {k: v for k, v in man["text_encoder"]["config"].items() if k in (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "max_position_embeddings", "hidden_act", "layer_norm_eps", "projection_dim")}
if os.environ.get("SD15_SCALE") == "tiny":  # local test of this script only, never for the benchmark
    ucfg.update(block_out_channels=[32, 64, 64, 64], norm_num_groups=8, cross_attention_dim=32, attention_head_dim=8)
    vcfg.update(block_out_channels=[16, 32, 32, 32], norm_num_groups=8)
    tcfg.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
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
t0 = time.time()
pipe.save_pretrained(args.out)  # safetensors, fp16 as built
# transformers 5 saves CLIPTextModel's tensors without the `text_model.` prefix; real SD 1.5
# repositories (and the reference tiny model) name them text_model.*: write them that way.
from safetensors import safe_open
from safetensors.torch import save_file
te_file = os.path.join(args.out, "text_encoder", "model.safetensors")
with safe_open(te_file, "pt") as f:
    tensors = {(k if k.startswith("text_model.") else "text_model." + k): f.get_tensor(k) for k in f.keys()}
save_file(tensors, te_file, metadata={"format": "pt"})
# tokenizer: the full reference folder (vocab.json + merges.txt as in real repositories, tokenizer.json)
shutil.copytree(os.path.join(args.d, "reference/tiny-sd15/model/tokenizer"), os.path.join(args.out, "tokenizer"),
                dirs_exist_ok=True)
n = {k: sum(p.numel() for p in m.parameters()) for k, m in (("unet", unet), ("vae", vae), ("text_encoder", te))}
print("saved", args.out, "in", round(time.time() - t0, 1), "s; parameters", json.dumps(n), flush=True)
for root, _, files in sorted(os.walk(args.out)):
    for f in sorted(files):
        p = os.path.join(root, f)
        print("  ", os.path.relpath(p, args.out), os.path.getsize(p), flush=True)
