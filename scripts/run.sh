#!/usr/bin/env bash
# Starts Faultline for a first look: migrate, demo data, then web + worker + beat.
# Ctrl-C (or any one process exiting) stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${FAULTLINE_HOST:-127.0.0.1}
PORT=${FAULTLINE_PORT:-8000}
export EXTERNAL_URL=${EXTERNAL_URL:-http://$HOST:$PORT}

mkdir -p var/broker/queue var/broker/processed
$BIN/python manage.py migrate --noinput
$BIN/python manage.py collectstatic --noinput --verbosity 0
$BIN/python manage.py demo_setup

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping Faultline…"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$BIN/gunicorn config.wsgi:application --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --worker-class gthread --access-logfile - --log-level warning &
pids+=($!)
$BIN/celery -A config worker --loglevel INFO --concurrency 1 \
  --queues digest,alerts,replay,maintenance &
pids+=($!)
$BIN/celery -A config beat --loglevel INFO \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --schedule var/celerybeat-schedule &
pids+=($!)

wait -n "${pids[@]}"
