#!/usr/bin/env bash
# The second of the GPU benchmark's two back-to-back device calls (docs/GPU.md), carrying .gpu2 (the JRE): the
# worker bench of each model in MODELS (default "sd15 sdxl") against the diffusers figures of bench-build.sh,
# --check on the tiny model of the tests (CUDA fp16 vs CPU fp32); tables in $OUT/table_MODEL.md.
# SD15_JOBS (200; SD15_EXTRA, default --breakdown) and SDXL_JOBS (100): consecutive jobs of the memory check; SKIP_BENCH=1 skips
# that bench; LORA=1 adds LoraBench (rank 32) on the same weights. PROFILE=1 adds the kernel profiles of each model
# (bench --profile, Chrome traces in $W/profile: eager UNet calls at batch 2 and 16, whole images with CUDA graphs, VAE
# decodes) and their tables (scripts/gpu/profile_table.py: per-class tables of the UNet; phase summary + classes of
# each image trace; classes of the VAE decode) in $OUT/profile.md; PROFILE_TRACES=1 also brings the traces back
# ($OUT/traces.tar.xz; over 16 MB xz: a warning, then the image and VAE traces alone, then the smallest two).
# AB=VAR=value runs each model's bench once more (--jobs 1, no --check) with that switch (or those, space-separated) changed, for an A/B in
# the same run (AB=1: SD_CHANNELS_LAST=0; several switches at once separated by spaces, e.g. AB="SD_X=0 SD_Y=0") ->
# $OUT/table_ab_MODEL.md. DOCTOR=1 first runs `worker.jar doctor` as
# users run it -> $OUT/doctor.txt (its exit status is printed: 0 = the GPU runs with the fast path).
# CLOCK_SCAN=SECONDS (MODELS with sd15) runs `bench --model $W/sd15 --unet-loop SECONDS` (batch-16 UNet calls back to back,
# each timed alone, per ~250 ms window) -> $OUT/clock_scan.txt with the GPU's log in $OUT/clock_scan_smi.csv, then
# scripts/gpu/clock_scan.py's table: ms per call per SM clock bucket and the fit ms = a + b * (1980 / clock).
# Every bench run logs the GPU's clock and power (scripts/gpu/smi.sh) and prints a summary line after it.
set -uo pipefail
source scripts/gpu/smi.sh
W=/tmp/gpuwork; ls $W/diffusers_*.txt >/dev/null 2>&1 || { echo "callB: machine is cold (no diffusers figures in $W)"; exit 3; }
tar -C $W -xJf .gpu2/jre.tar.xz
T=/opt/torch/.venv/lib/python3.12/site-packages/torch
export PYTORCH_LIBRARY_PATH=$T/lib PYTORCH_VERSION=2.11.0 PYTORCH_FLAVOR=cu130 ENGINE_CACHE_DIR=$W/djl-cache SD_NATIVE_OPS=$W/libsd_native_ops.so
if [ -n "${DOCTOR:-}" ]; then
  $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain doctor > $OUT/doctor.txt 2>&1
  echo "== doctor: exit $?: $(tail -1 $OUT/doctor.txt)"
fi
for M in ${MODELS:-sd15 sdxl}; do
  if [ $M = sdxl ]; then TINY=$W/tiny-sdxl; ARGS="--jobs ${SDXL_JOBS:-100}"; else TINY=worker/src/test/resources/reference/tiny-sd15/model; ARGS="--jobs ${SD15_JOBS:-200} ${SD15_EXTRA---breakdown}"; fi
  if [ -z "${SKIP_BENCH:-}" ]; then
    s=$(date +%s); smi_start $OUT/smi_$M.csv
    $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain bench --check $TINY --model $W/$M --diffusers $W/diffusers_$M.txt --out $OUT/table_$M.md $ARGS > $OUT/worker_$M.txt 2>&1
    echo "== $M: exit $?, $(( $(date +%s) - s )) s"; smi_summary $OUT/smi_$M.csv; grep -v "PASS$" $OUT/worker_$M.txt | grep -v "INFO" | tail -25
    grep -h "PSNR" $OUT/worker_$M.txt | head -4
    echo; cat $OUT/table_$M.md
  fi
  if [ -n "${AB:-}" ]; then  # the same bench with the switch(es) changed, right after (A/B in one run)
    AB_SET=$AB; [ "$AB_SET" = 1 ] && AB_SET=SD_CHANNELS_LAST=0
    s=$(date +%s); smi_start $W/smi_ab_$M.csv
    env $AB_SET $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain bench --model $W/$M --diffusers $W/diffusers_$M.txt --out $OUT/table_ab_$M.md --jobs 1 > $W/worker_ab_$M.txt 2>&1
    echo "== A/B $M with $AB_SET: exit $?, $(( $(date +%s) - s )) s"; smi_summary $W/smi_ab_$M.csv; cat $OUT/table_ab_$M.md 2>/dev/null || tail -30 $W/worker_ab_$M.txt
  fi
  if [ -n "${CLOCK_SCAN:-}" ] && [ $M = sd15 ]; then  # UNet call time against the SM clock (power cap, issue 17)
    s=$(date +%s); smi_start $OUT/clock_scan_smi.csv
    $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain bench --model $W/$M --unet-loop $CLOCK_SCAN > $OUT/clock_scan.txt 2>&1
    echo "== clock scan $M ($CLOCK_SCAN s of batch-16 UNet calls): exit $?, $(( $(date +%s) - s )) s"; smi_summary $OUT/clock_scan_smi.csv
    grep -v "INFO" $OUT/clock_scan.txt | grep -v "^unet-loop epoch_ms=\|^unet-loop summary" | tail -8
    python3 scripts/gpu/clock_scan.py --utc-offset-hours local $OUT/clock_scan.txt $OUT/clock_scan_smi.csv
  fi
  if [ -n "${PROFILE:-}" ]; then  # kernel profiles (issue 17): UNet per-class tables + top kernels, whole images, VAE
    s=$(date +%s)
    $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain bench --model $W/$M --profile $W/profile > $W/profile_$M.txt 2>&1
    echo "== profile $M: exit $?, $(( $(date +%s) - s )) s"; grep -v "INFO" $W/profile_$M.txt | tail -10
    [ -f $OUT/profile.md ] || python3 scripts/gpu/profile_table.py --selftest 2>&1 | tail -1
    python3 scripts/gpu/profile_table.py $W/profile/unet_${M}_b{2,16}.json > $W/profile_$M.md && cat $W/profile_$M.md | tee -a $OUT/profile.md
    for F in $W/profile/image_${M}_*.json; do  # phase summary, then the kernel classes over the whole run
      [ -f $F ] && python3 scripts/gpu/profile_table.py --range image $F
    done > $W/profile_image_$M.md; cat $W/profile_image_$M.md | tee -a $OUT/profile.md
    [ -f $W/profile/vae_$M.json ] && python3 scripts/gpu/profile_table.py --range vae_decode $W/profile/vae_$M.json | tee -a $OUT/profile.md
  fi
  if [ -n "${LORA:-}" ]; then  # LoraBench on the same weights (issue 14): apply + remove, alternating sets
    s=$(date +%s)
    $W/jre/bin/java ${JAVA_OPTS:-} -cp "$W/lib/*" org.diffusionbot.worker.WorkerMain bench --lora-model $W/$M --lora-rank 32 > $OUT/lora_$M.txt 2>&1
    echo "== lora $M: exit $?, $(( $(date +%s) - s )) s"; grep -v "INFO" $OUT/lora_$M.txt | tail -15
  fi
done
if [ -n "${PROFILE_TRACES:-}" ] && ls $W/profile/*.json >/dev/null 2>&1; then
  ls -la $W/profile/*.json
  for SET in profile "$(cd $W && ls profile/image_*.json profile/vae_*.json 2>/dev/null | tr '\n' ' ')" \
             "$(cd $W && ls -S -r profile/*.json | head -2 | tr '\n' ' ')"; do
    [ -n "${SET// /}" ] || continue
    tar -C $W -cf - $SET | xz -6 -T0 > $OUT/traces.tar.xz
    if [ $(stat -c %s $OUT/traces.tar.xz) -lt 16000000 ]; then echo "traces.tar.xz ($SET):"; ls -la $OUT/traces.tar.xz; break; fi
    echo "WARNING: traces.tar.xz of $SET is $(stat -c %s $OUT/traces.tar.xz) bytes, over 16 MB: not brought back"; rm $OUT/traces.tar.xz
  done
fi
