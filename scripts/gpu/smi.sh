# Sourced by bench-build.sh and bench-run.sh: the GPU's SM clock, power and throttle reasons logged every 500 ms
# (nvidia-smi, read only) while a benchmark runs, and a summary line after it. Under sustained batch-16 load the H200
# runs into its power cap (throttle reason 0x4, SW power cap, at ~700 W) and lowers its clock from 1980 MHz to
# 1425-1740 (session 11); the summary says how much of a run ran capped (session 12's clock scan, CLOCK_SCAN in
# bench-run.sh: the batch-16 UNet call time stays within ~1-2% across 1605-1965 MHz).
# smi_start FILE: starts the log (nothing without nvidia-smi); smi_summary FILE: stops it and prints the summary; a
# script that exits between the two stops it on its way out (the EXIT trap). Columns: SM clock (MHz), power (W),
# throttle reasons (hex), nvidia-smi's timestamp (local time, "2026/12/01 09:00:00.306"; clock_scan.py joins it with
# bench --unet-loop's windows). Keep the timestamp last: smi_summary reads fields 0..2.
smi_start() {
  SMI_PID=
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active,timestamp --format=csv,noheader,nounits -lms 500 \
      > "$1" 2>/dev/null &
    SMI_PID=$!
    trap 'if [ -n "${SMI_PID:-}" ]; then kill $SMI_PID 2>/dev/null || true; fi' EXIT
  fi
  return 0
}
smi_summary() {  # busy samples (power over 300 W): how many, the median SM clock, the most power, how many power-capped
  if [ -n "${SMI_PID:-}" ]; then kill $SMI_PID 2>/dev/null || true; fi
  SMI_PID=
  [ -s "$1" ] || return 0
  python3 - "$1" <<'PY' || true
import sys
rows = []
for line in open(sys.argv[1]):
    f = [x.strip() for x in line.split(',')]
    try:
        rows.append((int(f[0]), float(f[1]), int(f[2], 16)))
    except (IndexError, ValueError):
        pass
busy = [r for r in rows if r[1] > 300]
if not busy:
    print("  gpu: no busy samples")
else:
    clocks = sorted(r[0] for r in busy)
    capped = sum(1 for r in busy if r[2] & 4)
    print(f"  gpu while busy ({len(busy)} samples of 500 ms): SM clock median {clocks[(len(clocks) - 1) // 2]} MHz "
          f"(min {clocks[0]}, max {clocks[-1]}), power up to {max(r[1] for r in busy):.0f} W, "
          f"power-capped in {100 * capped // len(busy)}% of them")
PY
  return 0
}
