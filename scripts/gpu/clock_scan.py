#!/usr/bin/env python3
# The batch-16 UNet call time against the GPU's SM clock (issue 17: a power-capped H200 lowers its clock from 1980 MHz
# under sustained load, and every figure moves with it). Joins `worker.jar bench --model DIR --unet-loop SECONDS`'s
# window lines (GpuBench / UNetLoop: `unet-loop epoch_ms=E calls=N ms_per_call=M min=X`, each call timed alone, the
# device synchronised after it) with scripts/gpu/smi.sh's log of the same run (SM clock MHz, power W, throttle reasons,
# nvidia-smi's timestamp, every 500 ms):
#
#   python3 clock_scan.py LOOP_TXT SMI_CSV [--utc-offset-hours H]
#   python3 clock_scan.py --selftest           (parsing, the join and the fit on synthetic data)
#
# Each busy smi sample (power > 300 W) gets the windows that overlap [t - 250 ms, t + 250 ms], each weighted by its
# calls inside that interval (calls x overlap / window length; a window spans from the previous window's end, the
# first from its end - calls x ms_per_call); its ms per call is their weighted mean. Printed: per SM clock bucket of
# 45 MHz, the samples, mean clock, mean power, share power-capped (throttle reason 0x4) and mean ms per call; then the
# least-squares fit over the samples ms = a + b * (1980 / clock) (b: the part that scales with the clock, a: the part
# that does not, e.g. memory-bound work and launch + synchronisation) and its predictions at 1980 MHz and at the run's
# median busy clock.
#
# Time: nvidia-smi's timestamp ("2026/12/01 09:00:00.306") is the machine's local time without a zone; it is taken as
# UTC (the benchmark machine's local time is UTC: an assumption) unless --utc-offset-hours says otherwise (local =
# UTC + H; "local": this machine's own offset, as bench-run.sh passes it on the machine that logged). A warning is
# printed when no busy sample meets a window (a wrong offset looks like that).
import argparse
import re
import sys
import time
from datetime import datetime, timedelta, timezone

FULL_MHZ = 1980
BUCKET_MHZ = 45
LOOP_RE = re.compile(r"unet-loop epoch_ms=(\d+) calls=(\d+) ms_per_call=([0-9.]+) min=([0-9.]+)")


def smi_epoch_ms(ts, utc_offset_hours=0.0):
    """nvidia-smi's timestamp (local time, "YYYY/MM/DD HH:MM:SS.mmm") as epoch ms, local = UTC + utc_offset_hours."""
    t = datetime.strptime(ts.strip(), "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    t -= timedelta(hours=utc_offset_hours)
    return round(t.timestamp() * 1000)


def read_loop(lines):
    """Windows (start_ms, end_ms, calls, ms_per_call) from the loop's output, other lines skipped; the summary line."""
    wins, prev, summary = [], None, None
    for line in lines:
        m = LOOP_RE.search(line)
        if m:
            end, calls, ms = int(m.group(1)), int(m.group(2)), float(m.group(3))
            start = prev if prev is not None else end - calls * ms
            wins.append((start, end, calls, ms))
            prev = end
        elif "unet-loop summary" in line:
            summary = line.strip()
    return wins, summary


def read_smi(lines, utc_offset_hours=0.0):
    """Samples (epoch_ms, clock MHz, power W, throttle reasons) of smi.sh's log; rows without a timestamp skipped."""
    rows = []
    for line in lines:
        f = [x.strip() for x in line.split(",")]
        try:
            rows.append((smi_epoch_ms(f[3], utc_offset_hours), int(f[0]), float(f[1]), int(f[2], 16)))
        except (IndexError, ValueError):
            pass
    return rows


def join(wins, samples, busy_w=300.0, half_ms=250.0):
    """(clock, power, reasons, ms per call) per busy sample that some window overlaps within +-half_ms."""
    out = []
    for t, clock, power, reasons in samples:
        if power <= busy_w:
            continue
        lo, hi, wsum, msum = t - half_ms, t + half_ms, 0.0, 0.0
        for start, end, calls, ms in wins:
            overlap = min(hi, end) - max(lo, start)
            if overlap > 0 and end > start:
                w = calls * overlap / (end - start)
                wsum += w
                msum += w * ms
        if wsum > 0:
            out.append((clock, power, reasons, msum / wsum))
    return out


def fit(points):
    """Least squares ms = a + b * (FULL_MHZ / clock) over (clock, ms); (a, b, r2), or None where the clock is constant."""
    xs = [FULL_MHZ / c for c, _ in points]
    ys = [y for _, y in points]
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 1e-12:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    syy = sum((y - my) ** 2 for y in ys)
    sse = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, (1 - sse / syy) if syy > 0 else 1.0


def table(joined, summary=None):
    """The report: per-bucket table and the fit, as text."""
    out = []
    if summary:
        out.append(summary)
    if not joined:
        out.append("clock_scan: no busy smi sample (power > 300 W) overlaps a loop window: nothing to fit"
                   " (a wrong --utc-offset-hours looks like this)")
        return "\n".join(out)
    buckets = {}
    for r in joined:
        buckets.setdefault(r[0] // BUCKET_MHZ * BUCKET_MHZ, []).append(r)
    out.append(f"| SM clock (MHz, {BUCKET_MHZ} MHz buckets) | samples | mean clock | mean power (W) | power-capped |"
               " mean ms per call |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for lo in sorted(buckets, reverse=True):
        rs = buckets[lo]
        n = len(rs)
        out.append(f"| {lo}-{lo + BUCKET_MHZ - 1} | {n} | {sum(r[0] for r in rs) / n:.0f} |"
                   f" {sum(r[1] for r in rs) / n:.0f} | {100 * sum(1 for r in rs if r[2] & 4) // n}% |"
                   f" {sum(r[3] for r in rs) / n:.3f} |")
    clocks = sorted(r[0] for r in joined)
    median = clocks[(len(clocks) - 1) // 2]
    f = fit([(r[0], r[3]) for r in joined])
    out.append(f"busy samples: {len(joined)}, SM clock median {median} MHz (min {clocks[0]}, max {clocks[-1]})")
    if f is None:
        mean = sum(r[3] for r in joined) / len(joined)
        out.append(f"fit: not possible (one clock only); mean {mean:.3f} ms per call at {median} MHz")
    else:
        a, b, r2 = f
        out.append(f"fit ms = a + b * ({FULL_MHZ} / clock): a = {a:.3f} ms, b = {b:.3f} ms, r^2 = {r2:.3f};"
                   f" predicted {a + b:.3f} ms at {FULL_MHZ} MHz, {a + b * FULL_MHZ / median:.3f} ms at the median"
                   f" {median} MHz")
    return "\n".join(out)


def selftest():
    import unittest

    def synthetic(a=4.0, b=24.0, t0=1_796_115_600_000):  # 2026-12-01 09:00:00 UTC
        """A 20 s loop whose clock steps 1980 -> 1755 -> 1530 -> 1440 every 5 s, its windows and smi samples."""
        loop, smi = ["INFO something else", "unet-loop batch=16 latent=64 seconds=20 graph=true"], []
        def clock_at(t):
            return (1980, 1755, 1530, 1440)[min(3, int((t - t0) // 5000))]
        t = t0
        while t < t0 + 20_000:  # windows of ~250 ms, calls as long as the clock says
            ms = a + b * FULL_MHZ / clock_at(t)
            calls = max(1, int(250 // ms))
            t += calls * ms
            loop.append(f"unet-loop epoch_ms={round(t)} calls={calls} ms_per_call={ms:.3f} min={ms - 0.1:.3f}")
        loop.append("unet-loop summary calls=9 mean=1 min=1 median=1")
        for k in range(-4, 44):  # samples every 500 ms from 2 s before to 2 s after, idle outside the loop
            ts = t0 + 306 + 500 * k
            busy = t0 <= ts < t0 + 20_000
            clock = clock_at(ts) if busy else 345
            stamp = datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            capped = busy and clock < 1980
            power = 699.5 if capped else 520.0 if busy else 75.0
            smi.append(f"{clock}, {power:.2f}, {'0x0000000000000004' if capped else '0x0000000000000000'}, {stamp}")
        return loop, smi

    class ClockScanTest(unittest.TestCase):
        def test_timestamp_is_utc_unless_told(self):
            self.assertEqual(smi_epoch_ms("2026/12/01 09:00:00.306"), 1_796_115_600_306)
            self.assertEqual(smi_epoch_ms("2026/12/01 10:00:00.306", 1), 1_796_115_600_306)

        def test_smi_rows_and_loop_lines(self):
            loop, smi = synthetic()
            rows = read_smi(smi + ["1980, 500.0, 0x0", "garbage"])  # a row of the old 3-column log is skipped
            self.assertEqual(len(rows), 48)
            self.assertEqual(rows[4][1:], (1980, 520.0, 0))
            wins, summary = read_loop(loop)
            self.assertTrue(summary.startswith("unet-loop summary"))
            self.assertEqual(wins[1][0], wins[0][1], "a window starts where the one before it ended")

        def test_join_and_fit_recover_the_model(self):
            loop, smi = synthetic()
            joined = join(read_loop(loop)[0], read_smi(smi))
            self.assertEqual(len(joined), 40, "idle samples out, every busy one joined")
            a, b, r2 = fit([(r[0], r[3]) for r in joined])
            # samples near a clock step mix two clocks' windows: close to the model, not exactly it
            self.assertAlmostEqual(a + b, 28.0, delta=0.3)
            self.assertAlmostEqual(b, 24.0, delta=1.5)
            self.assertGreater(r2, 0.97)
            text = table(joined, "unet-loop summary calls=9")
            self.assertIn("| 1980-2024 | 10 | 1980 | 520 | 0% | 28.000 |", text)
            self.assertIn("| 1440-1484 |", text)
            self.assertIn("at 1980 MHz", text)

        def test_one_clock_or_no_overlap_says_so(self):
            self.assertIsNone(fit([(1980, 28.0), (1980, 28.2)]))
            self.assertIn("one clock only", table([(1980, 520.0, 0, 28.0), (1980, 520.0, 0, 28.2)]))
            loop, smi = synthetic()
            self.assertEqual(join(read_loop(loop)[0], read_smi(smi, utc_offset_hours=1)), [])
            self.assertIn("no busy smi sample", table([]))

    r = unittest.TextTestRunner(verbosity=1).run(unittest.TestLoader().loadTestsFromTestCase(ClockScanTest))
    return 0 if r.wasSuccessful() else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("loop", nargs="?", help="output of bench --unet-loop")
    ap.add_argument("smi", nargs="?", help="smi.sh's csv of the same run")
    ap.add_argument("--utc-offset-hours", default="0",
                    help="the smi machine's local time minus UTC in hours, or 'local' for this machine's"
                         " (default 0: its local time is UTC)")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if not a.loop or not a.smi:
        ap.error("LOOP_TXT and SMI_CSV are needed")
    with open(a.loop) as f:
        wins, summary = read_loop(f)
    if a.utc_offset_hours == "local":
        offset = time.localtime().tm_gmtoff / 3600
    else:
        offset = float(a.utc_offset_hours)
    with open(a.smi) as f:
        samples = read_smi(f, offset)
    print(table(join(wins, samples), summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
