# Timing shared by the diffusers baselines of the GPU benchmark, bench_diffusers.py (SD 1.5) and
# bench_diffusers_sdxl.py (SDXL): FLOP counts, UNet call times, best-of-N pipeline runs, and the torch.compile
# second baseline (the UNet and the VAE decoder compiled; warm-up calls, which compile, are timed apart and printed,
# never counted). Every figure is printed as one JSON line, which the Java bench (GpuBench.diffusersFigures) reads.
import json, time, traceback

import torch
from torch.utils.flop_counter import FlopCounterMode

PROMPT = "a photograph of an astronaut riding a horse"
# mode names torch.compile takes; COMPILE=1 means reduce-overhead (Inductor + CUDA graphs, as our worker replays
# graphs). max-autotune* compile for far longer than a device call allows.
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def emit(figures):
    print(json.dumps(figures), flush=True)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gb():
    """GiB of the CUDA allocator's peak allocation (max_memory_allocated); 0 without CUDA."""
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else 0.0


def flops(fn):
    """FLOPs of one call of fn, as PyTorch counts them (matrix products, convolutions, attention)."""
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def seconds(fn):
    """Seconds of one call of fn, the device synchronised (a warm-up that compiles: its duration is printed)."""
    s = time.time()
    fn()
    sync()
    return time.time() - s


def per_call(fn, iters, warmup=3):
    """Seconds per call of fn over iters calls after warmup calls, the device synchronised."""
    for _ in range(warmup):
        fn()
    sync()
    s = time.time()
    for _ in range(iters):
        fn()
    sync()
    return (time.time() - s) / iters


def best_pipe(pipe, n_images, size, guidance, steps=30, reps=3):
    """(best seconds of reps pipe() calls of n_images prompts, seconds of the warm-up call before them)."""
    prompts = [PROMPT] * n_images
    g = torch.Generator("cpu").manual_seed(1)

    def call():
        pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, generator=g, height=size, width=size)

    warm = seconds(call)
    return min(seconds(call) for _ in range(reps)), warm


def compile_mode(value):
    """The torch.compile mode a COMPILE setting asks for: None (unset, empty, 0), reduce-overhead (1) or a mode."""
    if value in (None, "", "0"):
        return None
    if value == "1":
        return "reduce-overhead"
    if value not in MODES:
        raise SystemExit(f"compile mode {value!r}: one of 1, {', '.join(MODES)}")
    return value


def compile_parts(pipe, mode, vae_mode=None):
    """Compiles pipe.unet (whole graph) and pipe.vae.decode with torch.compile in place, one static graph per
    input shape (no dynamic-shape recompiles: each batch size gets its own graph, as the worker's CUDA graphs)."""
    torch._dynamo.config.automatic_dynamic_shapes = False
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
    pipe.unet = torch.compile(pipe.unet, mode=mode, fullgraph=True)
    pipe.vae.decode = torch.compile(pipe.vae.decode, mode=vae_mode or mode)
    print(f"compile_mode {mode}" + (f" (VAE decode: {vae_mode})" if vae_mode and vae_mode != mode else ""),
          flush=True)


def compiled_figures(pipe, unet_inputs, batches, images, size, guidance, prefix):
    """The compiled baseline's figures, keys as the eager ones with prefix (e.g. 'compiled_'): UNet ms per call
    for each batch (inputs as the pipeline passes them, so that its runs reuse these graphs), pipeline seconds and
    images/s for each image count, peak memory; the warm-up (compile) seconds of each shape as *_warmup_s."""
    reset_peak()
    res = {}
    for b in batches:
        args, kwargs = unet_inputs(b)
        call = lambda: pipe.unet(*args, **kwargs)  # noqa: E731
        res[f"{prefix}warmup_s_unet_batch{b}"] = round(seconds(call), 1)
        emit({f"{prefix}warmup_s_unet_batch{b}": res[f"{prefix}warmup_s_unet_batch{b}"]})
        res[f"{prefix}unet_call_ms_batch{b}"] = round(1000 * per_call(call, 20), 2)
    emit({k: v for k, v in res.items() if "warmup" not in k})
    pres = {}
    for n in images:
        sec, warm = best_pipe(pipe, n, size, guidance)
        pres[f"{prefix}warmup_s_pipe_images{n}"] = round(warm, 1)
        pres[f"{prefix}pipe_30steps_{size}_images{n}_s"] = round(sec, 3)
        pres[f"{prefix}pipe_30steps_{size}_images{n}_img_per_s"] = round(n / sec, 3)
    pres[f"{prefix}peak_mem_gb"] = peak_gb()
    emit(pres)
    return {**res, **pres}


def compiled_baseline(pipe, mode, unet_inputs, batches, images, size, guidance, prefix, vae_mode=None):
    """compile_parts, then compiled_figures; a failure is printed (compiled_error: ...) with its traceback on stderr
    and ends only this baseline, so that the eager figures above and the benches after it still count."""
    s = time.time()
    try:
        compile_parts(pipe, mode, vae_mode)
        compiled_figures(pipe, unet_inputs, batches, images, size, guidance, prefix)
    except Exception as e:  # noqa: BLE001 - any compile failure: report it, keep the eager baseline
        traceback.print_exc()
        print(f"compiled_error {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
    print("compiled baseline s", round(time.time() - s, 1), flush=True)
