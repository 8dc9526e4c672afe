"""Faultline's core: classification, grouping, strategy, retry, circuits, ingestion,
dead letters and metrics.

`resilience.guard` and `resilience.handle_error` are the in-process entry points; they are
imported lazily so that importing this package does not load Django models.
"""


def __getattr__(name: str):
    if name in ("guard", "handle_error", "HandlingResult", "CircuitOpenError"):
        from resilience.handling import guard as handling

        return getattr(handling, name)
    raise AttributeError(name)
