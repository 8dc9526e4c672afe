"""Production: everything from the environment, secure cookies, no defaults for secrets."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import INSECURE_KEY_PREFIX, env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
# Refuse to start with the embedded first look's key (or any key marked insecure): sessions,
# CSRF tokens and password-reset links would be forgeable by whoever has a copy.
if not SECRET_KEY.strip() or SECRET_KEY.startswith(INSECURE_KEY_PREFIX):
    raise ImproperlyConfigured(
        "SECRET_KEY is empty or a development key (starts with "
        f"{INSECURE_KEY_PREFIX!r}); set a long random one for production."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Health probes and the ingest API are called over plain HTTP inside the cluster. A
# redirected POST comes back as a GET (the report is gone), so ingest — the native API and
# the Sentry endpoints — is never redirected; everything else still is.
# Services and scrapers call these over plain HTTP inside the network; a redirect would
# turn a POST into a GET and the report would be gone (308 is not what Django sends).
SECURE_REDIRECT_EXEMPT = [
    r"^healthz$", r"^readyz$", r"^metrics$", r"^api/v1/errors/$", r"^api/v1/dead-letters/$",
    r"^api/[0-9]+/(envelope|store)/?$",
]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is a promise for the whole domain that takes months to undo: only on request.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "not preloaded": chosen, see above
SECURE_CONTENT_TYPE_NOSNIFF = True

# Production's own default for one knob, given the way an operator would give it, so
# resilience/conf.py still reads (and checks) the variable and an explicit value wins.
os.environ.setdefault("FAULTLINE_INGEST_GROUP_COMMIT", "true")
