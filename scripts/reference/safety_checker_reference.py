"""Reference data for the worker's image safety checker (worker/.../SafetyChecker).

Builds a tiny, randomly initialised model with the architecture of diffusers' StableDiffusionSafetyChecker
(CLIP vision tower + visual projection + 17 concept and 3 special-care embeddings with their thresholds),
saves it as diffusers saves a pipeline's `safety_checker/` folder (config.json + model.safetensors), runs
it on two batches of images the way StableDiffusionPipeline.run_safety_checker does, and saves inputs and
outputs as test resources.

diffusers itself is not installed here: the class is executed from diffusers' own source file
(src/diffusers/pipelines/stable_diffusion/safety_checker.py, passed with --safety-checker-py), with its one
package-relative import (`from ...utils import is_transformers_version, logging`) replaced by transformers'
`logging` and a three-line is_transformers_version. The has_nsfw flags come from that file's forward(); the per-concept scores, which
forward() computes but does not return, are recomputed here with the same file's cosine_distance and a
transcription of its loop, and the script checks that they give the same flags.

Preprocessing is transformers' CLIPImageProcessor as the SD pipelines configure it (feature_extractor:
resize the shortest side to 224 with PIL bicubic, center crop 224, scale by 1/255, normalise with CLIP's
mean and std), on the PIL images made from the pipeline's float output; without torchvision, transformers
5 runs its PIL backend (CLIPImageProcessorPil), the processor diffusers' pipelines always used.

Usage (venv with torch, transformers==5.17.0, safetensors, numpy, pillow):
  python safety_checker_reference.py --safety-checker-py PATH/TO/safety_checker.py --out DIR
The product and its tests never run this script.
"""
import argparse
import json
import os
import types

import numpy as np
import PIL.Image
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
import operator

import transformers
from packaging import version
from transformers.utils import logging


def is_transformers_version(op, ver):
    """diffusers.utils.is_transformers_version, for the one call in safety_checker.py."""
    ops = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
    return ops[op](version.parse(transformers.__version__), version.parse(ver))


def load_diffusers_module(path):
    src = open(path, encoding="utf-8").read()
    rel = "from ...utils import is_transformers_version, logging"
    assert rel in src, "the import line to replace is not in " + path
    mod = types.ModuleType("diffusers_safety_checker")
    mod.__dict__["is_transformers_version"] = is_transformers_version
    mod.__dict__["logging"] = logging
    exec(compile(src.replace(rel, ""), path, "exec"), mod.__dict__)
    return mod


def smooth_images(gen, n, h, w):
    """n smooth random RGB images (n, h, w, 3) in [0, 1], exactly k/255: what a pipeline's PNG holds."""
    coarse = torch.rand((n, 3, h // 8, w // 8), generator=gen)
    x = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    x = x + 0.08 * torch.rand((n, 3, h, w), generator=gen)
    x = (x.clamp(0, 1) * 255).round() / 255
    return x.permute(0, 2, 3, 1).contiguous()


def scores_as_diffusers(mod, model, clip_input):
    """forward()'s per-image special and concept scores, transcribed (forward() does not return them)."""
    with torch.no_grad():
        pooled = model.vision_model(clip_input)[1]
        embeds = model.visual_projection(pooled)
        special_cos = mod.cosine_distance(embeds, model.special_care_embeds).cpu().float().numpy()
        cos = mod.cosine_distance(embeds, model.concept_embeds).cpu().float().numpy()
    special_all, concept_all, flags = [], [], []
    for i in range(embeds.shape[0]):
        adjustment = 0.0
        special = []
        for k in range(special_cos.shape[1]):
            s = round(special_cos[i][k] - model.special_care_embeds_weights[k].item() + adjustment, 3)
            special.append(s)
            if s > 0:
                adjustment = 0.01
        concept = [round(cos[i][k] - model.concept_embeds_weights[k].item() + adjustment, 3)
                   for k in range(cos.shape[1])]
        special_all.append(special)
        concept_all.append(concept)
        flags.append(any(c > 0 for c in concept))
    return embeds, np.array(special_all, np.float32), np.array(concept_all, np.float32), flags, special_cos, cos


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--safety-checker-py", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    mod = load_diffusers_module(args.safety_checker_py)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
        projection_dim=16)
    model = mod.StableDiffusionSafetyChecker(config).eval()
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        # LayerNorm weights near 1 keep the activations of the tiny model in a realistic range
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))

    processor = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                      resample=3, do_center_crop=True, do_normalize=True, do_rescale=True,
                                      image_mean=[0.48145466, 0.4578275, 0.40821073],
                                      image_std=[0.26862954, 0.26130258, 0.27577711])
    batches = {"batch0": smooth_images(gen, 3, 64, 64), "batch1": smooth_images(gen, 1, 96, 64)}

    def clip_input(images):
        """The processor's pixel values, rounded to fp16 so the resource stays small; the references below are
        computed from exactly these values."""
        pil = [PIL.Image.fromarray((img.numpy() * 255).round().astype(np.uint8)) for img in images]
        return processor(pil, return_tensors="pt").pixel_values.half().float()

    # Concepts and thresholds chosen so that the cases differ: image 0 of batch 0 has a concept over its
    # threshold; image 1 has none, but a special-care concept over its threshold, whose +0.01 adjustment lifts
    # a concept 0.005 under its threshold over it; every other image is clean with margins of >= 0.02.
    with torch.no_grad():
        inputs = {k: clip_input(v) for k, v in batches.items()}
        all_inputs = torch.cat(list(inputs.values()))
        emb = model.visual_projection(model.vision_model(all_inputs)[1])
        # a random tower maps every image close to one direction: concepts are taken off the mean embedding
        model.concept_embeds[0].copy_(emb[0] - emb.mean(dim=0))
        model.special_care_embeds[0].copy_(emb[1] - emb.mean(dim=0))
        model.concept_embeds[1].copy_(emb[1] - emb.mean(dim=0) + 0.05 * torch.randn(emb.shape[1], generator=gen))
        model.concept_embeds_weights.fill_(1.0)
        model.special_care_embeds_weights.fill_(1.0)
        _, _, _, _, special_cos, cos = scores_as_diffusers(mod, model, all_inputs)
        model.concept_embeds_weights.copy_(torch.tensor(cos.max(axis=0) + 0.03))
        model.special_care_embeds_weights.copy_(torch.tensor(special_cos.max(axis=0) + 0.03))
        model.concept_embeds_weights[0] = float(cos[0, 0] - 0.02)
        model.special_care_embeds_weights[0] = float(special_cos[1, 0] - 0.02)
        model.concept_embeds_weights[1] = float(cos[1, 1] + 0.005)
        others = [i for i in range(cos.shape[0]) if i != 0]
        assert cos[others, 0].max() < cos[0, 0] - 0.04, "concept 0 does not single out image 0"
        others = [i for i in range(cos.shape[0]) if i != 1]
        assert special_cos[others, 0].max() < special_cos[1, 0] - 0.04, "special 0 does not single out image 1"
        assert cos[others, 1].max() < cos[1, 1] - 0.02, "concept 1 does not single out image 1"

    os.makedirs(os.path.join(args.out, "safety_checker"), exist_ok=True)
    model.save_pretrained(os.path.join(args.out, "safety_checker"), safe_serialization=True)
    # the test reads only config.json and model.safetensors; drop anything else save_pretrained writes
    for f in os.listdir(os.path.join(args.out, "safety_checker")):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(args.out, "safety_checker", f))

    tensors, summary = {}, {}
    for key, images in batches.items():
        x = inputs[key]
        diffusers_images, has_nsfw = model(clip_input=x, images=images.clone())
        embeds, special, concept, flags, _, _ = scores_as_diffusers(mod, model, x)
        assert flags == list(has_nsfw), f"transcribed flags {flags} differ from diffusers' {has_nsfw}"
        for i, f in enumerate(has_nsfw):
            assert (diffusers_images[i].abs().sum() == 0) == f, "flagged images are blacked out, others kept"
        tensors[f"{key}.images"] = images
        tensors[f"{key}.clip_input"] = x.half().contiguous()
        tensors[f"{key}.image_embeds"] = embeds.contiguous()
        tensors[f"{key}.special_scores"] = torch.from_numpy(special)
        tensors[f"{key}.concept_scores"] = torch.from_numpy(concept)
        tensors[f"{key}.has_nsfw"] = torch.tensor([1.0 if f else 0.0 for f in has_nsfw])
        summary[key] = {"has_nsfw": list(map(bool, has_nsfw)), "max_concept_score": concept.max(axis=1).tolist()}
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
