"""Settings shared by every environment, read from the environment (django-environ).

The embedded default (no variables set) is SQLite and a filesystem Celery broker under
var/, so `make run` works on a machine with nothing but Python. DATABASE_URL, REDIS_URL and
CELERY_BROKER_URL switch to PostgreSQL, Redis and a real broker.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# .env first: everything below, and resilience/conf.py's FAULTLINE_* knobs, read the
# environment it fills (a variable already set wins over the file).
env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)
VAR_DIR = Path(env.str("FAULTLINE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
# Without SECRET_KEY (the embedded first look) the key is random, made once per checkout
# in var/, so nobody else knows it. Its prefix is the one `check --deploy` flags
# (security.W009), and production.py refuses it.
INSECURE_KEY_PREFIX = "django-insecure-"


def _local_secret_key(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = INSECURE_KEY_PREFIX + secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: two processes starting at once agree.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(key)
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()
    except OSError:
        return key  # read-only disk: good for this process only, still never a known key


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Used to build absolute links (admin links in alerts, Sentry DSNs).
EXTERNAL_URL = env.str("EXTERNAL_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc served from static/, not from a CDN
    "axes",
    "csp",
    "django_celery_beat",
    "resilience",
    "alerts",
    "recovery",
    "campaigns",
    "monitors",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A refused body is read before the answer goes out: gunicorn would reset the client.
    "resilience.infra.unread_body.DiscardRefusedBodies",
    # A dependency outage raised by a view is a JSON 503 with Retry-After, not a 500.
    "resilience.ingest.outage.DependencyOutageMiddleware",
    # A NUL in a query string is a 400 before any view compares it with a column.
    "resilience.infra.query_strings.RefuseNulInQueryString",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, with the unchanged policy built once (resilience/infra/csp_header.py).
    "resilience.infra.csp_header.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'faultline.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker digests; the timeout rides out
    # the short write locks instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# The lifecycle event bus (a Redis stream, campaigns/events.py). Empty: lifecycle events
# stay in the outbox (campaigns.OutboxEvent) until a bus is configured.
EVENT_BUS_URL = env.str("EVENT_BUS_URL", default=REDIS_URL)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="faultline"),
            # A dead Redis must cost milliseconds: every use fails open (cache_guard.py).
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one
# address lock that pair out for LOGIN_LOCKOUT_MINUTES (each further try restarts the wait).
# Superusers see the attempts under "Axes"; `manage.py axes_reset_username <name>` (or
# axes_reset) unlocks early. accounts/login_audit.py logs each failure and audits lockouts.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
# Reverse proxies in front of the app that append to X-Forwarded-For (nginx in deploy/: 1).
# 0 trusts only the peer's address; never count a proxy that is not there, or a client can
# choose the address it is throttled under.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy (django-csp) on every answer. Scripts only from our own static
# files (the dashboard's, vendored Chart.js, the sidecar's Redoc); inline styles are allowed
# because the admin's templates and Redoc use them. /api/docs/ adds blob: workers (Redoc's
# search), config/urls.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Raw API keys are shown once through a message: keep messages server-side, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Observability (resilience/observability/: prometheus.py, health.py). /metrics answers a
# request with `Authorization: Bearer <METRICS_TOKEN>`, or one from an address in
# METRICS_ALLOWED_IPS (addresses or CIDR networks) that carries no X-Forwarded-For or
# Forwarded header (a proxy's request is someone else's). Neither set: nobody. /readyz
# shows its details to the same callers and to staff; anyone else gets ok/fail per check.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# /readyz fails when the oldest undigested entry is older than this.
READYZ_MAX_DIGEST_LAG_SECONDS = env.int("READYZ_MAX_DIGEST_LAG_SECONDS", default=300)
# /api/v1/metrics/ and the dashboard keep a range's figures this long (0: not at all).
METRICS_CACHE_SECONDS = env.int("METRICS_CACHE_SECONDS", default=30)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "resilience.api.authentication.OperatorTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded depth and numbers, no NaN, NUL or lone surrogates (resilience/core/safe_json.py).
    "DEFAULT_PARSER_CLASSES": ["resilience.api.body.SafeJSONParser"],
    "EXCEPTION_HANDLER": "resilience.api.exceptions.api_exception_handler",
    # Per-key budgets for views that name a `budget_scope` (resilience/api/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": ["resilience.api.throttles.KeyBudgetThrottle"],
    "DEFAULT_PAGINATION_CLASS": "resilience.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Faultline API",
    "DESCRIPTION": "Report failures, learn what to do next, and triage error groups.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema as the API answers: shared 4xx answers, blank and null fields, the report
    # body (resilience/api/schema_hooks.py; after the enum hook, which rebuilds components).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "resilience.api.schema_hooks.postprocess",
    ],
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "resilience.models.core.ErrorGroup.Status",  # its name before dead letters
        "DeadLetterStatusEnum": "resilience.models.dead_letters.DeadLetter.Status",
        "ReplayableStatusEnum": "resilience.api.dead_letters.REPLAYABLE_STATUS_CHOICES",
    },
}

# Celery. The embedded default is kombu's filesystem transport under var/broker.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu's exchange tables; unset, kombu writes them to ./control in the cwd.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Keep retry countdowns well under this (celery #4766: longer ETAs redeliver twice).
    # Short socket timeouts and a health check so a dead broker is noticed in seconds
    # and a publish never hangs (issue 12); the socket timeout stays above kombu's 1 s BRPOP.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
# Separate queues so a large replay or clean-up never starves digestion.
CELERY_TASK_ROUTES = {
    "resilience.tasks.digest_*": {"queue": "digest"},
    "resilience.tasks.dead_letter_*": {"queue": "replay"},
    "recovery.tasks.*": {"queue": "maintenance"},
    "campaigns.tasks.*": {"queue": "maintenance"},
    "alerts.tasks.*": {"queue": "alerts"},
    # The monitors' overdue sweep raises alerts: a sweep late behind a clean-up is a late page.
    "monitors.tasks.*": {"queue": "alerts"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker keeps reconnecting for as long as the broker is away (the default gives up after
# 100 tries and exits); each connection attempt is bounded.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 2

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="faultline@localhost")
# Seconds an SMTP connection may block (alert emails); Django's default is no timeout.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# Faultline's own knobs (FAULTLINE_* in the environment) are declared and read in
# resilience/conf.py, not here; a FAULTLINE dict in settings overrides them (test.py).

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Every digested error, as the seed's ErrorLogger prints it (LOW entries at INFO):
        # raise to WARNING to keep only MEDIUM and up.
        "faultline.errors": {"level": env.str("ERRORS_LOG_LEVEL", default="INFO")},
        # axes logs every request it looks at; failures are on faultline.security.
        "axes": {"level": "WARNING"},
    },
}

# The ingest API enforces its own, larger body limit (FAULTLINE INGEST_MAX_BODY_BYTES) and
# answers 413 itself; Django's generic limit would turn a big batch into a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
