"""Process-local Prometheus metrics, in prometheus_client's default registry.

/metrics (resilience/observability/prometheus.py) exposes these beside the figures it reads from the
database. Each web process counts its own; Prometheus sums them across processes.
"""

from prometheus_client import Counter

# Sentry envelope items Faultline answers 200 and does not store (transactions, sessions,
# client reports, attachments, …). Unknown types are counted as "other" so a client
# cannot create unbounded label values.
SENTRY_ITEMS_DROPPED = Counter(
    "faultline_sentry_items_dropped",
    "Sentry envelope items accepted and dropped (not stored), by item type",
    ["type"],
)
SENTRY_DROPPED_TYPES = frozenset({
    "transaction", "session", "sessions", "client_report", "attachment", "user_report",
    "feedback", "check_in", "profile", "profile_chunk", "replay_event", "replay_recording",
    "replay_video", "statsd", "metric_meta", "span", "log", "otel_log", "trace_metric",
})


def sentry_item_dropped(item_type: str, count: int = 1) -> None:
    label = item_type if item_type in SENTRY_DROPPED_TYPES else "other"
    SENTRY_ITEMS_DROPPED.labels(type=label).inc(count)


# Work done for request bodies, so a bound on it can be seen (and tested): bytes produced
# by decompression (Sentry endpoints and the native API) and Sentry envelope items framed.
BODY_DECOMPRESSED_BYTES = Counter(
    "faultline_body_decompressed_bytes",
    "Request body bytes produced by decompression (Sentry endpoints and the native API)",
)
SENTRY_ITEMS_FRAMED = Counter(
    "faultline_sentry_envelope_items",
    "Sentry envelope items framed, before they are mapped, stored or dropped",
)
REQUESTS_RATE_LIMITED = Counter(
    "faultline_requests_rate_limited",
    "Requests refused with 429 by a budget: a key's reports, dead_letters or circuit_calls, "
    "or an address's unauthenticated requests",
    ["scope"],
)


def request_limited(scope: str) -> None:
    REQUESTS_RATE_LIMITED.labels(scope=scope).inc()


# A use of a dependency that went on without it (resilience/infra/cache_guard.py): rate limits not
# enforced, cached figures read live, circuits on their database rows.
DEPENDENCY_FAIL_OPEN = Counter(
    "faultline_dependency_fail_open",
    "Calls that went on without an unreachable dependency instead of failing, by use",
    ["dependency", "use"],
)


def dependency_failed_open(*, dependency: str, use: str) -> None:
    DEPENDENCY_FAIL_OPEN.labels(dependency=dependency, use=use).inc()
