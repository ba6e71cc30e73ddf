#!/usr/bin/env bash
# Runs the whole system on this machine: one worker in the background and the bot in the
# foreground, against the PostgreSQL and RabbitMQ servers configured in the environment or .env.
# Stopping the bot (Ctrl-C) stops the worker too. When the bot exits with an error (e.g. DISCORD_TOKEN unset),
# the worker gets up to 15 s to finish its own start-up checks, so that its one-line error shows as well.
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
bot_status=0
java -jar bot/target/bot.jar || bot_status=$?
if [ "$bot_status" -ne 0 ]; then
  echo "run-local.sh: the bot exited with status $bot_status (its error is above)" >&2
  waited=0
  while kill -0 "$worker" 2>/dev/null && [ "$waited" -lt 15 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 "$worker" 2>/dev/null; then
    echo "run-local.sh: the worker passed its start-up checks; stopping it" >&2
  else
    worker_status=0
    wait "$worker" || worker_status=$?
    echo "run-local.sh: the worker exited with status $worker_status (its error is above)" >&2
  fi
fi
exit "$bot_status"
