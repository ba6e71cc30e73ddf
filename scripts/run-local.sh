#!/usr/bin/env bash
# Runs the whole system on this machine: one worker in the background and the bot in the
# foreground, against the PostgreSQL and RabbitMQ servers configured in the environment or .env.
# Stopping the bot (Ctrl-C) stops the worker too.
# With an NVIDIA GPU, run scripts/setup-cuda.sh once: it writes build/cuda.env (a CUDA libtorch, DJL's JNI
# for it and libsd_native_ops.so: the fast path of docs/GPU.md), which this script then uses.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .env ]; then set -a; . ./.env; set +a; fi

mvn -B -ntp -q -DskipTests package

if [ -f build/cuda.env ]; then
  set -a; . build/cuda.env; set +a
  echo "run-local.sh: CUDA libtorch from $PYTORCH_LIBRARY_PATH, native ops $SD_NATIVE_OPS (build/cuda.env)"
fi
java -jar worker/target/worker.jar run &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM
java -jar bot/target/bot.jar
