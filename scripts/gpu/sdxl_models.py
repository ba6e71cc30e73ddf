# SDXL-size random-weight models from reference/full-size/sdxl/manifest.json, built the same way by the
# diffusers baseline (bench_diffusers_sdxl.py) and by gen_sdxl.py (which saves them for the Java worker):
# torch.manual_seed(0), UNet, VAE, text encoder, text encoder 2, each .half() on the device; the real
# SDXL base scheduler (Euler, leading, steps_offset 1); both tokenizers from the tiny-sd15 CLIP
# vocabulary (tokenizer_2 pads with "!", as SDXL's does).
import json, os
import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

TEXT_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "max_position_embeddings", "hidden_act", "layer_norm_eps", "projection_dim", "bos_token_id",
             "eos_token_id", "pad_token_id")


def configs(d):
    man = json.load(open(os.path.join(d, "reference/full-size/sdxl/manifest.json")))
    ucfg = {k: v for k, v in man["unet"]["config"].items() if not k.startswith("_")}
    vcfg = {k: v for k, v in man["vae"]["config"].items() if not k.startswith("_")}
    t1 = {k: v for k, v in man["text_encoder"]["config"].items() if k in TEXT_KEYS}
    t2 = {k: v for k, v in man["text_encoder_2"]["config"].items() if k in TEXT_KEYS}
    if os.environ.get("SDXL_SCALE") == "tiny":  # local test of the scripts only, never for the benchmark
        ucfg.update(block_out_channels=[32, 64, 64], norm_num_groups=8, cross_attention_dim=64,
                    attention_head_dim=[2, 4, 4], transformer_layers_per_block=[1, 1, 2],
                    addition_time_embed_dim=8, projection_class_embeddings_input_dim=32 + 48)
        vcfg.update(block_out_channels=[16, 32, 32, 32], norm_num_groups=8)
        t1.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
        t2.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
    return ucfg, vcfg, t1, t2


def build_sdxl(d, dev):
    ucfg, vcfg, t1, t2 = configs(d)
    torch.manual_seed(0)
    with torch.device(dev):
        unet = UNet2DConditionModel(**ucfg).half().eval()
        vae = AutoencoderKL(**vcfg).half().eval()
        te = CLIPTextModel(CLIPTextConfig(**t1)).half().eval()
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**t2)).half().eval()
    tok_dir = os.path.join(d, "reference/tiny-sd15/model/tokenizer")
    tok = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    tok2 = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77, pad_token="!")
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="leading", steps_offset=1)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=te, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok2,
                                     unet=unet, scheduler=sched, force_zeros_for_empty_prompt=True)
