# cuDNN / FlashAttention SDPA at SD 1.5's first-level self-attention, q|k|v as the worker passes them (strided views
# of one (16, 4096, 960) projection), ms per call (CUDA events, best of 3 x 20 after warm-up) and useful TFLOP/s.
# Usage: python3 scripts/gpu/sdpa_sd15_selfattn.py (GPU machine, PyTorch with CUDA)
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

B, H, N, D = 16, 8, 4096, 40
qkv = torch.randn(B, N, 3 * H * D, device="cuda", dtype=torch.half)
q, k, v = (t.view(B, N, H, D).transpose(1, 2) for t in qkv.chunk(3, -1))
for name, be in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
                 ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
    try:
        with sdpa_kernel(be):
            fn = lambda: F.scaled_dot_product_attention(q, k, v, scale=1.0)
            fn(); torch.cuda.synchronize()
            best = 1e9
            for _ in range(3):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                for _ in range(20):
                    fn()
                b.record(); b.synchronize()
                best = min(best, a.elapsed_time(b) / 20)
        print(f"SDPA {name}: {best:.4f} ms  {4 * B * H * N * N * D / best / 1e9:.1f} TFLOP/s")
    except Exception as e:  # a backend refusing the shape
        print(f"SDPA {name}: refused ({str(e).splitlines()[0][:80]})")
