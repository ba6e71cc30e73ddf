# cuDNN / FlashAttention SDPA at SD 1.5's first-level attentions, q|k|v as the worker passes them, ms per call (CUDA
# events, best of 3 x 20 after warm-up; cross: best of 5 x 50). Self-attention (default): strided views of one
# (16, 4096, 960) projection, useful TFLOP/s. Cross-attention ("cross"): q (16, 4096, 320) contiguous over 77 keys, k
# and v the halves of one (16, 77, 640) k|v projection, as the worker's mha calls SDPA (output transposed back to
# (B, N, C)); GB/s of q read + o written.
# Usage: python3 scripts/gpu/sdpa_sd15_selfattn.py [cross] (GPU machine, PyTorch with CUDA)
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

B, H, N, D = 16, 8, 4096, 40
cross = len(sys.argv) > 1 and sys.argv[1] == "cross"
if cross:
    M = 77
    q = torch.randn(B, N, H * D, device="cuda", dtype=torch.half).view(B, N, H, D).transpose(1, 2)
    kv = torch.randn(B, M, 2 * H * D, device="cuda", dtype=torch.half)
    k, v = (t.view(B, M, H, D).transpose(1, 2) for t in kv.chunk(2, -1))
    reps, calls = 5, 50
else:
    qkv = torch.randn(B, N, 3 * H * D, device="cuda", dtype=torch.half)
    q, k, v = (t.view(B, N, H, D).transpose(1, 2) for t in qkv.chunk(3, -1))
    reps, calls = 3, 20
backends = [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION)]
for name, be in ([("default", None)] if cross else []) + backends:
    try:
        with sdpa_kernel(be) if be is not None else torch.no_grad():
            if cross:
                fn = lambda: F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).reshape(B, N, H * D)
            else:
                fn = lambda: F.scaled_dot_product_attention(q, k, v, scale=1.0)
            fn(); torch.cuda.synchronize()
            best = 1e9
            for _ in range(reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                for _ in range(calls):
                    fn()
                b.record(); b.synchronize()
                best = min(best, a.elapsed_time(b) / calls)
        if cross:
            print(f"SDPA {name} (cross, M {M}): {best:.4f} ms  {2 * B * N * H * D * 2 / best / 1e6:.0f} GB/s")
        else:
            print(f"SDPA {name}: {best:.4f} ms  {4 * B * H * N * N * D / best / 1e9:.1f} TFLOP/s")
    except Exception as e:  # a backend refusing the shape
        print(f"SDPA {name}: refused ({str(e).splitlines()[0][:80]})")
