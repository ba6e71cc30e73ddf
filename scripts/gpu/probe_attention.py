# Issue 17's attention question: how fast is each of PyTorch's SDPA backends at the SD 1.5 UNet's largest attention
# (batch 16 = 8 jobs' CFG pairs, 8 heads, 4096 tokens of a 64x64 latent, head size 40) and at the head sizes around it,
# i.e. what a kernel tiled for head size 40 could gain over one that pads it to 64.
# Usage (GPU machine, PyTorch with CUDA): python3 scripts/gpu/probe_attention.py [--reps 20]
# Prints one markdown table: per head size and backend, ms per call (best of 3 runs of --reps calls, CUDA events) and
# TFLOP/s of the useful work (4·B·H·N²·d: Q·Kᵀ and P·V), for q/k/v as the worker passes them (the (B, N, H·d)
# projections viewed as (B, H, N, d), strided) and contiguous (B, H, N, d); "–" where a backend refuses the shape.
# Then the UNets' cross-attentions (77 text tokens as keys) per backend.
# `--device cpu --dry` runs tiny shapes on the CPU (math backend only) to try the script without a GPU.
import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, reps, device):
    if device == "cpu":
        import time
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            best = min(best, (time.perf_counter() - t0) * 1000 / reps)
        return best
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / reps)
    return best


def sdpa_ms(q, k, v, backend, reps, device):
    """ms per call of PyTorch's SDPA on one backend (scale 1: q is taken as already scaled), None if it refuses."""
    try:
        with sdpa_kernel(backend):
            return time_ms(lambda: F.scaled_dot_product_attention(q, k, v, scale=1.0), reps, device)
    except RuntimeError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dry", action="store_true", help="tiny shapes (try the script on a CPU)")
    a = ap.parse_args()
    b, heads, n = (2, 2, 64) if a.dry else (16, 8, 4096)
    dtype = torch.float32 if a.device == "cpu" else torch.float16
    backends = [("math", SDPBackend.MATH)] if a.device == "cpu" else [
        ("cuDNN", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
        ("mem-efficient", SDPBackend.EFFICIENT_ATTENTION)]
    name = torch.cuda.get_device_name() if a.device != "cpu" else "cpu"
    print(f"### SDPA at batch {b}, {heads} heads, {n} tokens (self-attention), {dtype}, {name}, torch {torch.__version__}")
    print()
    print("| head size | layout | " + " | ".join(f"{bn} ms (TFLOP/s)" for bn, _ in backends) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in backends) + " |")
    g = torch.Generator(device=a.device).manual_seed(0)
    for d in (32, 40, 48, 64, 80):
        qkv = torch.randn(b, n, 3 * heads * d, device=a.device, dtype=dtype, generator=g)
        q, k, v = (t.view(b, n, heads, d).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        layouts = {"worker's (strided views)": (q, k, v),
                   "contiguous (B, H, N, d)": tuple(t.contiguous() for t in (q, k, v))}
        useful = 4.0 * b * heads * n * n * d
        for layout, (qq, kk, vv) in layouts.items():
            times = [sdpa_ms(qq, kk, vv, backend, a.reps, a.device) for _, backend in backends]
            cells = ["–" if ms is None else f"{ms:.3f} ({useful / ms / 1e9:.0f})" for ms in times]
            print(f"| {d} | {layout} | " + " | ".join(cells) + " |")
    print()
    # cross-attention: each latent size's queries against the 77 text tokens, in the UNets' head layouts (SD 1.5:
    # 8 heads of 40/80/160 at 64/32/16 latents; SDXL at 1024x1024: 10 heads of 64 at 4096 tokens, 20 at 1024), with
    # PyTorch's math backend (matmul, softmax, matmul) beside the fused kernels, and the time of reading q and writing
    # the output at 4.3 TB/s (the least such a call can take)
    cross_backends = backends if a.device == "cpu" else backends + [("math", SDPBackend.MATH)]
    print(f"### SDPA cross-attention (77 keys), batch {b}, {dtype}")
    print()
    print("| model: tokens, heads x size | " + " | ".join(f"{bn} ms" for bn, _ in cross_backends) +
          " | memory bound ms |")
    print("| --- | " + " | ".join("---" for _ in cross_backends) + " | --- |")
    shapes = [("SD 1.5", n, heads, 8)] if a.dry else [
        ("SD 1.5", 4096, 8, 40), ("SD 1.5", 1024, 8, 80), ("SD 1.5", 256, 8, 160),
        ("SDXL", 4096, 10, 64), ("SDXL", 1024, 20, 64)]
    for model, nq, h, d in shapes:
        q = torch.randn(b, nq, h * d, device=a.device, dtype=dtype, generator=g).view(b, nq, h, d).transpose(1, 2)
        kv = torch.randn(b, 77, 2 * h * d, device=a.device, dtype=dtype, generator=g)
        k, v = (t.view(b, 77, h, d).transpose(1, 2) for t in kv.chunk(2, dim=-1))
        times = [sdpa_ms(q, k, v, backend, a.reps, a.device) for _, backend in cross_backends]
        cells = ["–" if ms is None else f"{ms:.3f}" for ms in times]
        bound = 2 * q.numel() * q.element_size() / 4.3e12 * 1e3
        print(f"| {model}: {nq}, {h} x {d} | " + " | ".join(cells) + f" | {bound:.3f} |")
    print()


if __name__ == "__main__":
    main()
