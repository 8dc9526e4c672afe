"""Circuit probes across a real Redis outage (a private redis-server killed and started
again empty), on PostgreSQL: probes granted on one side of the outage are honoured on the
other, and never more than `half_open_probes` are in flight."""

import pytest

from resilience.circuits import services as circuits
from resilience.circuits.services import (
    circuit_backend,
    circuit_permit,
    circuit_record_failure,
    circuit_record_success,
    circuit_view,
)
from tests import factories

PROBES = 2


@pytest.fixture
def redis_server(private_redis, settings, monkeypatch):
    settings.REDIS_URL = private_redis.url()
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_FAILURE_THRESHOLD": 1,
                          "CIRCUIT_RECOVERY_TIMEOUT_SECONDS": 0,
                          "CIRCUIT_HALF_OPEN_PROBES": PROBES,
                          "CIRCUIT_PROBE_TIMEOUT_SECONDS": 60}
    # Redis is asked again on the next call after a failure, not a second later.
    monkeypatch.setattr(circuits, "REDIS_RETRY_SECONDS", 0.0)
    circuits.circuit_process_reset()
    return private_redis


def permits(service, count: int) -> list[str]:
    granted = [circuit_permit(operation="payments.charge", service_id=service.pk)
               for _ in range(count)]
    return [p.probe_token for p in granted if p.allowed]


def test_probes_granted_on_the_database_are_honoured_when_redis_returns(postgres,
                                                                        redis_server):
    service = factories.ServiceFactory()
    circuit_record_failure(operation="payments.charge", service_id=service.pk)
    assert circuit_backend() == "redis"

    redis_server.stop()
    during = permits(service, PROBES + 2)
    assert circuit_backend() == "database"
    assert len(during) == PROBES and all(during)

    redis_server.start()  # empty: everything it held is gone
    after = permits(service, PROBES + 2)
    assert circuit_backend() == "redis"
    assert after == []  # the outage's probes still hold every slot: N in flight, not 2N

    state = circuit_record_success(operation="payments.charge", service_id=service.pk,
                                   probe_token=during[0])
    assert state == "CLOSED"
    assert circuit_view(operation="payments.charge", service_id=service.pk).is_open is False


def test_probes_granted_by_redis_hold_their_slots_on_the_database(postgres, redis_server):
    service = factories.ServiceFactory()
    circuit_record_failure(operation="payments.charge", service_id=service.pk)
    granted = permits(service, PROBES)
    assert len(granted) == PROBES and circuit_backend() == "redis"

    redis_server.stop()
    assert permits(service, PROBES + 2) == []  # the database knows Redis's probes
    assert circuit_backend() == "database"
    state = circuit_record_success(operation="payments.charge", service_id=service.pk,
                                   probe_token=granted[1])
    assert state == "CLOSED"

    redis_server.start()
    assert circuit_view(operation="payments.charge", service_id=service.pk).is_open is False
    assert circuit_backend() == "redis"


def test_a_failed_probe_from_the_outage_reopens_the_circuit_in_redis(postgres, redis_server):
    service = factories.ServiceFactory()
    circuit_record_failure(operation="payments.charge", service_id=service.pk)
    redis_server.stop()
    during = permits(service, 1)
    redis_server.start()
    state = circuit_record_failure(operation="payments.charge", service_id=service.pk,
                                   probe_token=during[0])
    assert state == "OPEN"
    assert circuit_backend() == "redis"


def test_a_redis_that_kept_the_half_open_period_takes_the_databases_probes(private_redis):
    from resilience.circuits.redis_breaker import RedisCircuitStore, Seed
    from resilience.circuits.services import default_config

    store = RedisCircuitStore(private_redis.url(), "kept")
    cfg = default_config()  # one probe
    half_open = Seed(state="HALF_OPEN", opened_at_ms=1, version=3)
    assert store.reseed("1/op", cfg, half_open)
    # The same period (same version) with a probe the database granted meanwhile.
    with_probe = Seed(state="HALF_OPEN", opened_at_ms=1, version=3,
                      probes=(("dbprobe", 2**52),))
    assert store.reseed("1/op", cfg, with_probe) is False  # kept, yet the probe is merged
    assert store.call("permit", "1/op", cfg, new_token="late").allowed is False
    assert store.call("success", "1/op", cfg, token="dbprobe").state.value == "CLOSED"


READ_CIRCUIT = """
import django
django.setup()
from resilience.circuits.lookup import circuit_readings_for
from resilience.models import Service
import uuid
slug = f"unknown-{uuid.uuid4().hex[:8]}"
service_id = Service.objects.create(slug=slug, name=slug).pk
print("ready", flush=True)
input()  # the test stops PostgreSQL here
reading = circuit_readings_for(service_id=service_id, failures={"payments.charge": 1})
print(reading["payments.charge"].state, reading["payments.charge"].view.is_open)
"""


def test_a_circuit_neither_redis_nor_postgres_can_read_is_unknown(postgres_up):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.faults.services import free_port

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": postgres_up.database_url,
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    process = subprocess.Popen([sys.executable, "-c", READ_CIRCUIT], env=env,
                               cwd=Path(__file__).resolve().parents[2], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        postgres_up.stop()
        out, err = process.communicate("\n", timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.split() == ["UNKNOWN", "False"]  # decided as if closed, and said so
