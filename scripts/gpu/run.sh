#!/usr/bin/env bash
# NOTE: this single-call path needs the tree and the whole kit (JRE included) in one call; since the tree grew
# past 46 MiB that is over 64 MiB, so benchmarks run as two calls: scripts/gpu/bench-build.sh, then bench-run.sh.
# The one command of a GPU benchmark call (docs/GPU.md), run on the device machine from the
# repository root with the ignored kit folder .gpu/ carried (`bash scripts/gpu/pack.sh` here first):
#   bash scripts/gpu/run.sh [JOBS=200] [extra bench args, e.g. --breakdown]
#   MODEL=sdxl bash scripts/gpu/run.sh 100     the SDXL bench instead (issue 13): gen_sdxl.py, bench_diffusers_sdxl.py
#             (both from scripts/gpu, with the repo's full-size/sdxl manifest), --check on the tiny SDXL model
# .gpu/ holds what cannot be committed: jre.tar.xz and lib.tar.xz (pack.sh), DJL's v0.35.1 pytorch-native
# sources with build_djl.sh (builds DJL's JNI against the machine's libtorch), diffusers' src/ as
# diffusers-src.tar.xz, and d/ (bench/bench_diffusers.py, reference/full-size/sd15/manifest.json); the reference
# tokenizer comes from the tests' copy (worker/src/test/resources/reference/tiny-sd15/model/tokenizer).
# Phases (each timed; skip with the flags):
#   jre       unpack jre.tar.xz (jlink JRE + the JDK's include/ for JNI)
#   djl       build DJL's JNI (.gpu/build_djl.sh)                               SKIP_DJL=1
#   native    worker/src/main/native/build.sh -> libsd_native_ops.so           SKIP_NATIVE=1 (then no SD_NATIVE_OPS)
#             (the worker image's build; CUDA_ARCHS=Ampere,Ada,Hopper,Blackwell builds what the image builds)
#             NATIVE_DIR=dir: another copy of worker/src/main/native (must match the Java in lib/)
#   diffusers unpack the diffusers src + d/ (bench, manifest, tokenizer)
#   gen       scripts/gpu/gen_sd15.py: SD 1.5-size random fp16 weights (background, beside the builds)
#   dbench    bench_diffusers.py > $OUT/diffusers.txt                          SKIP_DIFFUSERS=1 (DIFFUSERS_TXT=file to reuse one)
#   doctor    WorkerMain doctor -> $OUT/doctor.txt (exit 0: the GPU runs with the fast path)    SKIP_DOCTOR=1
#   worker    WorkerMain bench --check TINY --model sd15 --diffusers ... --out $OUT/table.md   SKIP_WORKER=1
#             SKIP_CHECK=1 drops --check; TINY=dir overrides the tiny model (default: the repo's test copy)
#   ab        the bench again, --jobs 1, with one switch changed -> table_ab.md
#             AB=1: SD_CHANNELS_LAST=0; AB=VAR=value: that one (e.g. AB=SD_GEGLU_KERNEL=0)
#   probe     probe_channels_last.py (diffusers' UNet/VAE, NCHW vs channels-last, kernel profile) -> probe.txt   PROBE=1
# Outputs in $OUT (or .gpu-out/ when OUT is unset): table.md, worker.txt, doctor.txt, diffusers.txt, timings.txt
# (+ table_ab.md, worker_ab.txt, probe.txt); build and gen logs stay in $GPU_WORK and are echoed.
set -euo pipefail
ROOT="$(pwd)"
G="$ROOT/.gpu"
S="$ROOT/scripts/gpu"
[ -d "$G" ] || { echo "run.sh: run it from the repository root (no .gpu/ here)" >&2; exit 2; }
JOBS="${1:-200}"
shift || true
EXTRA=("$@")
OUT="${OUT:-$ROOT/.gpu-out}"
mkdir -p "$OUT"
W="${GPU_WORK:-/tmp/gpuwork}"
mkdir -p "$W"
TORCH="${TORCH_DIR:-/opt/torch/.venv/lib/python3.12/site-packages/torch}"
[ -d "$TORCH" ] || TORCH="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
export TORCH_DIR="$TORCH"
export PYTORCH_LIBRARY_PATH="$TORCH/lib" PYTORCH_VERSION="${PYTORCH_VERSION:-2.11.0}" PYTORCH_FLAVOR="${PYTORCH_FLAVOR:-cu130}"
export ENGINE_CACHE_DIR="$W/djl-cache"
export PYTHONUNBUFFERED=1
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
TIMES="$OUT/timings.txt"
: > "$TIMES"
T_ALL=$(date +%s)
T=$T_ALL
phase() { # phase NAME: records the time since the previous mark
  local now; now=$(date +%s)
  echo "[run.sh] phase $1: $((now - T)) s (total $((now - T_ALL)) s)" | tee -a "$TIMES"
  T=$now
}
echo "[run.sh] $(date -u +%FT%TZ) jobs=$JOBS extra=${EXTRA[*]:-} torch=$TORCH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' || true

# -- jre, and the worker's jars (lib.tar.xz from pack.sh)
rm -rf "$W/jre" "$W/lib"
tar -C "$W" -xJf "$G/jre.tar.xz"
tar -C "$W" -xJf "$G/lib.tar.xz"
LIB="$W/lib"
JAVA="$W/jre/bin/java"
export JNI_INCLUDE="$W/jre/include"
"$JAVA" -version 2>&1 | head -1
head -1 "$LIB/BUILD_INFO.txt"
phase jre

# -- diffusers src + d/ (bench_diffusers.py reads ../reference/... beside its own folder)
rm -rf "$W/diffusers" "$W/d"
mkdir -p "$W/diffusers"
tar -C "$W" -xJf "$G/diffusers-src.tar.xz"            # -> $W/diffusers/src
cp -r "$G/d" "$W/d"
RES="$ROOT/worker/src/test/resources/reference"
mkdir -p "$W/d/reference/tiny-sd15/model"   # the reference tokenizer folder, from the tests' copy
cp -r "$RES/tiny-sd15/model/tokenizer" "$W/d/reference/tiny-sd15/model/"
export DIFFUSERS_SRC="$W/diffusers/src"
if [ "${MODEL:-sd15}" = sdxl ]; then
  mkdir -p "$W/d/reference/full-size/sdxl"
  cp "$RES/full-size/sdxl/manifest.json" "$W/d/reference/full-size/sdxl/"
  # the tiny SDXL model of the tests, with the CLIP vocabulary its two tokenizers share (TinySdxl does the same)
  rm -rf "$W/tiny-sdxl" && cp -r "$RES/tiny-sdxl/model" "$W/tiny-sdxl"
  for t in tokenizer tokenizer_2; do cp "$RES/tiny-sd15/model/tokenizer/"{vocab.json,merges.txt} "$W/tiny-sdxl/$t/"; done
fi
phase diffusers

# -- gen (GPU + disk; runs beside the CPU-bound builds)
if [ "${MODEL:-sd15}" = sdxl ]; then
  SD15="${SDXL_DIR:-$W/sdxl}"; GEN="$S/gen_sdxl.py"
else
  SD15="${SD15_DIR:-$W/sd15}"; GEN="$S/gen_sd15.py"
fi
GEN_PID=""
if [ -f "$SD15/model_index.json" ] && [ -z "${REGEN:-}" ]; then
  echo "[run.sh] weights already at $SD15"
else
  rm -rf "$SD15"
  ( set +e; s=$(date +%s); python3 "$GEN" "$SD15" --d "$W/d"; rc=$?; echo "$(basename "$GEN"): $(( $(date +%s) - s )) s, exit $rc"; exit $rc ) > "$W/gen.txt" 2>&1 &
  GEN_PID=$!
fi

# -- native ops (one translation unit: built beside DJL's 14)
NATIVE_SO="$W/libsd_native_ops.so"
NATIVE_PID=""
if [ -z "${SKIP_NATIVE:-}" ]; then
  ( set +e; s=$(date +%s); bash "${NATIVE_DIR:-worker/src/main/native}/build.sh" "$NATIVE_SO"; rc=$?; echo "native ops build: $(( $(date +%s) - s )) s, exit $rc"; exit $rc ) > "$W/build_native.txt" 2>&1 &
  NATIVE_PID=$!
fi

# -- djl
if [ -z "${SKIP_DJL:-}" ]; then
  # DJL's JNI built from DJL's sources: the script and the sources stay in the ignored kit (docs/GPU.md)
  [ -f "$G/build_djl.sh" ] || { echo "run.sh: no .gpu/build_djl.sh (DJL's JNI for this libtorch; see docs/GPU.md)" >&2; exit 2; }
  bash "$G/build_djl.sh" 2>&1 | tee "$W/build_djl.txt"
  phase djl
fi

if [ -n "$NATIVE_PID" ]; then
  if ! wait "$NATIVE_PID"; then
    echo "[run.sh] native ops build failed:"; tail -60 "$W/build_native.txt"; exit 1
  fi
  cat "$W/build_native.txt"
  export SD_NATIVE_OPS="$NATIVE_SO"
  phase native-wait
fi

# -- doctor: the worker's own check of this setup, as users run it
DOCTOR_RC=0
if [ -z "${SKIP_DOCTOR:-}" ]; then
  set +e
  "$JAVA" ${JAVA_OPTS:-} -cp "$LIB/*" org.diffusionbot.worker.WorkerMain doctor 2>&1 | tee "$OUT/doctor.txt"
  DOCTOR_RC=${PIPESTATUS[0]}
  set -e
  echo "[run.sh] doctor exit code $DOCTOR_RC"
  phase doctor
fi

if [ -n "$GEN_PID" ]; then
  if ! wait "$GEN_PID"; then
    echo "[run.sh] $(basename "$GEN") failed:"; tail -60 "$W/gen.txt"; exit 1
  fi
  tail -14 "$W/gen.txt"
  phase gen-wait
fi

# -- diffusers bench
DTXT="$OUT/diffusers.txt"
DBENCH=("$W/d/bench/bench_diffusers.py")
[ "${MODEL:-sd15}" = sdxl ] && DBENCH=("$S/bench_diffusers_sdxl.py" --d "$W/d")
if [ -z "${SKIP_DIFFUSERS:-}" ]; then
  python3 "${DBENCH[@]}" > "$DTXT" 2> "$W/diffusers.err" || { cat "$DTXT"; tail -60 "$W/diffusers.err"; exit 1; }
  cat "$DTXT"
  grep -v -i -e "^\s*$" "$W/diffusers.err" | tail -5 || true
  phase dbench
elif [ -n "${DIFFUSERS_TXT:-}" ]; then
  cp "$DIFFUSERS_TXT" "$DTXT"
fi

# -- worker bench (as docs/GPU.md shows it)
if [ -z "${SKIP_WORKER:-}" ]; then
  TINY_DEFAULT="$RES/tiny-sd15/model"
  [ "${MODEL:-sd15}" = sdxl ] && TINY_DEFAULT="$W/tiny-sdxl"
  TINY="${TINY:-$TINY_DEFAULT}"
  ARGS=(bench)
  [ -z "${SKIP_CHECK:-}" ] && ARGS+=(--check "$TINY")
  ARGS+=(--model "$SD15")
  [ -f "$DTXT" ] && ARGS+=(--diffusers "$DTXT")
  ARGS+=(--out "$OUT/table.md" --jobs "$JOBS" "${EXTRA[@]}")
  echo "[run.sh] PYTORCH_LIBRARY_PATH=$PYTORCH_LIBRARY_PATH PYTORCH_VERSION=$PYTORCH_VERSION PYTORCH_FLAVOR=$PYTORCH_FLAVOR" \
       "ENGINE_CACHE_DIR=$ENGINE_CACHE_DIR SD_NATIVE_OPS=${SD_NATIVE_OPS:-} java -cp '$LIB/*' org.diffusionbot.worker.WorkerMain ${ARGS[*]}"
  set +e
  "$JAVA" ${JAVA_OPTS:-} -cp "$LIB/*" org.diffusionbot.worker.WorkerMain "${ARGS[@]}" 2>&1 | tee "$OUT/worker.txt"
  RC=${PIPESTATUS[0]}
  set -e
  phase worker
  echo "[run.sh] worker bench exit code $RC"
fi
if [ -n "${AB:-}" ]; then
  AB_SET="$AB"
  [ "$AB_SET" = 1 ] && AB_SET="SD_CHANNELS_LAST=0"
  echo "[run.sh] A/B: the bench again with $AB_SET"
  env "$AB_SET" "$JAVA" ${JAVA_OPTS:-} -cp "$LIB/*" org.diffusionbot.worker.WorkerMain bench --model "$SD15" \
    --diffusers "$DTXT" --out "$OUT/table_ab.md" --jobs 1 > "$OUT/worker_ab.txt" 2>&1 || echo "[run.sh] A/B bench failed"
  phase ab
  cat "$OUT/table_ab.md" 2>/dev/null || tail -30 "$OUT/worker_ab.txt"
fi
if [ -n "${PROBE:-}" ]; then
  python3 "$S/probe_channels_last.py" "$W/d/bench" > "$OUT/probe.txt" 2>&1 || echo "[run.sh] probe failed"
  phase probe
  head -c 4000 "$OUT/probe.txt"
fi
phase end
cat "$TIMES"
[ -f "$OUT/table.md" ] && { echo; cat "$OUT/table.md"; }
[ "$DOCTOR_RC" = 0 ] || { echo "[run.sh] doctor failed ($DOCTOR_RC): $(tail -1 "$OUT/doctor.txt")"; exit "$DOCTOR_RC"; }
exit "${RC:-0}"
