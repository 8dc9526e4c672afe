"""Every row of the seed's code table through POST /api/v1/errors/: the answer is the
seed's category, severity, retryable, recoverable and strategy."""

import json

import pytest

from resilience.models import ErrorLogEntry
from tests.resilience.test_classification import SEED_TABLE, seed_expected, seed_report
from tests.resilience.test_strategy import seed_strategy

URL = "/api/v1/errors/"


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("code", list(SEED_TABLE))
@pytest.mark.parametrize("attempt_count", [0, 3])
def test_a_seed_row_is_answered_as_the_seed(service_client, code, attempt_count):
    response = post(service_client, {**seed_report(code), "attempt_count": attempt_count})
    assert response.status_code == 201, response.content
    body = response.json()
    category, severity, retryable, recoverable = seed_expected(code)
    assert (body["category"], body["severity"], body["retryable"], body["recoverable"]) == (
        category, severity, retryable, recoverable
    )
    assert body["strategy"] == seed_strategy(severity, category, retryable, recoverable,
                                             attempt_count, 3, allow_request=True)
    entry = ErrorLogEntry.objects.get(pk=body["id"])
    assert entry.classification["code"] == code
    assert entry.classification["classified_by"] == "code"


def test_a_whole_batch_of_seed_rows_is_answered_in_order(service_client):
    codes = list(SEED_TABLE)
    response = post(service_client, [seed_report(code) for code in codes])
    assert response.status_code == 201, response.content
    assert [row["category"] for row in response.json()] == [SEED_TABLE[c] for c in codes]


def test_an_operator_rule_overrides_a_seed_row(service_client):
    from resilience.models import ClassificationRule

    ClassificationRule.objects.create(code="ECONNREFUSED", category="EXTERNAL_DEPENDENCY")
    body = post(service_client, {"code": "ECONNREFUSED"}).json()
    assert (body["category"], body["severity"]) == ("EXTERNAL_DEPENDENCY", "MEDIUM")
    ClassificationRule.objects.filter(code="ECONNREFUSED").update(severity="CRITICAL")
    body = post(service_client, {"code": "ECONNREFUSED"}).json()
    assert (body["severity"], body["strategy"]) == ("CRITICAL", "IMMEDIATE_ALERT")


def test_a_wrapped_error_says_its_cause_decided(service_client):
    body = post(service_client, {"name": "ServiceError",
                                 "cause": {"name": "ConnectionRefusedError"}}).json()
    assert (body["category"], body["retryable"], body["strategy"]) == ("TRANSIENT", True, "RETRY")
    entry = ErrorLogEntry.objects.get(pk=body["id"])
    assert entry.classification["classified_by"] == "cause"


@pytest.mark.parametrize(("report", "code"), [({"status": 503}, "503"), ({"errno": -111},
                                                                         "ECONNREFUSED")])
def test_a_report_without_code_or_name_is_logged_under_its_extracted_code(service_client,
                                                                          report, code):
    # The seed's ServiceError.code is extractErrorCode's: the log and the top codes show it.
    body = post(service_client, report).json()
    assert ErrorLogEntry.objects.get(pk=body["id"]).code == code
