#!/usr/bin/env bash
# Runs the whole system on this machine: one worker in the background and the bot in the
# foreground, against the PostgreSQL and RabbitMQ servers configured in the environment or .env.
# Stopping the bot (Ctrl-C) stops the worker too.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .env ]; then set -a; . ./.env; set +a; fi

mvn -B -ntp -q -DskipTests package

java -jar worker/target/worker.jar run &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM
java -jar bot/target/bot.jar
