# Where does the time of an SD1.5 UNet at batch 16 go, and what would channels-last buy?
# diffusers' UNet (batch 8/16, eager and CUDA graph) and VAE decode in NCHW and channels-last, PyTorch's
# GroupNorm and a 3x3 convolution in both layouts, and a kernel profile of the batch-16 UNet.
# Usage: DIFFUSERS_SRC=.../src python3 probe_channels_last.py D_DIR   (D_DIR holds reference/, as for bench_diffusers.py;
# bench-build.sh runs it with PROBE=1)
import json, os, sys, time
import torch
D = sys.argv[1]
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
from diffusers import UNet2DConditionModel, AutoencoderKL
torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"
man = json.load(open(os.path.join(D, "reference/full-size/sd15/manifest.json")))
ucfg = {k: v for k, v in man["unet"]["config"].items() if not k.startswith("_")}
vcfg = {k: v for k, v in man["vae"]["config"].items() if not k.startswith("_")}
torch.manual_seed(0)
with torch.device(dev):
    unet = UNet2DConditionModel(**ucfg).half().eval()
    vae = AutoencoderKL(**vcfg).half().eval()
torch.set_grad_enabled(False)

def timeit(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    s = time.time()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return round(1000 * (time.time() - s) / iters, 2)

def graphed(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay

res = {}
for name, mf in (("nchw", torch.contiguous_format), ("cl", torch.channels_last)):
    unet.to(memory_format=mf)
    for b in (8, 16):
        x = torch.randn(b, 4, 64, 64, device=dev, dtype=torch.half).to(memory_format=mf)
        c = torch.randn(b, 77, 768, device=dev, dtype=torch.half)
        tt = torch.full((b,), 500, device=dev)
        f = lambda: unet(x, tt, c)
        res[f"unet{b}_eager_{name}"] = timeit(f)
        res[f"unet{b}_graph_{name}"] = timeit(graphed(f))
        print(json.dumps(res), flush=True)
unet.to(memory_format=torch.contiguous_format)

# group norm on channels-last input: is there a native NHWC kernel?
gx = torch.randn(16, 320, 64, 64, device=dev, dtype=torch.half)
gn = torch.nn.GroupNorm(32, 320).to(dev).half()
res["gn_nchw"] = timeit(lambda: gn(gx), 50)
gxc = gx.to(memory_format=torch.channels_last)
res["gn_cl"] = timeit(lambda: gn(gxc), 50)
res["gn_cl_out_is_cl"] = bool(gn(gxc).is_contiguous(memory_format=torch.channels_last))
conv = torch.nn.Conv2d(320, 320, 3, padding=1).to(dev).half()
res["conv320_nchw"] = timeit(lambda: conv(gx), 50)
convc = torch.nn.Conv2d(320, 320, 3, padding=1).to(dev).half().to(memory_format=torch.channels_last)
res["conv320_cl"] = timeit(lambda: convc(gxc), 50)
print(json.dumps(res), flush=True)

for b in (1, 8):
    z = torch.randn(b, 4, 64, 64, device=dev, dtype=torch.half)
    res[f"vae{b}_nchw"] = timeit(lambda: vae.decode(z), 5)
vae.to(memory_format=torch.channels_last)
for b in (1, 8):
    z = torch.randn(b, 4, 64, 64, device=dev, dtype=torch.half).to(memory_format=torch.channels_last)
    res[f"vae{b}_cl"] = timeit(lambda: vae.decode(z), 5)
vae.to(memory_format=torch.contiguous_format)
print(json.dumps(res), flush=True)

# kernel breakdown, UNet batch 16 eager NCHW
from torch.profiler import profile, ProfilerActivity
x = torch.randn(16, 4, 64, 64, device=dev, dtype=torch.half)
c = torch.randn(16, 77, 768, device=dev, dtype=torch.half)
tt = torch.full((16,), 500, device=dev)
for name, mf in (("nchw", torch.contiguous_format), ("cl", torch.channels_last)):
    unet.to(memory_format=mf)
    xx = x.to(memory_format=mf)
    unet(xx, tt, c); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            unet(xx, tt, c)
        torch.cuda.synchronize()
    print(f"== kernels, UNet batch 16 eager {name} (5 calls)")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=90))
