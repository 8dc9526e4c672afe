#!/usr/bin/env bash
# Starts Faultline for a first look: migrate, demo data, then web + worker + beat.
# Ctrl-C (or the web server exiting) stops all three; worker and beat are restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${FAULTLINE_HOST:-127.0.0.1}
PORT=${FAULTLINE_PORT:-8000}
export EXTERNAL_URL=${EXTERNAL_URL:-http://$HOST:$PORT}

# The embedded broker's folders; the worker also recreates them if they go (config/celery_app.py).
mkdir -p var/broker/queue var/broker/processed
$BIN/python manage.py migrate --noinput
$BIN/python manage.py collectstatic --noinput --verbosity 0
$BIN/python manage.py demo_setup
# Every alert channel starts disabled: alerts, CRITICAL ones included, reach nobody until one is on.
echo "Alerts reach nobody until a channel is enabled: $EXTERNAL_URL/admin/alerts/channel/"
echo "  (fill in a Slack URL, a webhook, or recipients with EMAIL_URL set in .env; tick Enabled)."

pids=()
STOP_FLAG=$(mktemp -u "${TMPDIR:-/tmp}/faultline-run-stop.XXXXXX")
stop() {
  trap - INT TERM EXIT
  touch "$STOP_FLAG"  # the supervisors below stop restarting
  echo "Stopping Faultline…"
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true  # a supervisor's child
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -f "$STOP_FLAG"
}
trap stop INT TERM EXIT

# Worker and beat are restarted if they exit, as systemd does in production (deploy/):
# a worker lost to a broker hiccup must not stop digestion, alerts or `make run`.
# Ctrl-C reaches every process of the group; the flag keeps a supervisor from
# restarting what Ctrl-C just stopped.
supervise() {
  local name=$1
  shift
  (
    child=
    trap '[ -n "$child" ] && kill -TERM $child 2>/dev/null; exit 0' TERM
    until [ -e "$STOP_FLAG" ]; do
      "$@" &
      child=$!
      wait $child && status=0 || status=$?
      sleep 2
      [ -e "$STOP_FLAG" ] && break
      echo "$name exited ($status); restarted" >&2
    done
  ) &
  pids+=($!)
}

$BIN/gunicorn config.wsgi:application --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --worker-class gthread --access-logfile - --log-level warning &
pids+=($!)
supervise worker $BIN/celery -A config worker --loglevel INFO --concurrency 1 \
  --queues digest,alerts,replay,maintenance --without-gossip --without-mingle
supervise beat $BIN/celery -A config beat --loglevel INFO \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --schedule var/celerybeat-schedule

wait -n "${pids[@]}"
