# Issue 17's FP8 convolution probe, PyTorch's side (scripts/gpu/probe_fp8_conv.cu has the cuDNN graph side): times
# F.conv2d as the worker runs SD 1.5's 3x3 convolutions (fp16, channels-last input and weight, no bias, stride 1,
# pad 1, torch.backends.cudnn.benchmark on) at batch 16 for each shape of the UNet's ResNet and upsampler
# convolutions (derived as diffusers' UNet2DConditionModel builds SD 1.5's blocks; the same list and order as the
# probe's sd15_convs). Each shape: 10 warm-up calls (cuDNN's benchmark picks its algorithm in the first), then 50
# calls each between two CUDA events, the median.
# Writes one line per shape, "conv H CIN COUT MS RESNET_COUNT UPSAMPLER_COUNT", to the file given (the probe reads
# it through PROBE_TORCH) and to stdout, then the count-weighted total per UNet call.
# Usage: python3 scripts/gpu/probe_fp8_conv_torch.py OUT_FILE   (about 20 s on an H200)
import statistics
import sys

BATCH = 16


def sd15_convs():
    """[(h, cin, cout, resnet_count, upsampler_count)] of SD 1.5's 3x3 stride-1 convolutions, first-seen order."""
    boc, layers = [320, 640, 1280, 1280], 2
    shapes = {}

    def add(h, cin, cout, up):
        e = shapes.setdefault((h, cin, cout), [0, 0])
        e[1 if up else 0] += 1

    def resnet(h, cin, cout):
        add(h, cin, cout, False)
        add(h, cout, cout, False)

    h, prev = 64, boc[0]
    for i in range(4):
        for j in range(layers):
            resnet(h, prev if j == 0 else boc[i], boc[i])
        prev = boc[i]
        if i < 3:
            h //= 2
    resnet(h, boc[3], boc[3])
    resnet(h, boc[3], boc[3])
    rev = boc[::-1]
    prev = rev[0]
    for i in range(4):
        out, inp = rev[i], rev[min(i + 1, 3)]
        for j in range(layers + 1):
            skip = inp if j == layers else out
            resnet(h, (prev if j == 0 else out) + skip, out)
        prev = out
        if i < 3:
            h *= 2
            add(h, out, out, True)
    return [(k[0], k[1], k[2], v[0], v[1]) for k, v in shapes.items()]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        for s in sd15_convs():
            print(*s)
        return
    import torch
    import torch.nn.functional as F

    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}")
    lines, total = [], 0.0
    for h, cin, cout, nres, nup in sd15_convs():
        cl = torch.channels_last
        x = torch.randn(BATCH, cin, h, h, device=dev).half().contiguous(memory_format=cl)
        w = (torch.randn(cout, cin, 3, 3, device=dev) / (9 * cin) ** 0.5).half().contiguous(memory_format=cl)
        for _ in range(10):
            y = F.conv2d(x, w, None, 1, 1)
        assert y.is_contiguous(memory_format=cl)
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(50)]
        for a, b in ev:
            a.record()
            F.conv2d(x, w, None, 1, 1)
            b.record()
        torch.cuda.synchronize()
        ms = statistics.median(a.elapsed_time(b) for a, b in ev)
        total += (nres + nup) * ms
        line = f"conv {h} {cin} {cout} {ms:.5f} {nres} {nup}"
        print(line, flush=True)
        lines.append(line)
    print(f"total per UNet call (resnet + upsampler 3x3 convolutions, count-weighted): {total:.3f} ms")
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
