#!/usr/bin/env bash
# Prepares the two ignored kit folders that the GPU benchmark's two device calls carry (docs/GPU.md; the
# tree and the whole kit no longer fit one call's 64 MiB, and the machine stays warm 30 s between calls):
#   .gpu/   for the first call (scripts/gpu/bench-build.sh): lib.tar.xz, refreshed from a fresh local build of
#           the worker on every run, include.tar.xz (the JDK's JNI headers), plus what is put there by hand
#           (DJL's sources + build_djl.sh, diffusers-src.tar.xz: see docs/GPU.md)
#   .gpu2/  for the second call (scripts/gpu/bench-run.sh): jre.tar.xz, a jlink JRE, made when missing
# lib = the worker module's own jar (plain, not the shaded worker.jar) + its runtime dependencies,
# WITHOUT pytorch-native-cpu (111 MB; the GPU machine uses the Python PyTorch's libtorch) and
# WITHOUT pytorch-jni (its JNI is built for libtorch 2.7.1; build_djl.sh builds one from DJL's sources).
# Never installs anything into ~/.m2 (no `mvn install`).
# The kit runs `bench` and `doctor` only, so it leaves out what they never load: JRE modules beyond
# java.base/logging/management/desktop (BufferedImage) and jdk.unsupported, java.desktop's X11, font, sound and
# JPEG libraries, RabbitMQ's optional Netty transport and Prometheus' protobuf exposition format (KIT_EXCLUDE).
KIT_EXCLUDE="netty-transport,netty-common,netty-buffer,netty-resolver,netty-codec,netty-codec-base,netty-codec-compression,netty-codec-protobuf,netty-codec-marshalling,netty-handler,netty-transport-native-unix-common,prometheus-metrics-exposition-formats"
# PACK_SRC=DIR builds from another checkout instead of this one (e.g. `git archive HEAD` unpacked in
# /tmp, to benchmark the committed code while the work tree is mid-edit).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
G="$REPO/.gpu"
mkdir -p "$G"
ROOT="$(cd "${PACK_SRC:-$REPO}" && pwd)"
G2="$REPO/.gpu2"
mkdir -p "$G2"
JDK="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
[ -f "$G/include.tar.xz" ] || tar -C "$JDK" -cJf "$G/include.tar.xz" include
if [ ! -f "$G2/jre.tar.xz" ]; then
  J="$(mktemp -d)"
  "$JDK/bin/jlink" --add-modules java.base,java.logging,jdk.unsupported,java.management,java.desktop \
    --exclude-files='**/libfontmanager.so,**/libjsound.so,**/libawt_xawt.so,**/libsplashscreen.so,**/libjavajpeg.so,**/liblcms.so,**/libfreetype.so*' \
    --strip-debug --no-header-files --no-man-pages --compress=0 --output "$J/jre"
  find "$J/jre" -name '*.so' -exec strip --strip-unneeded {} + 2>/dev/null || true
  strip --strip-unneeded "$J/jre/bin/"* 2>/dev/null || true
  tar -C "$J" -cf - jre | xz -9e -T0 > "$G2/jre.tar.xz"
  rm -rf "$J"
  echo "jre.tar.xz: $(du -h "$G2/jre.tar.xz" | cut -f1)"
fi
cd "$ROOT"
TMP="$G/lib.tmp"
rm -rf "$TMP"
mkdir -p "$TMP"
# one reactor run: package (so `common` resolves from the reactor) + copy the runtime dependencies
mvn -B -ntp -q -pl worker -am package dependency:copy-dependencies -DskipTests \
  -DincludeScope=runtime -DexcludeArtifactIds=pytorch-native-cpu,pytorch-jni,$KIT_EXCLUDE \
  -DoutputDirectory="$TMP"
JAR=$(ls worker/target/worker-*.jar | grep -v -e '-tests\.jar$' -e '-sources\.jar$' -e '/original-' | head -1)
[ -n "$JAR" ] || { echo "pack.sh: no plain worker jar in worker/target" >&2; exit 1; }
cp "$JAR" "$TMP/"
rm -f "$TMP"/pytorch-native-cpu-*.jar "$TMP"/pytorch-jni-*.jar
{
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) from ${PACK_SRC:-the work tree} (main's HEAD: $(git -C "$REPO" rev-parse --short HEAD))"
  if [ -z "${PACK_SRC:-}" ]; then git status --short | sed 's/^/  /'; fi
} > "$TMP/BUILD_INFO.txt"
# lib.tar.xz: the jars re-stored uncompressed, then xz over all of them (17 MB of jars travel as ~8 MB)
python3 - "$TMP" <<'PY'
import os, sys, zipfile
d = sys.argv[1]
for f in os.listdir(d):
    if f.endswith('.jar'):
        p = os.path.join(d, f)
        with zipfile.ZipFile(p) as zin, zipfile.ZipFile(p + '.stored', 'w', zipfile.ZIP_STORED) as zout:
            for info in zin.infolist():
                data = zin.read(info.filename)
                info.compress_type = zipfile.ZIP_STORED
                zout.writestr(info, data)
        os.replace(p + '.stored', p)
PY
rm -rf "$G/lib" "$G/lib.tar.xz"
mv "$TMP" "$G/lib"
tar -C "$G" -cf - lib | xz -6 -T0 > "$G/lib.tar.xz"
echo "lib: $(ls "$G/lib" | wc -l) files -> lib.tar.xz $(du -h "$G/lib.tar.xz" | cut -f1)"
rm -rf "$G/lib"
# what travels: tracked + untracked-not-ignored files + the carried kit folder (64 MiB at most per call)
T=$(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
for K in "$G" "$G2"; do
  C=$(du -sb "$K" | cut -f1)
  awk -v k="$(basename "$K")" -v t="$T" -v c="$C" 'BEGIN {printf "call carrying %s: tree %.1f MiB + %.1f MiB = %.1f MiB (limit 64)\n", k, t/2^20, c/2^20, (t+c)/2^20}'
  # the device tool counts more than these files' bytes: a call counted here at 63.5 MiB went, one at 63.6 was refused
  # as over 64 MiB (2026-12-01); docs/GPU.md says what to leave out of such a call
  awk -v k="$(basename "$K")" -v s="$((T + C))" 'BEGIN {if (s / 2^20 > 63.5) printf "WARNING: the call carrying %s is over 63.5 MiB by this count and was refused at 63.6 before: see docs/GPU.md (\"leave bot/ out of the call\")\n", k}'
done
