"""gunicorn for Faultline in production: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Behind nginx (deploy/nginx.conf), which reads every request whole before passing it on:
gthread workers block a thread for as long as a body takes to arrive, and nothing in
gunicorn bounds that (its `timeout` watches the worker's main loop, not its threads).
Command-line options override what is set here, and FAULTLINE_BIND, WEB_CONCURRENCY and
FAULTLINE_THREADS are read from the environment.
"""

import os

# Loopback only: nginx is the one client. Anything else could send a slow body directly.
bind = os.environ.get("FAULTLINE_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("FAULTLINE_THREADS", "8"))

# A worker whose main loop has not reported for this long is killed and replaced.
timeout = 30
# On a reload or stop, requests in flight get this long to finish.
graceful_timeout = 30
# Longer than nginx's upstream keepalive_timeout (60 s): nginx drops an idle connection
# first, never reuses one gunicorn has just closed.
keepalive = 75

# Request line and headers, matching nginx's `large_client_header_buffers 4 8k`: a longer
# line or header is refused with 400 here too, without reaching Django.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Bodies are not limited here: nginx (client_max_body_size) and the app
# (FAULTLINE_INGEST_MAX_BODY_BYTES, SENTRY_MAX_*) answer 413 with the reason.

# X-Forwarded-Proto is believed from nginx alone (Django reads it through
# SECURE_PROXY_SSL_HEADER in config/settings/production.py).
forwarded_allow_ips = "127.0.0.1"

# Recycle a worker now and then, staggered, so a slow leak never grows unbounded.
max_requests = 10_000
max_requests_jitter = 1_000

accesslog = "-"
errorlog = "-"
loglevel = "warning"
proc_name = "faultline"
