"""Production settings plus a do-nothing view, for bench/ingest.py's `noop-*` references.

gunicorn runs every scenario with these settings, so the ingest endpoint and the reference
view share one process, one configuration and one middleware stack. Only ROOT_URLCONF
differs from config.settings.production; nothing else in the project reads it.
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.reference_urls"
