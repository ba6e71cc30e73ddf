# Kernel profile tables from Chrome traces of PyTorch's Kineto profiler: the traces `worker.jar bench --model M
# --profile DIR` writes (unet_<model>_b<batch>.json: eager UNet calls, each inside a "unet_call" range;
# image_<model>_<n>.json: whole runs of n images inside an "image" range, the pipeline's phase ranges inside;
# vae_<model>.json: VAE decodes, each inside a "vae_decode" range), or any torch.profiler trace with CPU ops
# (record_shapes=True) and CUDA kernels.
# Usage: python3 profile_table.py TRACE.json [TRACE.json ...] [--calls N] [--range unet_call|image|vae_decode]
#        python3 profile_table.py --selftest        (classification, FLOP/byte counts and the phase summary on
#                                                    synthetic traces)
# A trace with "image" ranges first gets a phase summary: per phase range (text, latents, denoise, and inside it
# step and preview, decode) and for the image as a whole: ranges, wall ms (sum of the ranges' durations), GPU busy ms
# (the union of the kernel/memcpy/memset intervals on the GPU timeline, clipped to the ranges), GPU idle ms (wall -
# busy) and kernels starting inside the ranges.
# For each trace, a markdown table per kernel class (convolutions, matrix products, attention, norms,
# elementwise, copies/transposes, other): kernels and GPU time per UNet call, share of the GPU time, and the
# rate achieved against the H200's limits (float32 work: TF32, half the fp16 rate, as cuDNN runs float32
# convolutions by default): TFLOP/s for convolutions, matrix products and attention (FLOPs from
# the input shapes of the aten op that launched the kernels, linked through the trace's "External id"; our
# sd::cross_attention and sd::self_attention kernels' from their q, k, v shapes: 4·B·N·M·C; our FP8 products
# sd::fp8_linear and sd::fp8_linear_residual as linear's, rated against the same fp16 peak, so an FP8 product can
# show above 100%), GB/s for the rest (bytes: the launching op's tensor inputs plus one output the size of its largest
# input, or of its first input for in-place ops: an estimate of the least traffic). Then the 15 kernels that take the
# most time, and per memory-bound class (norms, elementwise, copies/transposes, other) the ops whose kernels take the
# most time. A kernel's class is that of the innermost op of its launch that names one (aten::add_ inside a
# convolution is elementwise), else guessed from the kernel's name; layout transposes are copies.
import argparse, bisect, json, os, re, sys
from collections import defaultdict

PEAK_TFLOPS = 790.0  # H200, fp16/bf16 dense matrix units (docs/GPU.md)
PEAK_TF32 = PEAK_TFLOPS / 2  # float32 inputs on the tensor cores (TF32, dense)
PEAK_GBS = 4300.0    # H200 HBM3e
PHASES = ["text", "latents", "denoise", "step", "preview", "decode"]  # StableDiffusionPipeline's ranges
TOP_PHASES = ["text", "latents", "denoise", "decode"]  # disjoint, in run order; step and preview lie in denoise
CLASSES = ["convolutions", "matrix products", "attention", "norms", "elementwise", "copies/transposes", "other"]
COMPUTE = {"convolutions", "matrix products", "attention"}
DTYPE_BYTES = {"c10::Half": 2, "c10::BFloat16": 2, "float": 4, "double": 8, "long int": 8, "int": 4, "bool": 1,
               "unsigned char": 1, "signed char": 1, "short int": 2, "c10::Float8_e4m3fn": 1, "c10::Float8_e5m2": 1}

COPY_OPS = {"copy_", "clone", "contiguous", "cat", "stack", "to", "_to_copy", "constant_pad_nd", "pad", "fill_",
            "zero_", "zeros", "zeros_like", "index", "index_select", "slice_scatter", "repeat", "expand_as",
            "masked_fill_", "_unsafe_index", "flip", "roll"}
ELEMENTWISE_OPS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "silu", "silu_", "gelu", "gelu_",
                   "sigmoid", "sigmoid_", "sin", "cos", "exp", "exp_", "neg", "where", "pow", "sqrt", "rsqrt", "tanh",
                   "clamp", "clamp_", "clamp_min", "clamp_max", "relu", "relu_", "round", "abs", "addcmul", "addcdiv",
                   "lerp", "maximum", "minimum", "reciprocal", "log", "square", "geglu_gate", "geglu",
                   "geglu_gate_fp8"}
ATTENTION_OPS_BHND = re.compile(r"^aten::(scaled_dot_product_attention|_scaled_dot_product_(flash|efficient|cudnn)"
                                r"_attention|_scaled_dot_product_attention_math|_scaled_dot_product_flash_attention_for_cpu)$")
MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_addmm_activation", "addbmm", "_scaled_mm",
              "linear_residual", "fp8_linear", "fp8_linear_residual"}
# sd::linear_residual: one cuBLASLt call, x·Wᵀ + b + r; sd::linear (x, w): x·Wᵀ + b, one cuBLASLt call with the tuned
# algorithm (SD_LT_AUTOTUNE) or at::linear inside it; sd::fp8_linear (x8, w8) and sd::fp8_linear_residual (x8, w8, r):
# the FP8 products (sd_native_ops.cc), their FLOPs as linear's
# where stride / padding / dilation sit among the inputs of each convolution op
CONV_ARGS = {"conv1d": (3, 4, 5), "conv2d": (3, 4, 5), "conv3d": (3, 4, 5), "convolution": (3, 4, 5),
             "_convolution": (3, 4, 5), "cudnn_convolution": (3, 2, 4), "mkldnn_convolution": (3, 2, 4),
             "miopen_convolution": (3, 2, 4)}

NAME_RULES = [  # kernel name → class, for kernels no op names (our own launches outside ops, unknown ops)
    ("copies/transposes", re.compile(r"nchwToNhwc|nhwcToNchw|transpose|permute|copy|memcpy|memset|CatArray", re.I)),
    ("attention", re.compile(r"flash|fmha|attention|sdpa", re.I)),
    ("convolutions", re.compile(r"conv|fprop|implicit_gemm|winograd", re.I)),
    ("matrix products", re.compile(r"gemm|nvjet|gemv|matmul|cutlass|xmma|time_proj", re.I)),
    ("norms", re.compile(r"norm|channel_sums|group_stats|apply_norm", re.I)),
    ("elementwise", re.compile(r"elementwise|geglu|silu|gelu|add|mul", re.I)),
]


def short(op):
    return op.split("::", 1)[1] if "::" in op else op


def op_class(name):
    """The kernel class an op name stands for, or None (keep looking at the enclosing op)."""
    s = short(name)
    if "attention" in s:
        return "attention"
    if s in CONV_ARGS or "conv" in s:
        return "convolutions"
    if s in MATMUL_OPS:
        return "matrix products"
    if "norm" in s:
        return "norms"
    if s in COPY_OPS or s.endswith("copy_") or s.startswith(("upsample", "_upsample")):
        return "copies/transposes"
    if s in ELEMENTWISE_OPS:
        return "elementwise"
    if s in ("softmax", "_softmax", "log_softmax", "sum", "mean", "var_mean", "max", "argmax", "topk", "sort", "cumsum"):
        return "other"
    return None


def name_class(kernel_name):
    for cls, rx in NAME_RULES:
        if rx.search(kernel_name):
            return cls
    return "other"


def prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def ints(concrete):
    """'[2, 2]' → [2, 2]; '1' → [1]; '' → None."""
    if concrete is None or concrete == "":
        return None
    try:
        v = json.loads(concrete)
    except ValueError:
        return None
    return v if isinstance(v, list) else [v]


def flops(op):
    """FLOPs of a convolution, matrix product or attention op from its input shapes, or None."""
    s = short(op["name"])
    args = op.get("args", {})
    dims = args.get("Input Dims", [])
    conc = args.get("Concrete Inputs", [])
    try:
        if s in CONV_ARGS:
            x, w = dims[0], dims[1]
            si, pi, di = CONV_ARGS[s]
            k = w[2:]
            stride = ints(conc[si]) if si < len(conc) else None
            pad = ints(conc[pi]) if pi < len(conc) else None
            dil = ints(conc[di]) if di < len(conc) else None
            out = []
            for i, h in enumerate(x[2:]):
                st = (stride or [1])[i if stride and len(stride) > 1 else 0]
                p = (pad or [k[i] // 2])[i if pad and len(pad) > 1 else 0]
                d = (dil or [1])[i if dil and len(dil) > 1 else 0]
                out.append((h + 2 * p - d * (k[i] - 1) - 1) // st + 1)
            return 2 * x[0] * w[0] * prod(out) * w[1] * prod(k)
        if s in ("mm", "_scaled_mm"):
            (m, k), (_, n) = dims[0], dims[1]
            return 2 * m * k * n
        if s in ("addmm", "_addmm_activation"):
            (m, k), (_, n) = dims[1], dims[2]
            return 2 * m * k * n
        if s == "bmm":
            (b, m, k), (_, _, n) = dims[0], dims[1]
            return 2 * b * m * k * n
        if s in ("baddbmm", "addbmm"):
            (b, m, k), (_, _, n) = dims[1], dims[2]
            return 2 * b * m * k * n
        if s in ("linear", "linear_residual", "fp8_linear", "fp8_linear_residual"):
            x, w = dims[0], dims[1]
            return 2 * prod(x[:-1]) * x[-1] * w[0]
        if s == "matmul":
            a, b = dims[0], dims[1]
            if len(b) == 2:
                return 2 * prod(a[:-1]) * a[-1] * b[-1]
            return 2 * prod(a[:-2]) * a[-2] * a[-1] * b[-1]
        if op["name"] in ("sd::cross_attention", "sd::self_attention"):  # ours: q (B, N, C), k, v (B, M, C), C = H·d
            q, k = dims[0], dims[1]
            return 2 * 2 * q[0] * q[1] * k[1] * q[2]  # Q·Kᵀ and P·V: 2·B·H·N·M·d each
        if ATTENTION_OPS_BHND.match(op["name"]):
            q, k, v = dims[0], dims[1], dims[2]
            if len(q) == 3:  # (B, N, d): one head
                q, k, v = [1] + q, [1] + k, [1] + v
            bh = prod(q[:-2])
            return 2 * bh * q[-2] * k[-2] * q[-1] + 2 * bh * q[-2] * k[-2] * v[-1]
    except (IndexError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None


def tensor_bytes(dims, types):
    """Bytes of each tensor input (tensor lists summed), in input order; None where an input is no tensor."""
    out = []
    for i, d in enumerate(dims):
        t = types[i] if i < len(types) else ""
        if t in ("TensorList", "GenericList") or (d and isinstance(d[0], list)):
            out.append(sum(prod(x) for x in d if isinstance(x, list)) * 2 if d else None)  # element type unknown: 2
        elif t in DTYPE_BYTES:
            out.append(prod(d) * DTYPE_BYTES[t])
        else:
            out.append(None)
    return out


def op_bytes(op):
    """Least bytes an op moves: its tensor inputs plus an output the size of its largest input (in-place ops:
    the first input written back; copy_: its two inputs already are the read and the write; geglu's gate writes half,
    its FP8 form (sd::geglu_gate_fp8) a quarter (1 byte per output; its per-row scales left out); sd::add_layer_norm
    writes two, sd::layer_norm_fp8 a half (1 byte per element), sd::add_layer_norm_fp8 one and a half (the fp16 sum and
    the FP8 norm); sd::cat_group_norm writes its two parts' concatenation; sd::upsample_nearest four times its input)."""
    name = op["name"]
    s = short(name)
    args = op.get("args", {})
    tb = tensor_bytes(args.get("Input Dims", []), args.get("Input type", []))
    known = [b for b in tb if b is not None]
    if not known:
        return 0
    total = sum(known)
    if s.endswith("copy_"):
        return total
    if s == "geglu_gate_fp8":
        return total + max(known) // 4
    if s.startswith("geglu"):
        return total + max(known) // 2
    if s == "add_layer_norm":  # writes the sum and the norm
        return total + 2 * max(known)
    if s == "layer_norm_fp8":
        return total + max(known) // 2
    if s == "add_layer_norm_fp8":  # the fp16 sum and the FP8 norm
        return total + 3 * max(known) // 2
    if s == "cat_group_norm" and len(tb) >= 2 and tb[0] is not None and tb[1] is not None:  # (x1, x2, gamma)
        return total + tb[0] + tb[1]
    if s.endswith("_") and not s.endswith("__") and tb and tb[0] is not None:
        return total + tb[0]
    if s == "cat":
        return 2 * total
    if s == "upsample_nearest" and name.startswith("sd::") and tb and tb[0] is not None:  # ours: exactly 2x
        return total + 4 * tb[0]
    if s.startswith(("upsample", "_upsample")):  # the output's size is an argument: (N, C) of the input, given (H, W)
        conc = args.get("Concrete Inputs") or []
        size = ints(conc[1]) if len(conc) > 1 else None
        dims = args.get("Input Dims", [[]])[0]
        if size and len(dims) == 2 + len(size) and prod(dims[2:]):
            return total + tb[0] * prod(size) // prod(dims[2:])
    return total + max(known)


class Trace:
    def __init__(self, data, range_name="unet_call"):
        events = data["traceEvents"] if isinstance(data, dict) else data
        self.device = ""
        if isinstance(data, dict) and data.get("deviceProperties"):
            self.device = data["deviceProperties"][0].get("name", "")
        self.ops = {}          # External id → cpu op
        self.parent = {}       # External id → enclosing op's External id
        self.children = defaultdict(list)
        self.roots = defaultdict(list)  # (pid, tid) → outermost ops, in time order
        self.kernels = []      # GPU events: kernels, memcpy, memset
        self.ranges = []
        self.annotations = defaultdict(list)  # user annotation name → its events (every range, range_name's too)
        runtime = {}           # correlation → External id (runtime launch events)
        by_thread = defaultdict(list)
        for e in events:
            if e.get("ph") != "X":
                continue
            cat = e.get("cat", "")
            args = e.get("args", {})
            if cat in ("cpu_op", "user_annotation"):
                if cat == "user_annotation":
                    self.annotations[e.get("name")].append(e)
                if cat == "user_annotation" and e.get("name") == range_name:
                    self.ranges.append(e)
                    continue
                if cat == "cpu_op" and "External id" in args:
                    self.ops[args["External id"]] = e
                    by_thread[(e.get("pid"), e.get("tid"))].append(e)
            elif cat in ("kernel", "gpu_memcpy", "gpu_memset"):
                self.kernels.append(e)
            elif cat in ("cuda_runtime", "cuda_driver") and "correlation" in args:
                runtime[args["correlation"]] = (args.get("External id"), e["ts"], (e.get("pid"), e.get("tid")))
        for evs in by_thread.values():  # nesting by time: the enclosing op of each op on its thread
            evs.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
            stack = []
            for e in evs:
                end = e["ts"] + e.get("dur", 0)
                while stack and stack[-1][1] < end - 1e-3:
                    stack.pop()
                if stack:
                    self.parent[e["args"]["External id"]] = stack[-1][0]
                    self.children[stack[-1][0]].append(e)
                else:
                    self.roots[(e.get("pid"), e.get("tid"))].append(e)
                stack.append((e["args"]["External id"], end))
        for k in self.kernels:
            a = k.get("args", {})
            ext = a.get("External id")
            launch = runtime.get(a.get("correlation"))
            if launch and not ext:
                ext = launch[0]
            if launch and ext not in self.ops:  # no op named: the outermost op around the launch call, if any
                ext = self.root_at(launch[2], launch[1])
            if ext in self.ops and launch:  # the innermost op around the launch call: the one that launched it
                ext = self.innermost(ext, launch[1])
            k["_op"] = ext if ext in self.ops else None

    def root_at(self, thread, ts):
        roots = self.roots.get(thread, [])
        i = bisect.bisect_right([r["ts"] for r in roots], ts) - 1
        if i >= 0 and ts <= roots[i]["ts"] + roots[i].get("dur", 0):
            return roots[i]["args"]["External id"]
        return None

    def innermost(self, ext, ts):
        while True:
            inner = next((c for c in self.children.get(ext, ())
                          if c["ts"] <= ts <= c["ts"] + c.get("dur", 0)), None)
            if inner is None:
                return ext
            ext = inner["args"]["External id"]

    def chain(self, ext):
        while ext is not None:
            yield ext, self.ops[ext]
            ext = self.parent.get(ext)

    def classify(self, k):
        """(class, External id of the op whose FLOPs the kernel's work belongs to or None, External id of the op
        whose bytes it moves, or (that id, "transpose") for a layout transpose inside an op, or None)."""
        name = k.get("name", "")
        cat = k.get("cat")
        if cat in ("gpu_memcpy", "gpu_memset"):
            return "copies/transposes", None, None
        cls, flop_op, first_op = None, None, None
        for ext, op in self.chain(k["_op"]):
            if first_op is None and any(b for b in tensor_bytes(op["args"].get("Input Dims", []),
                                                                op["args"].get("Input type", [])) if b):
                first_op = ext
            c = op_class(op["name"])
            if cls is None and c is not None:
                cls = c
                if c not in COMPUTE:
                    first_op = ext
            if c in COMPUTE and flop_op is None and flops(op) is not None:
                flop_op = ext
            if cls is not None and (cls not in COMPUTE or flop_op is not None):
                break
        if NAME_RULES[0][1].search(name) and cls != "copies/transposes":
            # a layout transpose inside a convolution etc.: a copy, of (at most) the op's largest input
            return "copies/transposes", flop_op, (first_op, "transpose") if first_op is not None else None
        if cls is None:
            cls = name_class(name)
        return cls, flop_op, first_op

    def table(self, calls=None):
        n = calls or len(self.ranges) or 1
        time = defaultdict(float)
        count = defaultdict(int)
        work = defaultdict(float)
        self.ideal = defaultdict(float)      # class → seconds its FLOPs take at the peak of their dtype
        self.fp32 = defaultdict(lambda: [0, 0])  # class → [float32 ops, other ops] with FLOPs
        seen = set()
        per_kernel = defaultdict(lambda: [0.0, 0, ""])
        self.per_op = defaultdict(lambda: [0.0, 0])  # (memory-bound class, launching op) → [ms, kernels]
        self.per_shape = defaultdict(lambda: [0.0, 0, 0.0, 0.0, set()])  # (class, op, shapes) → [ms, kernels, FLOPs, ideal s, ops]
        for k in self.kernels:
            cls, flop_op, byte_op = self.classify(k)
            dur = k.get("dur", 0) / 1000.0  # ms
            time[cls] += dur
            count[cls] += 1
            if cls not in COMPUTE:
                ext = byte_op[0] if isinstance(byte_op, tuple) else byte_op
                po = self.per_op[(cls, self.ops[ext]["name"] if ext is not None else k.get("cat", "?"))]
                po[0] += dur
                po[1] += 1
            pk = per_kernel[k.get("name", "?")]
            pk[0] += dur
            pk[1] += 1
            pk[2] = cls
            if cls in COMPUTE and flop_op is not None:
                fo = self.ops[flop_op]
                ps = self.per_shape[(cls, short(fo["name"]), json.dumps([d for d in fo["args"].get("Input Dims", []) if d]))]
                ps[0] += dur
                ps[1] += 1
                if flop_op not in ps[4]:
                    ps[4].add(flop_op)
                    f = flops(fo)
                    fp32 = (fo["args"].get("Input type") or [""])[0] == "float"
                    ps[2] += f
                    ps[3] += f / ((PEAK_TF32 if fp32 else PEAK_TFLOPS) * 1e12)
            if cls in COMPUTE:
                if flop_op is not None and flop_op not in seen:
                    seen.add(flop_op)
                    f = flops(self.ops[flop_op])
                    c = op_class(self.ops[flop_op]["name"])
                    work[c] += f
                    fp32 = (self.ops[flop_op]["args"].get("Input type") or [""])[0] == "float"
                    self.ideal[c] += f / ((PEAK_TF32 if fp32 else PEAK_TFLOPS) * 1e12)
                    self.fp32[c][0 if fp32 else 1] += 1
            elif k.get("cat") == "gpu_memcpy":
                work[cls] += k.get("args", {}).get("bytes", 0)
            elif k.get("cat") == "gpu_memset":
                work[cls] += k.get("args", {}).get("bytes", 0)
            elif isinstance(byte_op, tuple):  # a transpose: read + write its largest input, once per op
                if byte_op not in seen:
                    seen.add(byte_op)
                    a = self.ops[byte_op[0]]["args"]
                    work[cls] += 2 * max(b or 0 for b in tensor_bytes(a.get("Input Dims", []), a.get("Input type", [])))
            elif byte_op is not None and (byte_op, cls) not in seen:
                seen.add((byte_op, cls))
                work[cls] += op_bytes(self.ops[byte_op])
        return n, time, count, work, per_kernel

    def shape_markdown(self, n, top):
        """The compute ops (convolutions, products, attention) grouped by op and input shapes, ranked by the time they
        lose against the peak of their dtype (GPU time − FLOPs / peak): where the matrix units wait."""
        rows = []
        for (cls, op, dims), (t, c, f, ideal, ops) in self.per_shape.items():
            rows.append((t - 1000.0 * ideal, cls, op, dims, t, c, f, ideal, len(ops)))
        rows.sort(key=lambda r: -r[0])
        lines = [f"Compute ops by input shapes, the {top} that lose the most time against the peak (ms per call):", "",
                 "| class | op | input shapes | ops per call | kernels per call | ms per call | TFLOP/s | of peak | ms lost |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for lost, cls, op, dims, t, c, f, ideal, k in rows[:top]:
            rate = f / (t / 1000.0) / 1e12 if t else 0.0
            eff = 100 * 1000.0 * ideal / t if t else 0.0
            lines.append(f"| {cls} | `{op}` | `{dims}` | {k / n:.1f} | {c / n:.1f} | {t / n:.3f} | {rate:.0f} | "
                         f"{eff:.0f}% | {lost / n:.3f} |")
        lines.append("")
        return lines

    def markdown(self, title, calls=None, top=15, per_op_top=6, shape_top=25):
        n, time, count, work, per_kernel = self.table(calls)
        busy = sum(time.values())
        lines = []
        wall = ""
        if self.ranges and not calls:
            w = sum(r.get("dur", 0) for r in self.ranges) / len(self.ranges) / 1000.0
            wall = f"; wall time per call {w:.2f} ms (synchronised), GPU busy {100 * busy / n / w:.0f}% of it" if w else ""
        lines.append(f"### {title}: {n} call(s) profiled{' on ' + self.device if self.device else ''}; "
                     f"kernel time per call {busy / n:.2f} ms{wall}")
        lines.append("")
        lines.append("| kernel class | kernels per call | GPU time per call (ms) | share | achieved | of the H200's limit |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        total_flops = 0.0
        for cls in CLASSES:
            if count[cls] == 0:
                continue
            t = time[cls] / n
            secs = time[cls] / 1000.0
            if cls in COMPUTE:
                total_flops += work[cls]
                rate = work[cls] / secs / 1e12 if secs and work[cls] else 0.0
                ach = f"{rate:.0f} TFLOP/s ({work[cls] / n / 1e12:.3f} TFLOP per call)" if work[cls] else "–"
                f32, other = self.fp32[cls]
                peak = (f"{PEAK_TF32:.0f} TFLOP/s (TF32: float32 inputs)" if not other else
                        f"{PEAK_TFLOPS:.0f} TFLOP/s" if not f32 else
                        f"the peak of each op's dtype ({PEAK_TFLOPS:.0f} fp16, {PEAK_TF32:.0f} TF32)")
                lim = f"{100 * self.ideal[cls] / secs:.0f}% of {peak}" if work[cls] and secs else ""
            else:
                rate = work[cls] / secs / 1e9 if secs and work[cls] else 0.0
                ach = f"{rate:.0f} GB/s ({work[cls] / n / 1e9:.2f} GB per call)" if work[cls] else "–"
                lim = f"{100 * rate / PEAK_GBS:.0f}% of {PEAK_GBS / 1000:.1f} TB/s" if work[cls] else ""
            lines.append(f"| {cls} | {count[cls] / n:.0f} | {t:.2f} | {100 * time[cls] / busy:.1f}% | {ach} | {lim} |")
        rate = total_flops / (busy / 1000.0) / 1e12 if busy else 0.0
        lines.append(f"| all kernels | {sum(count.values()) / n:.0f} | {busy / n:.2f} | 100% | "
                     f"{rate:.0f} TFLOP/s over all kernel time ({total_flops / n / 1e12:.3f} TFLOP per call) | "
                     f"{100 * rate / PEAK_TFLOPS:.0f}% of {PEAK_TFLOPS:.0f} TFLOP/s |")
        lines.append("")
        lines.append(f"Top {top} kernels by time:")
        lines.append("")
        lines.append("| # | kernel | class | launches per call | ms per call | share |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        ranked = sorted(per_kernel.items(), key=lambda kv: -kv[1][0])[:top]
        for i, (name, (t, c, cls)) in enumerate(ranked, 1):
            nm = name.replace("|", "\\|")
            nm = nm if len(nm) <= 110 else nm[:107] + "..."
            lines.append(f"| {i} | `{nm}` | {cls} | {c / n:.0f} | {t / n:.3f} | {100 * t / busy:.1f}% |")
        lines.append("")
        lines.append(f"Memory-bound classes by the op that launched the kernels (the {per_op_top} largest each):")
        lines.append("")
        lines.append("| class | op | kernels per call | ms per call |")
        lines.append("| --- | --- | --- | --- |")
        for cls in CLASSES:
            ops = sorted(((op, v) for (c, op), v in self.per_op.items() if c == cls), key=lambda kv: -kv[1][0])
            for op, (t, c) in ops[:per_op_top]:
                lines.append(f"| {cls} | `{op}` | {c / n:.0f} | {t / n:.3f} |")
        lines.append("")
        lines += self.shape_markdown(n, shape_top)
        return "\n".join(lines)


    def gpu_union(self):
        """The GPU timeline's busy intervals: the union of every kernel, memcpy and memset, sorted, disjoint (µs)."""
        if getattr(self, "_union", None) is None:
            merged = []
            for s, e in sorted((k["ts"], k["ts"] + k.get("dur", 0)) for k in self.kernels):
                if merged and s <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            self._union = merged
            self._union_ends = [e for _, e in merged]
            self._starts = sorted(k["ts"] for k in self.kernels)
        return self._union

    def busy_in(self, t0, t1):
        """µs of [t0, t1] during which the GPU runs anything, and the number of GPU events starting in it."""
        union = self.gpu_union()
        busy = 0.0
        i = bisect.bisect_right(self._union_ends, t0)
        while i < len(union) and union[i][0] < t1:
            busy += max(0.0, min(union[i][1], t1) - max(union[i][0], t0))
            i += 1
        n = bisect.bisect_left(self._starts, t1) - bisect.bisect_left(self._starts, t0)
        return busy, n

    def phases(self):
        """{name: (ranges, wall ms, GPU busy ms, kernels)} for "image" and each phase range found, plus
        "outside the phases" (the image minus text, latents, denoise and decode)."""
        out = {}
        for name in ["image"] + PHASES:
            rs = self.annotations.get(name, [])
            if not rs:
                continue
            wall = busy = 0.0
            kernels = 0
            for r in rs:
                b, n = self.busy_in(r["ts"], r["ts"] + r.get("dur", 0))
                wall += r.get("dur", 0)
                busy += b
                kernels += n
            out[name] = (len(rs), wall / 1000.0, busy / 1000.0, kernels)
        if "image" in out:
            _, w, b, k = out["image"]
            for name in TOP_PHASES:
                if name in out:
                    w, b, k = w - out[name][1], b - out[name][2], k - out[name][3]
            out["outside the phases"] = (out["image"][0], w, b, k)
        return out

    def phase_markdown(self, title):
        ph = self.phases()
        lines = [f"### {title}: phases{' on ' + self.device if self.device else ''}", "",
                 "| range | ranges | wall (ms) | GPU busy (ms) | GPU idle (ms) | busy | kernels |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        label = {"step": "step (in denoise: guidance + scheduler)", "preview": "preview (in denoise: host copy + render)",
                 "outside the phases": "image outside text/latents/denoise/decode"}
        for name in ["image", "text", "latents", "denoise", "step", "preview", "decode", "outside the phases"]:
            if name not in ph:
                continue
            c, w, b, k = ph[name]
            share = f"{100 * b / w:.0f}%" if w > 0 else "–"
            lines.append(f"| {label.get(name, name)} | {c} | {w:.2f} | {b:.2f} | {w - b:.2f} | {share} | {k} |")
        lines.append("")
        return "\n".join(lines)


def title_of(path):
    base = os.path.basename(path)
    names = {"sd15": "SD 1.5", "sdxl": "SDXL"}
    m = re.match(r"unet_(sd15|sdxl)_b(\d+)", base)
    if m:
        model = {"sd15": "SD 1.5 UNet (64x64 latents)", "sdxl": "SDXL UNet (128x128 latents)"}[m.group(1)]
        return f"{model}, batch {m.group(2)}, eager + native ops ({base})"
    m = re.match(r"image_(sd15|sdxl)_(\d+)", base)
    if m:
        what = "one image, previews every 5 steps" if m.group(2) == "1" else f"{m.group(2)} images in one batch"
        return f"{names[m.group(1)]} {what}, CUDA graphs as the pipeline runs them ({base})"
    m = re.match(r"vae_(sd15|sdxl)", base)
    if m:
        return f"{names[m.group(1)]} VAE decode of one image, in the pipeline's decode dtype ({base})"
    return base


# ---------------------------------------------------------------------------------------------- self-test

def synthetic_trace():
    """Two 'unet_call' ranges, each: a stride-2 convolution (+ a layout transpose and the bias add), a linear
    layer, SDPA (flash), our GroupNorm and GEGLU gate (no aten op inside), a copy, an unlinked kernel, a memcpy."""
    ev, ext = [], [0]

    def op(name, ts, dur, dims=(), types=(), conc=(), cat="cpu_op"):
        ext[0] += 1
        ev.append({"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur,
                   "args": {"External id": ext[0], "Input Dims": list(dims), "Input type": list(types),
                            "Concrete Inputs": list(conc)}})
        return ext[0]

    def kern(name, ts, dur, ext_id, cat="kernel", **extra):
        a = {"correlation": 1000 + len(ev), "stream": 7}
        if ext_id is not None:
            a["External id"] = ext_id
        a.update(extra)
        ev.append({"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": 7, "ts": ts, "dur": dur, "args": a})

    H = "c10::Half"
    for call in range(2):
        t0 = call * 10000
        ev.append({"ph": "X", "cat": "user_annotation", "name": "unet_call", "pid": 1, "tid": 1, "ts": t0,
                   "dur": 2000, "args": {"External id": 0}})
        x, w = [2, 320, 64, 64], [320, 320, 3, 3]
        op("aten::conv2d", t0 + 10, 100, [x, w, [320], [], [], [], []], [H, H, H, "ScalarList", "ScalarList",
                                                                          "ScalarList", "Scalar"],
           ["", "", "", "[2, 2]", "[1, 1]", "[1, 1]", "1"])
        op("aten::convolution", t0 + 11, 98, [x, w, [320]], [H, H, H],
           ["", "", "", "[2, 2]", "[1, 1]", "[1, 1]", "False", "[0, 0]", "1"])
        op("aten::_convolution", t0 + 12, 96, [x, w, [320]], [H, H, H],
           ["", "", "", "[2, 2]", "[1, 1]", "[1, 1]", "False", "[0, 0]", "1", "False", "False", "True", "True"])
        c = op("aten::cudnn_convolution", t0 + 13, 50, [x, w], [H, H],
               ["", "", "[1, 1]", "[2, 2]", "[1, 1]", "1", "False", "False", "True"])
        kern("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc", t0 + 100, 300, c)
        kern("void cudnn::ops::nchwToNhwcKernel<__half>(...)", t0 + 400, 20, c)
        op("aten::add_", t0 + 70, 20, [[2, 320, 32, 32], [1, 320, 1, 1], []], [H, H, "Scalar"])
        # a launch whose External id names the outermost op: the runtime call's time finds aten::add_
        ev.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": t0 + 75,
                   "dur": 3, "args": {"External id": c - 3, "correlation": 50 + call}})
        kern("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::Half>>", t0 + 420,
             10, c - 3, correlation=50 + call)
        op("aten::linear", t0 + 200, 50, [[2, 4096, 320], [960, 320], [960]], [H, H, H])
        mm = op("aten::addmm", t0 + 201, 45, [[960], [8192, 320], [320, 960], [], []], [H, H, H, "Scalar", "Scalar"])
        kern("nvjet_hsh_256x128_64x4_1x2_h_bz_coopA_NNT", t0 + 430, 40, mm)
        q = [2, 8, 4096, 40]
        op("aten::scaled_dot_product_attention", t0 + 300, 60, [q, q, q], [H, H, H])
        op("aten::_scaled_dot_product_flash_attention", t0 + 301, 58, [q, q, q], [H, H, H])
        f = op("aten::_flash_attention_forward", t0 + 302, 50, [[2, 4096, 8, 40]] * 3, [H, H, H])
        kern("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128>>", t0 + 480, 200, f)
        g = op("sd::group_norm", t0 + 400, 30, [x, [320], [320]], [H, H, H])
        z = op("aten::zeros", t0 + 401, 5, [[], [], [], []], ["", "", "", ""])
        kern("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>", t0 + 690, 2, z)
        kern("channel_sums(__half const*, float*, long, int, int, int)", t0 + 700, 30, g)
        kern("apply_norm(__half const*, __half*, float const*, float const*, __half const*)", t0 + 740, 20, g)
        op("sd::geglu_gate", t0 + 450, 10, [[2, 4096, 2560]], [H])
        # neither the kernel nor its launch names an op: the launch's time on its thread finds sd::geglu_gate
        ev.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": t0 + 455,
                   "dur": 2, "args": {"correlation": 70 + call}})
        kern("geglu_kernel(__half const*, __half*, long, int)", t0 + 770, 25, None, correlation=70 + call)
        up = op("aten::upsample_nearest2d", t0 + 480, 10, [[2, 320, 32, 32], [], []], [H, "ScalarList", ""],
                ["", "[64, 64]", ""])
        kern("void at::native::upsample_nearest2d_nhwc_out_frame<c10::Half>", t0 + 790, 8, up)
        cp = op("aten::copy_", t0 + 500, 10, [x, x, []], [H, H, "Scalar"])
        kern("void at::native::elementwise_kernel<128, 4, direct_copy_kernel_cuda>", t0 + 800, 10, cp)
        kern("mystery_kernel(float*)", t0 + 820, 5, None)
        kern("Memcpy DtoD (Device -> Device)", t0 + 830, 4, None, cat="gpu_memcpy", bytes=4_000_000)
    return {"traceEvents": ev, "deviceProperties": [{"name": "NVIDIA H200"}]}


def synthetic_image_trace():
    """One "image" range [0, 1000] µs with the pipeline's phase ranges and kernels that overlap each other and
    cross range boundaries; the decode's kernel a float32 NCHW convolution (TF32)."""
    ev = []

    def rng(name, ts, dur):
        ev.append({"ph": "X", "cat": "user_annotation", "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur,
                   "args": {}})

    def kern(name, ts, dur, cat="kernel", **args):
        ev.append({"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": 7, "ts": ts, "dur": dur, "args": args})

    rng("image", 0, 1000)
    rng("text", 10, 100)
    rng("latents", 110, 20)
    rng("denoise", 130, 670)
    rng("step", 300, 20)
    rng("step", 600, 20)
    rng("preview", 700, 50)
    rng("decode", 800, 190)
    kern("k1", 20, 40)
    kern("k2", 40, 40)           # overlaps k1: text busy 20..80
    kern("k3", 100, 50)          # crosses text | latents | denoise
    kern("k4", 200, 300)
    kern("k5", 250, 50)          # inside k4
    kern("Memcpy DtoH (Device -> Pinned)", 705, 10, cat="gpu_memcpy", bytes=32768)
    x, w = [1, 512, 128, 128], [512, 512, 3, 3]
    ev.append({"ph": "X", "cat": "cpu_op", "name": "aten::conv2d", "pid": 1, "tid": 1, "ts": 810, "dur": 20,
               "args": {"External id": 1, "Input Dims": [x, w, [512], [], [], [], []],
                        "Input type": ["float", "float", "float", "ScalarList", "ScalarList", "ScalarList", "Scalar"],
                        "Concrete Inputs": ["", "", "", "[1, 1]", "[1, 1]", "[1, 1]", "1"]}})
    ev.append({"ph": "X", "cat": "cpu_op", "name": "aten::cudnn_convolution", "pid": 1, "tid": 1, "ts": 812,
               "dur": 10, "args": {"External id": 2, "Input Dims": [x, w], "Input type": ["float", "float"],
                                   "Concrete Inputs": ["", "", "[1, 1]", "[1, 1]", "[1, 1]", "1"]}})
    kern("sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nchwkcrs_nchw_tilesize128x128x16", 850, 250,
         **{"External id": 2, "correlation": 5})  # runs past the decode range and the image
    return {"traceEvents": ev, "deviceProperties": [{"name": "NVIDIA H200"}]}


def selftest():
    import unittest

    class PhaseSummaryTest(unittest.TestCase):
        def setUp(self):
            self.t = Trace(synthetic_image_trace(), "image")

        def test_busy_idle_kernels(self):
            ph = self.t.phases()
            self.assertEqual(ph["text"][0], 1)
            self.assertAlmostEqual(ph["text"][1], 0.100)
            self.assertAlmostEqual(ph["text"][2], 0.070)  # k1 ∪ k2 = 20..80, k3 until 110
            self.assertEqual(ph["text"][3], 3)
            self.assertAlmostEqual(ph["latents"][2], 0.020)
            self.assertEqual(ph["latents"][3], 0)
            self.assertAlmostEqual(ph["denoise"][2], 0.330)  # k3 130..150, k4 ∪ k5, the memcpy
            self.assertEqual(ph["denoise"][3], 3)
            self.assertEqual(ph["step"][:2], (2, 0.040))
            self.assertAlmostEqual(ph["step"][2], 0.020)
            self.assertEqual(ph["step"][3], 0)
            self.assertAlmostEqual(ph["preview"][2], 0.010)
            self.assertEqual(ph["preview"][3], 1)
            self.assertAlmostEqual(ph["decode"][2], 0.140)
            self.assertAlmostEqual(ph["image"][1], 1.0)
            self.assertAlmostEqual(ph["image"][2], 0.060 + 0.050 + 0.300 + 0.010 + 0.150)
            self.assertEqual(ph["image"][3], 7)
            self.assertAlmostEqual(ph["outside the phases"][1], 0.020)
            self.assertAlmostEqual(ph["outside the phases"][2], 0.010)  # the convolution from 990 to 1000
            self.assertEqual(ph["outside the phases"][3], 0)

        def test_markdown(self):
            md = self.t.phase_markdown("synthetic image")
            self.assertIn("| image | 1 | 1.00 | 0.57 | 0.43 | 57% | 7 |", md)
            self.assertIn("| text | 1 | 0.10 | 0.07 | 0.03 | 70% | 3 |", md)
            self.assertIn("| step (in denoise: guidance + scheduler) | 2 | 0.04 | 0.02 | 0.02 | 50% | 0 |", md)

        def test_float32_convolution(self):
            k = next(k for k in self.t.kernels if "fprop" in k["name"])
            self.assertEqual(self.t.classify(k)[0], "convolutions")
            md = self.t.markdown("synthetic image")
            flop = 2 * 512 * 128 * 128 * 512 * 9
            self.assertIn(f"| convolutions | 1 | 0.25 |", md)
            pct = 100 * flop / (PEAK_TF32 * 1e12) / 250e-6
            self.assertIn(f"{pct:.0f}% of {PEAK_TF32:.0f} TFLOP/s (TF32: float32 inputs)", md)

    class ProfileTableTest(unittest.TestCase):
        def setUp(self):
            self.t = Trace(synthetic_trace())

        def cls(self, fragment):
            k = next(k for k in self.t.kernels if fragment in k["name"])
            return self.t.classify(k)[0]

        def test_classes(self):
            self.assertEqual(self.cls("fprop"), "convolutions")
            self.assertEqual(self.cls("nchwToNhwc"), "copies/transposes")
            self.assertEqual(self.cls("CUDAFunctor_add"), "elementwise")  # the bias add inside the convolution
            self.assertEqual(self.cls("nvjet"), "matrix products")
            self.assertEqual(self.cls("flash_fwd"), "attention")
            self.assertEqual(self.cls("channel_sums"), "norms")
            self.assertEqual(self.cls("apply_norm"), "norms")
            self.assertEqual(self.cls("geglu_kernel"), "elementwise")
            self.assertEqual(self.cls("direct_copy"), "copies/transposes")
            self.assertEqual(self.cls("FillFunctor"), "copies/transposes")
            self.assertEqual(self.cls("mystery"), "other")
            self.assertEqual(self.cls("Memcpy"), "copies/transposes")
            self.assertEqual(self.cls("upsample_nearest2d"), "copies/transposes")

        def test_upsample_bytes(self):
            # ours records only its input (exactly 2x: the output is 4 times it); PyTorch's has the size argument
            op = {"name": "sd::upsample_nearest", "args": {"Input Dims": [[16, 640, 32, 32]], "Input type": ["c10::Half"],
                                                         "Concrete Inputs": [""]}}
            x = 16 * 640 * 32 * 32 * 2
            self.assertEqual(op_bytes(op), 5 * x)
            op = {"name": "aten::upsample_nearest2d", "args": {"Input Dims": [[16, 640, 32, 32], [], [], []],
                  "Input type": ["c10::Half", "", "", ""], "Concrete Inputs": ["", "[64, 64]", "", ""]}}
            self.assertEqual(op_bytes(op), 5 * x)

        def test_linear_residual(self):
            op = {"name": "sd::linear_residual", "args": {"Input Dims": [[65536, 1280], [320, 1280], [65536, 320]]}}
            self.assertEqual(op_class(op["name"]), "matrix products")
            self.assertEqual(flops(op), 2 * 65536 * 1280 * 320)
            # the plain linear's op (the attention out-projections, proj_in as a 1x1 product): x (..., K), w (N, K)
            op = {"name": "sd::linear", "args": {"Input Dims": [[16, 4096, 320], [320, 320]]}}
            self.assertEqual(op_class(op["name"]), "matrix products")
            self.assertEqual(flops(op), 2 * 65536 * 320 * 320)

        def test_fp8_products(self):
            # ff.net.2's FP8 product (x8, w8, r) and the FP8 linears' (x8, w8): matrix products with linear's FLOPs
            op = {"name": "sd::fp8_linear_residual", "args": {"Input Dims": [[16, 4096, 1280], [320, 1280],
                                                                              [16, 4096, 320]]}}
            self.assertEqual(op_class(op["name"]), "matrix products")
            self.assertEqual(flops(op), 2 * 65536 * 1280 * 320)
            op = {"name": "sd::fp8_linear", "args": {"Input Dims": [[16, 4096, 320], [2560, 320]]}}
            self.assertEqual(flops(op), 2 * 65536 * 320 * 2560)
            self.assertEqual(op_class("sd::geglu_gate_fp8"), "elementwise")

        def test_time_projections(self):
            # the ResNet blocks' time_emb_proj products in one launch (time_proj.cu): its op records only x, so the
            # kernel's name classes it
            self.assertIsNone(op_class("sd::time_proj"))
            self.assertEqual(name_class("time_proj_kernel(TimeProjTable, uint4 const*, __half*, int, int)"),
                             "matrix products")

        def test_cross_attention(self):
            # our kernel's op: q (B, N, C), k and v (B, M, C) (strided halves of the k|v projection), C = heads·d
            h = "c10::Half"
            op = {"name": "sd::cross_attention", "args": {"Input Dims": [[16, 4096, 320], [16, 77, 320], [16, 77, 320]],
                                                          "Input type": [h, h, h]}}
            self.assertEqual(op_class(op["name"]), "attention")
            self.assertEqual(flops(op), 2 * 16 * 8 * 4096 * 77 * 40 * 2)
            q, kv = 16 * 4096 * 320 * 2, 16 * 77 * 320 * 2
            self.assertEqual(op_bytes(op), q + 2 * kv + q)  # q, k, v read, o written

        def test_self_attention(self):
            # our head-size-40 kernel's op: q, k, v (B, N, C), the strided thirds of the q|k|v projection
            h = "c10::Half"
            dims = [[16, 4096, 320]] * 3
            op = {"name": "sd::self_attention", "args": {"Input Dims": dims, "Input type": [h, h, h]}}
            self.assertEqual(op_class(op["name"]), "attention")
            self.assertEqual(flops(op), 4 * 16 * 8 * 4096 * 4096 * 40)

        def test_fp8_bytes(self):
            # the FP8 norm and gate write 1 byte per element: a half and a quarter of their fp16 inputs
            h = "c10::Half"
            x = 2 * 4096 * 320 * 2
            ln = {"name": "sd::layer_norm_fp8", "args": {"Input Dims": [[2, 4096, 320], []], "Input type": [h, ""]}}
            self.assertEqual(op_bytes(ln), x + x // 2)
            add = {"name": "sd::add_layer_norm_fp8", "args": {"Input Dims": [[2, 4096, 320], [2, 4096, 320]],
                                                               "Input type": [h, h]}}
            self.assertEqual(op_bytes(add), 2 * x + x + x // 2)  # x and d read, the sum and the FP8 norm written
            g = {"name": "sd::geglu_gate_fp8", "args": {"Input Dims": [[2, 4096, 2560]], "Input type": [h]}}
            self.assertEqual(op_bytes(g), 2 * 4096 * 2560 * 2 * 5 // 4)

        def test_cat_group_norm_bytes(self):
            h = "c10::Half"
            op = {"name": "sd::cat_group_norm", "args": {"Input Dims": [[16, 1280, 16, 16], [16, 640, 16, 16], [1920]],
                                                         "Input type": [h, h, h]}}
            parts = (16 * 1280 * 256 + 16 * 640 * 256) * 2
            self.assertEqual(op_bytes(op), 2 * parts + 1920 * 2)  # both parts read, their concatenation written

        def test_flops_and_bytes(self):
            n, time, count, work, _ = self.t.table()
            self.assertEqual(n, 2)
            conv = 2 * 2 * 320 * 32 * 32 * 320 * 9  # stride 2: 32x32 outputs
            self.assertEqual(work["convolutions"], 2 * conv)
            self.assertEqual(work["matrix products"], 2 * (2 * 8192 * 320 * 960))
            self.assertEqual(work["attention"], 2 * (4 * 2 * 8 * 4096 * 4096 * 40))
            add = (2 * 320 * 32 * 32 + 320) * 2 + 2 * 320 * 32 * 32 * 2  # in-place: inputs + the first written back
            geglu = 2 * 4096 * 2560 * 2 * 3 // 2
            self.assertEqual(work["elementwise"], 2 * (add + geglu))
            gn = (2 * 320 * 64 * 64 * 2 + 2 * 320 * 2) + 2 * 320 * 64 * 64 * 2
            self.assertEqual(work["norms"], 2 * gn)
            x = 2 * 320 * 64 * 64 * 2
            up = x // 4 + x  # upsample: 32x32 in, 64x64 out
            self.assertEqual(work["copies/transposes"], 2 * (2 * x + 2 * x + 4_000_000 + up))  # copy_, transpose, memcpy
            self.assertEqual(count["norms"], 4)
            self.assertAlmostEqual(time["attention"], 0.4)

        def test_markdown(self):
            md = self.t.markdown("synthetic")
            self.assertIn("| convolutions | 1 | 0.30 |", md)
            self.assertIn("2 call(s) profiled on NVIDIA H200", md)
            self.assertIn("wall time per call 2.00 ms", md)
            self.assertIn("| 2 | `void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128>>` | attention | 1 | 0.200 | 29.7% |", md)
            tflops = 2 * 2 * 320 * 32 * 32 * 320 * 9 / 300e-6 / 1e12
            self.assertIn(f"| {tflops:.0f} TFLOP/s", md)
            # the memory-bound classes by launching op: the nearest upsample's copy, the transpose inside cuDNN's op
            self.assertIn("| copies/transposes | `aten::upsample_nearest2d` | 1 | 0.008 |", md)
            self.assertIn("| copies/transposes | `aten::cudnn_convolution` | 1 | 0.020 |", md)
            # compute ops by shapes, ranked by the time lost against the peak: the convolution first
            conv = md.index("| convolutions | `cudnn_convolution` | `[[2, 320, 64, 64], [320, 320, 3, 3]]` | 1.0 | 1.0 | 0.300 |")
            self.assertLess(conv, md.index("| matrix products | `addmm` | `[[960], [8192, 320], [320, 960]]` | 1.0 | 1.0 | 0.040 |"))

    suite = unittest.TestSuite([unittest.defaultTestLoader.loadTestsFromTestCase(c)
                                for c in (ProfileTableTest, PhaseSummaryTest)])
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    return 0 if result.wasSuccessful() else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--calls", type=int, help="profiled calls per trace (default: the number of --range annotations)")
    ap.add_argument("--range", default="unet_call", help="the user annotation that marks one call")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if not a.traces:
        ap.error("no trace given")
    for p in a.traces:
        with open(p) as f:
            t = Trace(json.load(f), a.range)
        if t.annotations.get("image"):
            print(t.phase_markdown(title_of(p)))
        print(t.markdown(title_of(p), a.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
