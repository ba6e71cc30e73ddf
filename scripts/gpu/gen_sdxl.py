# Writes a diffusers SDXL pipeline folder (model_index.json, unet/, vae/, text_encoder/, text_encoder_2/,
# tokenizer/, tokenizer_2/, scheduler/) of SDXL-size random fp16 weights, built exactly as
# bench_diffusers_sdxl.py builds its models (sdxl_models.py). The Java worker loads it with
# `bench --model DIR`. Usage: DIFFUSERS_SRC=.../diffusers/src python3 gen_sdxl.py OUT_DIR --d D_DIR [--device cuda]
#   SDXL_SCALE=tiny (tests of this script only): shrinks the configs so that it runs on a CPU in seconds.
import argparse, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--d", required=True, help="the folder holding reference/ (bench-build.sh: /tmp/gpuwork/d)")
ap.add_argument("--device", default="cuda")
args = ap.parse_args()
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(args.d, "src")))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdxl_models import build_sdxl  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

t0 = time.time()
pipe = build_sdxl(args.d, args.device)
print("init s", round(time.time() - t0, 1), flush=True)
t0 = time.time()
pipe.save_pretrained(args.out)
# transformers 5 may save the CLIP tensors without the `text_model.` prefix; real SDXL repositories
# name them text_model.* (and text_projection.weight): write them that way.
for sub in ("text_encoder", "text_encoder_2"):
    f_name = os.path.join(args.out, sub, "model.safetensors")
    with safe_open(f_name, "pt") as f:
        tensors = {(k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): f.get_tensor(k)
                   for k in f.keys()}
    save_file(tensors, f_name, metadata={"format": "pt"})
n = {k: sum(p.numel() for p in getattr(pipe, k).parameters()) for k in ("unet", "vae", "text_encoder", "text_encoder_2")}
print("saved", args.out, "in", round(time.time() - t0, 1), "s; parameters", json.dumps(n), flush=True)
for root, _, files in sorted(os.walk(args.out)):
    for f in sorted(files):
        p = os.path.join(root, f)
        print("  ", os.path.relpath(p, args.out), os.path.getsize(p), flush=True)
