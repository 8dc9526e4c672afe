"""Circuits belong to a service: a key reads and reports only the circuits its service uses
(its own, and those an operator shared); a service may make only so many; idle ones expire;
the list pages; /metrics stays bounded. On PostgreSQL and Redis."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from resilience import conf
from resilience.circuits.expiry import circuits_expire_idle
from resilience.circuits.lookup import UNTRACKED
from resilience.circuits.redis_breaker import RedisCircuitStore
from resilience.circuits.services import (
    CircuitLimitReached,
    CircuitRef,
    SharingRefused,
    circuit_force,
    circuit_permit,
    circuit_record_failure,
    circuit_reset,
    circuit_set_shared,
    circuit_status,
    circuit_view,
)
from resilience.handling import guard as handling
from resilience.models import AuditEvent, CircuitState, CircuitTransition, Service
from resilience.models.circuits import GUARD_SERVICE_SLUG
from resilience.observability import prometheus
from tests import factories
from tests.resilience import circuit_workers

OP = "payments.charge"


@pytest.fixture(autouse=True)
def on_services(settings, postgres, redis_url):
    settings.REDIS_URL = redis_url
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_FAILURE_THRESHOLD": 5,
                          "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}


def client_for(service: Service) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {factories.service_key(service)[1]}")


@pytest.fixture
def payments(db):
    return factories.ServiceFactory(name="payments", slug="payments")


@pytest.fixture
def search(db):
    return factories.ServiceFactory(name="search", slug="search")


def post(client, url, body=None):
    return client.post(url, data="" if body is None else json.dumps(body),
                       content_type="application/json")


def results(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {(row["service"], row["operation"]): row for row in response.json()["results"]}


# --- confinement -------------------------------------------------------------------------


def test_five_failures_from_one_service_never_open_another_services_circuit(payments, search):
    attacker, victim = client_for(search), client_for(payments)
    post(victim, f"/api/v1/circuits/{OP}/permit/")  # the victim's circuit exists, closed
    for _ in range(5):
        assert post(attacker, f"/api/v1/circuits/{OP}/failure/").status_code == 200
    assert post(attacker, f"/api/v1/circuits/{OP}/permit/").json()["allowed"] is False
    assert post(victim, f"/api/v1/circuits/{OP}/permit/").json() == {
        "allowed": True, "state": "CLOSED", "retry_after_ms": None, "probe_token": None,
        "until": None}
    assert dict(CircuitState.objects.values_list("service__slug", "state")) == {
        "payments": "CLOSED", "search": "OPEN"}


def test_reports_count_only_against_their_own_services_circuit(payments, search):
    report = {"code": "ECONNREFUSED", "message": "refused", "operation": OP}
    answers = post(client_for(search), "/api/v1/errors/", [report] * 5).json()
    assert {(a["strategy"], a["circuit"]) for a in answers} == {("CIRCUIT_BREAK", "OPEN")}
    other = post(client_for(payments), "/api/v1/errors/", report).json()
    assert (other["strategy"], other["circuit"]) == ("RETRY", "CLOSED")


def test_a_key_reads_only_the_circuits_its_service_uses(payments, search, viewer):
    post(client_for(payments), f"/api/v1/circuits/{OP}/failure/")
    post(client_for(search), "/api/v1/circuits/search.query/failure/")
    circuit_force(operation="timer.execute", state="FORCED_OPEN", actor=None)  # Faultline's
    key = client_for(search)
    assert set(results(key.get("/api/v1/circuits/"))) == {("search", "search.query")}
    assert key.get(f"/api/v1/circuits/{OP}/").status_code == 404
    assert key.get("/api/v1/circuits/timer.execute/").status_code == 404
    # Naming another service does not widen what a key sees.
    assert results(key.get("/api/v1/circuits/", {"service": "payments"})) == {}
    assert key.get(f"/api/v1/circuits/{OP}/", {"service": "payments"}).status_code == 404
    # Operators see them all.
    operator = Client(HTTP_AUTHORIZATION=f"Token {factories.operator_token(viewer)}")
    assert set(results(operator.get("/api/v1/circuits/"))) == {
        ("payments", OP), ("search", "search.query"), (GUARD_SERVICE_SLUG, "timer.execute")}


def test_a_shared_circuit_counts_every_services_failures_and_every_service_reads_it(
    payments, search, triager
):
    first = client_for(payments)
    post(first, f"/api/v1/circuits/{OP}/permit/")
    circuit = CircuitState.objects.get(service=payments, operation=OP)
    assert circuit_set_shared(circuit=circuit, shared=True, actor=triager)
    for client in [first] * 3 + [client_for(search)] * 2:
        post(client, f"/api/v1/circuits/{OP}/failure/")
    for client in (first, client_for(search)):
        assert post(client, f"/api/v1/circuits/{OP}/permit/").json()["state"] == "OPEN"
        detail = client.get(f"/api/v1/circuits/{OP}/").json()
        assert (detail["service"], detail["shared"], detail["state"]) == ("payments", True,
                                                                          "OPEN")
    assert CircuitState.objects.count() == 1  # search made no circuit of its own
    assert AuditEvent.objects.filter(action="circuit.share").count() == 1
    # One shared circuit per operation.
    post(client_for(search), "/api/v1/circuits/search.query/permit/")
    own = CircuitState.objects.create(service=search, operation=OP)
    with pytest.raises(SharingRefused):
        circuit_set_shared(circuit=own, shared=True, actor=triager)
    # Made private again, each service is back on its own circuit.
    assert circuit_set_shared(circuit=circuit, shared=False, actor=triager)
    assert post(client_for(search), f"/api/v1/circuits/{OP}/permit/").json()["allowed"]


def test_calls_that_name_no_service_are_faultlines_own(search):
    # The guard, the campaign processor and recovery name no service: timer.execute and
    # event.publish are Faultline's circuits, which no service key can reach.
    for _ in range(5):
        circuit_record_failure(operation="timer.execute")
    assert circuit_view(operation="timer.execute").is_open
    row = CircuitState.objects.get(operation="timer.execute")
    assert row.service.slug == GUARD_SERVICE_SLUG == handling.GUARD_SERVICE_SLUG
    assert post(client_for(search), "/api/v1/circuits/timer.execute/permit/").json()[
        "allowed"] is True


# --- the limit per service ---------------------------------------------------------------


def test_past_its_limit_a_service_gets_a_409_and_its_reports_are_still_accepted(
    settings, payments, search
):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_MAX_PER_SERVICE": 3}
    client = client_for(payments)
    for i in range(3):
        assert post(client, f"/api/v1/circuits/op.{i}/permit/").status_code == 200
    refused = post(client, "/api/v1/circuits/op.3/permit/")
    assert refused.status_code == 409
    body = refused.json()
    assert body["field"] == "operation" and "3 circuits" in body["message"]
    assert "FAULTLINE_CIRCUIT_MAX_PER_SERVICE" in body["message"]
    assert post(client, "/api/v1/circuits/op.3/failure/").status_code == 409
    # Circuits it has keep working, and a success on an unknown one changes nothing.
    assert post(client, "/api/v1/circuits/op.0/failure/").json() == {"state": "CLOSED"}
    assert post(client, "/api/v1/circuits/op.3/success/").json() == {"state": "CLOSED"}
    # Reports are never refused for want of a circuit: they say it is not tracked.
    report = {"code": "ECONNREFUSED", "message": "refused", "operation": "op.3"}
    accepted = post(client, "/api/v1/errors/", report)
    assert accepted.status_code == 201
    assert (accepted.json()["strategy"], accepted.json()["circuit"]) == ("RETRY", UNTRACKED)
    assert CircuitState.objects.filter(service=payments).count() == 3
    # Another service is not affected by this one's limit.
    assert post(client_for(search), "/api/v1/circuits/op.3/permit/").status_code == 200


def test_faultlines_own_circuits_and_operators_are_not_limited(settings, triager):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_MAX_PER_SERVICE": 1}
    for operation in ("timer.execute", "event.publish", "campaign.update"):
        assert circuit_permit(operation=operation).allowed
    service = factories.ServiceFactory()
    circuit_permit(operation="a", service_id=service.pk)
    with pytest.raises(CircuitLimitReached):
        circuit_permit(operation="b", service_id=service.pk)
    circuit_force(operation="b", service_id=service.pk, state="FORCED_OPEN", actor=triager)
    assert CircuitState.objects.filter(service=service).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_when_16_processes_make_circuits_at_once(settings, redis_url):
    service = factories.ServiceFactory()
    prefix = conf.get("CIRCUIT_KEY_PREFIX")
    answers = circuit_workers.run_all(
        circuit_workers.service_permit,
        [(connection.settings_dict["NAME"], redis_url, prefix, service.pk, f"op.{i}", 5)
         for i in range(16)],
    )
    assert sorted(answers) == ["made"] * 5 + ["refused"] * 11
    assert CircuitState.objects.filter(service=service).count() == 5


# --- the list pages ----------------------------------------------------------------------


def test_the_list_pages_with_a_bounded_limit_and_open_circuits_first(payments):
    CircuitState.objects.bulk_create(
        CircuitState(service=payments, operation=f"op.{i:03}") for i in range(250))
    CircuitState.objects.filter(operation="op.249").update(state="OPEN")
    client = client_for(payments)
    first = client.get("/api/v1/circuits/").json()
    assert first["count"] == 250 and len(first["results"]) == 50 and first["next"]
    assert first["results"][0]["operation"] == "op.249"  # what needs attention first
    assert [r["operation"] for r in first["results"][1:3]] == ["op.000", "op.001"]
    assert len(client.get("/api/v1/circuits/", {"limit": 1000}).json()["results"]) == 200
    last = client.get("/api/v1/circuits/", {"limit": 50, "offset": 200}).json()
    assert len(last["results"]) == 50 and last["next"] is None
    opened = client.get("/api/v1/circuits/", {"state": "OPEN"}).json()
    assert [r["operation"] for r in opened["results"]] == ["op.249"]


@pytest.mark.parametrize(("query", "field"), [
    ({"offset": "-1"}, "offset"),
    ({"offset": "9" * 5000}, "offset"),
    ({"offset": "1" * 30}, "offset"),
    ({"state": "BOGUS"}, "state"),
    ({"service": "a\x00b"}, "service"),  # PostgreSQL refuses NUL in text: never sent to it
])
def test_bad_list_parameters_are_a_400_naming_them(payments, query, field):
    response = client_for(payments).get("/api/v1/circuits/", query)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_operators_name_the_service_when_several_have_the_operation(payments, search,
                                                                     viewer):
    post(client_for(payments), f"/api/v1/circuits/{OP}/permit/")
    post(client_for(search), f"/api/v1/circuits/{OP}/failure/")
    operator = Client(HTTP_AUTHORIZATION=f"Token {factories.operator_token(viewer)}")
    ambiguous = operator.get(f"/api/v1/circuits/{OP}/")
    assert ambiguous.status_code == 400 and ambiguous.json()["field"] == "service"
    detail = operator.get(f"/api/v1/circuits/{OP}/", {"service": "search"}).json()
    assert (detail["service"], detail["failure_count"]) == ("search", 1)
    assert operator.get(f"/api/v1/circuits/{OP}/", {"service": "nobody"}).status_code == 404
    listed = results(operator.get("/api/v1/circuits/", {"service": "payments"}))
    assert set(listed) == {("payments", OP)}


# --- /metrics ----------------------------------------------------------------------------


def test_metrics_export_only_circuits_not_closed_and_at_most_the_limit(settings, payments):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_METRICS_MAX_CIRCUITS": 3}
    CircuitState.objects.bulk_create(
        CircuitState(service=payments, operation=f"op.{i}") for i in range(300))
    CircuitState.objects.filter(operation__in=[f"op.{i}" for i in range(5)]).update(
        state="OPEN")
    families = {f.name: f for f in prometheus._circuit_families(timezone.now())}
    per_circuit = families["faultline_circuit_state"]
    circuits = {s.labels["operation"] for s in per_circuit.samples}
    assert len(circuits) == 3 and circuits <= {f"op.{i}" for i in range(5)}
    assert len(per_circuit.samples) == 3 * len(CircuitState.State.values)
    assert {s.labels["service"] for s in per_circuit.samples} == {"payments"}
    by_state = {s.labels["state"]: s.value for s in families["faultline_circuits"].samples}
    assert by_state["CLOSED"] == 295 and by_state["OPEN"] == 5
    assert isinstance(families["faultline_circuits_not_exported"], GaugeMetricFamily)
    assert families["faultline_circuits_not_exported"].samples[0].value == 2


# --- idle expiry -------------------------------------------------------------------------


@pytest.fixture
def store(settings, redis_url):
    return RedisCircuitStore(redis_url, conf.get("CIRCUIT_KEY_PREFIX"))


def state_key(store, row) -> str:
    return store.keys(CircuitRef.of(row).name)[0]


def age(*rows, hours: int = 2) -> None:
    """As if nothing changed these circuits for `hours`."""
    CircuitState.objects.filter(pk__in=[r.pk for r in rows]).update(
        changed_at=timezone.now() - timedelta(hours=hours))


def test_a_circuits_redis_key_lives_for_the_idle_period_after_each_use(settings, store,
                                                                        payments):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 3600}
    circuit_permit(operation=OP, service_id=payments.pk)
    row = CircuitState.objects.get(operation=OP)
    assert 0 < store.client.pttl(state_key(store, row)) <= 3_600_000
    store.client.pexpire(state_key(store, row), 60_000)
    circuit_status(row)  # an operator reading the list is not a use
    assert store.client.pttl(state_key(store, row)) <= 60_000


def test_idle_circuits_expire_in_batches_and_those_in_use_or_decided_stay(
    settings, store, payments, triager
):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 3600}
    names = ["idle.0", "idle.1", "idle.2", "idle.3", "idle.4", "busy", "recent",
             "forced", "shared", "configured", "open"]
    for name in names:
        circuit_permit(operation=name, service_id=payments.pk)
    for _ in range(5):
        circuit_record_failure(operation="open", service_id=payments.pk)
    circuit_force(operation="forced", service_id=payments.pk, state="FORCED_OPEN",
                  actor=triager)
    rows = {r.operation: r for r in CircuitState.objects.filter(service=payments)}
    circuit_set_shared(circuit=rows["shared"], shared=True, actor=triager)
    CircuitState.objects.filter(pk=rows["configured"].pk).update(failure_threshold=9)
    age(*(rows[name] for name in names if name != "recent"))
    for name in [*(n for n in names if n.startswith("idle.")), "recent"]:
        store.client.delete(state_key(store, rows[name]))  # its TTL ran out: nobody called
    transitions = CircuitTransition.objects.count()

    result = circuits_expire_idle(batch_size=2)

    assert result.deleted == 5 and result.batches == 3 and result.still_used == 1
    assert not result.stopped
    left = set(CircuitState.objects.values_list("operation", flat=True))
    assert left == {"busy", "recent", "forced", "shared", "configured", "open"}
    assert CircuitTransition.objects.count() == transitions  # none of the idle ones had any
    assert AuditEvent.objects.filter(action="circuit.force_open").exists()
    # Used again, an expired circuit starts afresh.
    assert circuit_permit(operation="idle.0", service_id=payments.pk).state == "CLOSED"
    fresh = CircuitState.objects.get(operation="idle.0")
    assert fresh.pk != rows["idle.0"].pk and fresh.version == 0


def test_an_expired_circuit_takes_its_transitions_and_keeps_its_audit(settings, store,
                                                                      triager):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 3600}
    circuit_force(operation="timer.execute", state="FORCED_OPEN", actor=triager)
    row = circuit_reset(operation="timer.execute", actor=triager)
    age(row)
    store.client.delete(state_key(store, row))
    assert circuits_expire_idle().deleted_ids == [row.pk]
    assert not CircuitTransition.objects.exists()
    assert AuditEvent.objects.filter(action="circuit.reset").count() == 1


def test_on_the_database_failures_still_in_the_window_keep_a_circuit(settings, payments):
    settings.REDIS_URL = ""
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 3600}
    circuit_record_failure(operation="counting", service_id=payments.pk)
    circuit_permit(operation="quiet", service_id=payments.pk)
    age(*CircuitState.objects.all())
    result = circuits_expire_idle()
    assert result.deleted == 1 and result.still_used == 1
    assert list(CircuitState.objects.values_list("operation", flat=True)) == ["counting"]


def test_expiry_stops_without_deleting_when_redis_cannot_say_what_is_in_use(settings,
                                                                           payments):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 3600}
    circuit_permit(operation=OP, service_id=payments.pk)
    age(*CircuitState.objects.all())
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    result = circuits_expire_idle()
    assert result.deleted == 0 and result.stopped.startswith("Redis unreachable")
    assert CircuitState.objects.count() == 1


def test_expiry_is_off_at_zero_and_runs_on_celery_beat(settings, payments):
    from django_celery_beat.models import PeriodicTask

    from config.celery_app import app
    from resilience.tasks import circuits_expire_idle_task

    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_IDLE_EXPIRE_SECONDS": 0}
    circuit_permit(operation=OP, service_id=payments.pk)
    age(*CircuitState.objects.all(), hours=24 * 365)
    assert circuits_expire_idle_task()["deleted"] == 0
    assert CircuitState.objects.count() == 1
    task = PeriodicTask.objects.get(name="Circuit idle expiry")
    assert (task.task, task.queue, task.enabled) == (
        "resilience.tasks.circuits_expire_idle", "maintenance", True)
    assert task.task in app.tasks


# --- the upgrade -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_gives_existing_circuits_to_faultline_sharing_those_operators_decided():
    from django.db.migrations.executor import MigrationExecutor

    before = [("resilience", "0010_entry_quarantine")]
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()  # everything back, whatever depends on ours
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("resilience",
                                                                   "CircuitState")
        old.objects.create(operation="timer.execute")
        old.objects.create(operation="payments.charge", state="FORCED_OPEN")
        old.objects.create(operation="search.query", failure_threshold=9)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    rows = {r.operation: (r.service.slug, r.shared) for r in CircuitState.objects.all()}
    assert rows == {"timer.execute": (GUARD_SERVICE_SLUG, False),
                    "payments.charge": (GUARD_SERVICE_SLUG, True),
                    "search.query": (GUARD_SERVICE_SLUG, True)}
