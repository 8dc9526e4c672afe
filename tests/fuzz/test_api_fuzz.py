"""Schemathesis over /api/schema/: every operation, as a reporting service (Bearer key)
and as an operator (Token), with generated and malformed requests, in-process through
WSGI on PostgreSQL. A failure is any 5xx, a status code or Content-Type the schema does not
list, or an answer that does not match its schema. Bounded and repeatable: at most
MAX_EXAMPLES generated requests per operation and way in (plus schemathesis's coverage
cases), derandomized, no example database; about two minutes on two cores.

After every report the API accepted, the digest runs and the report must be digested or
quarantined, and readable again: one accepted request must never stop grouping or the
reads for everybody (issue 11's year-1 timestamp did both).
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks as generic_checks
from schemathesis.specs.openapi import checks as openapi_checks

from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry
from tests.fuzz.conftest import KNOWN

# CI's bound; `FUZZ_MAX_EXAMPLES=500 make fuzz` digs deeper by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "30"))

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [
    generic_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]

FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _schemes(ctx) -> set[str]:
    return {name for req in ctx.operation.definition.raw.get("security", []) for name in req}


@schema.hook
def flatmap_path_parameters(ctx, path_parameters):
    """Half the time, an `{id}` or `{operation}` that exists (see conftest.world), so the
    fuzz reaches the objects and not only the 404s."""
    if not path_parameters:
        return st.just(path_parameters)
    path = ctx.operation.path
    kind = ("entries" if "/errors/" in path else "groups" if "/groups/" in path
            else "dead_letters" if "/dead-letters/" in path else None)
    name = "id" if kind else "operation"
    kind = kind or "operations"
    if name not in path_parameters or not KNOWN.get(kind):
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.sampled_from(KNOWN[kind]).map(
        lambda value: {**path_parameters, name: value}))


def _reads_back(world, accepted) -> None:
    ids = [answer["id"] for answer in (accepted if isinstance(accepted, list) else [accepted])]
    digest_batch(limit=1000)
    stuck = ErrorLogEntry.objects.filter(pk__in=ids, digested_at=None, quarantined_at=None)
    assert not stuck.exists(), f"accepted but neither digested nor quarantined: {ids}"
    client = Client(HTTP_AUTHORIZATION=world.service_auth)
    for pk in ids:
        assert client.get(f"/api/v1/errors/{pk}/").status_code == 200
    for listing in ("/api/v1/errors/", "/api/v1/groups/", "/api/v1/metrics/"):
        assert client.get(listing).status_code == 200, listing


@pytest.mark.fuzz
@schema.include(lambda ctx: "serviceKey" in _schemes(ctx)).parametrize()
@FUZZ
def test_as_a_reporting_service(case, world):
    response = case.call_and_validate(headers={"Authorization": world.service_auth},
                                      checks=CHECKS)
    if (case.method, case.operation.path) == ("POST", "/api/v1/errors/") and \
            response.status_code == 201:
        _reads_back(world, response.json())


@pytest.mark.fuzz
@schema.include(lambda ctx: "tokenAuth" in _schemes(ctx)).parametrize()
@FUZZ
def test_as_an_operator(case, world):
    case.call_and_validate(headers={"Authorization": world.operator_auth}, checks=CHECKS)
