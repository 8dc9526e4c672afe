"""The child-process side of the multi-process circuit tests.

The tests run these functions in separate processes from multiprocessing's *forkserver*:
a clean server process (not a fork of pytest, so no inherited connections or state) that
preloads this module, so each child starts with Django set up and then opens its own
PostgreSQL and Redis connections. Preloading saves each of the 32 children the second it
would spend on django.setup().

The children wait at a barrier after connecting, so the calls really overlap.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

_context = None


def context():
    """The forkserver context, with this module preloaded (once per test session)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    return _context


def _child(func, args, index, queue, barrier) -> None:
    try:
        queue.put((index, func(*args, start=barrier.wait), None))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent to raise
        queue.put((index, None, repr(exc)))


def run_all(func, args_list: list[tuple], timeout: float = 60.0) -> list:
    """Run func(*args) in a process of its own for each args, all at once; results in order."""
    ctx = context()
    queue = ctx.Queue()
    barrier = ctx.Barrier(len(args_list))  # everyone connected, then all go at once
    procs = [ctx.Process(target=_child, args=(func, args, i, queue, barrier))
             for i, args in enumerate(args_list)]
    for proc in procs:
        proc.start()
    results: list = [None] * len(procs)
    errors = []
    for _ in procs:
        index, value, error = queue.get(timeout=timeout)
        results[index] = value
        if error:
            errors.append(error)
    for proc in procs:
        proc.join(timeout)
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed: {errors[0]}")
    return results


def store_permit(url: str, prefix: str, operation: str, cfg: dict, *, start) -> dict:
    """Ask the Redis store (no Django involved) for one permit."""
    from resilience.circuits.redis_breaker import RedisCircuitStore
    from resilience.core.circuit_machine import Config

    store = RedisCircuitStore(url, prefix)
    store.client.ping()  # connect before the start line
    start()
    outcome = store.call("permit", operation, Config(**cfg), new_token=secrets.token_hex(8))
    return {"allowed": outcome.allowed, "token": outcome.probe_token, "pid": os.getpid()}


def service_failure(db_name: str, redis_url: str, prefix: str, operation: str, *,
                    start) -> str:
    """Record one failure through the service, as a web or worker process would."""
    from django.conf import settings
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = db_name  # the test database pytest created
    settings.REDIS_URL = redis_url
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_KEY_PREFIX": prefix}
    from resilience.circuits.redis_breaker import client_for
    from resilience.circuits.services import circuit_record_failure

    connection.ensure_connection()
    client_for(redis_url).ping()
    start()
    state = circuit_record_failure(operation=operation)
    connection.close()
    return state


def service_permit(db_name: str, redis_url: str, prefix: str, service_id: int, operation: str,
                   limit: int, *, start) -> str:
    """Ask for a permit on a new operation as `service_id`, with a circuit limit."""
    from django.conf import settings
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = db_name
    settings.REDIS_URL = redis_url
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_KEY_PREFIX": prefix,
                          "CIRCUIT_MAX_PER_SERVICE": limit}
    from resilience.circuits.redis_breaker import client_for
    from resilience.circuits.services import CircuitLimitReached, circuit_permit

    connection.ensure_connection()
    client_for(redis_url).ping()
    start()
    try:
        circuit_permit(operation=operation, service_id=service_id)
        answer = "made"
    except CircuitLimitReached:
        answer = "refused"
    connection.close()
    return answer
