#!/usr/bin/env bash
# The first of the GPU benchmark's two back-to-back device calls (docs/GPU.md), carrying .gpu (scripts/gpu/pack.sh):
# builds DJL's JNI and libsd_native_ops.so, writes the random full-size weights of each model in MODELS
# (default "sd15 sdxl"), and runs diffusers' bench for each, all under /tmp/gpuwork for the second call
# (bench-run.sh), which must follow within the machine's 30 s of idle warmth. CUDA_ARCHS as for build.sh (default Hopper).
# COMPILE=1 (or a torch.compile mode) adds the torch.compile baseline to SD 1.5's diffusers bench (scripts/gpu/
# bench_diffusers.py: minutes more, each shape's compile printed), COMPILE_SDXL=1 to SDXL's (bench_diffusers_sdxl.py:
# longer still; with both, a pair of calls per model, MODELS=sd15 then MODELS=sdxl, stays within a call's 10 minutes).
# PROBE=1 adds probe_channels_last.py (diffusers' UNet and VAE in NCHW and channels-last, a kernel profile of
# diffusers' batch-16 UNet) -> $OUT/probe.txt. DIFFUSERS_MODELS (default: MODELS) picks the models whose diffusers
# bench runs; FP8=1 adds probe_fp8.py (issue 17: diffusers' UNets with their transformer linears as FP8 e4m3
# matrix products: UNet times and image differences against fp16, about 60-90 s; FP8_ARGS: more arguments, e.g.
# "--parts tiny,sd15") -> $OUT/probe_fp8.txt;
# PROBES_ONLY=1 runs only the probes asked for (PROBE, FP8) after unpacking diffusers' source, reading the tree's
# reference/ folder: no builds, no weights, no benches, a call of its own on a cold machine
# (`PROBES_ONLY=1 FP8=1 bash scripts/gpu/bench-build.sh`, carrying .gpu). DIFFUSERS_ONLY=1 keeps a warm machine's
# /tmp/gpuwork (builds, weights) and runs only those benches,
# e.g. a third call `DIFFUSERS_ONLY=1 DIFFUSERS_MODELS=sdxl COMPILE_SDXL=1 bash scripts/gpu/bench-build.sh` between
# the first one and bench-run.sh.
set -euo pipefail
source scripts/gpu/smi.sh
W=/tmp/gpuwork; G=.gpu
T=/opt/torch/.venv/lib/python3.12/site-packages/torch
export TORCH_DIR=$T PYTORCH_LIBRARY_PATH=$T/lib PYTORCH_VERSION=2.11.0 PYTORCH_FLAVOR=cu130 ENGINE_CACHE_DIR=$W/djl-cache CUDA_ARCHS=${CUDA_ARCHS:-Hopper} PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
export DIFFUSERS_SRC=$W/diffusers/src
s=$(date +%s)
RES=worker/src/test/resources/reference  # $W/d/reference: the manifests and the tokenizer the Python scripts read
D=$W/d
if [ -n "${PROBES_ONLY:-}" ]; then
  mkdir -p $W; rm -rf $W/diffusers; tar -C $W -xJf $G/diffusers-src.tar.xz; D=$PWD/$RES/..
elif [ -n "${DIFFUSERS_ONLY:-}" ]; then
  [ -f $W/libsd_native_ops.so ] || { echo "callA: DIFFUSERS_ONLY=1 but the machine is cold (no $W/libsd_native_ops.so)"; exit 3; }
else
rm -rf $W; mkdir -p $W
tar -C $W -xJf $G/include.tar.xz; export JNI_INCLUDE=$W/include
tar -C $W -xJf $G/lib.tar.xz; tar -C $W -xJf $G/diffusers-src.tar.xz
mkdir -p $W/d/reference/tiny-sd15/model $W/d/reference/full-size/sdxl $W/d/reference/full-size/sd15
cp -r $RES/tiny-sd15/model/tokenizer $W/d/reference/tiny-sd15/model/
cp $RES/full-size/sdxl/manifest.json $W/d/reference/full-size/sdxl/
cp $RES/full-size/sd15/manifest.json $W/d/reference/full-size/sd15/
cp -r $RES/tiny-sdxl/model $W/tiny-sdxl
for t in tokenizer tokenizer_2; do cp $RES/tiny-sd15/model/tokenizer/{vocab.json,merges.txt} $W/tiny-sdxl/$t/; done
(for M in ${MODELS:-sd15 sdxl}; do python3 scripts/gpu/gen_$M.py $W/$M --d $W/d > $W/gen_$M.txt 2>&1 || exit 1; done) & P1=$!
(bash worker/src/main/native/build.sh $W/libsd_native_ops.so > $W/native.txt 2>&1) & P2=$!
bash $G/build_djl.sh
wait $P2 || { tail -30 $W/native.txt; exit 1; }; tail -1 $W/native.txt
wait $P1 || { tail -30 $W/gen_*.txt; exit 1; }; tail -n1 $W/gen_*.txt
echo "builds+gen: $(( $(date +%s) - s )) s"
fi
for M in $([ -n "${PROBES_ONLY:-}" ] || echo ${DIFFUSERS_MODELS-${MODELS:-sd15 sdxl}}); do
  if [ $M = sdxl ]; then DB=scripts/gpu/bench_diffusers_sdxl.py; else DB=scripts/gpu/bench_diffusers.py; fi
  s1=$(date +%s); smi_start $W/smi_diffusers_$M.csv
  python3 $DB --d $W/d > $W/diffusers_$M.txt 2> $W/dd_$M.err || { cat $W/diffusers_$M.txt; tail -30 $W/dd_$M.err; exit 1; }
  cp $W/diffusers_$M.txt $OUT/; cat $W/diffusers_$M.txt; echo "diffusers $M: $(( $(date +%s) - s1 )) s"; smi_summary $W/smi_diffusers_$M.csv
done
if [ -n "${PROBE:-}" ]; then
  python3 scripts/gpu/probe_channels_last.py $D > $OUT/probe.txt 2>&1 || echo "probe failed"; head -c 4000 $OUT/probe.txt
fi
if [ -n "${FP8:-}" ]; then
  s1=$(date +%s)
  python3 scripts/gpu/probe_fp8.py --d $D ${FP8_ARGS:-} > $OUT/probe_fp8.txt 2>&1 || echo "probe_fp8 failed"
  { grep -v -i -e 'warn' $OUT/probe_fp8.txt || true; } | head -c 9000 || true
  tail -n 2 $OUT/probe_fp8.txt; echo "probe_fp8: $(( $(date +%s) - s1 )) s"
fi
echo "callA: $(( $(date +%s) - s )) s"
