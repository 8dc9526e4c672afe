"""Every application error is answered in one place (resilience/api/exceptions.py), with
the status and the message each view gave when it translated the error itself."""

import pytest

from resilience.api.exceptions import api_exception_handler
from resilience.circuits.services import CircuitLimitReached
from resilience.core.report_schema import ReportError
from resilience.core.safe_json import UnsafeJSON
from resilience.core.time_ranges import BadRange
from resilience.dead_letters.services import DeadLetterError
from resilience.sentry.decoding import BadBody, BodyTooLarge, UnsupportedEncoding

LIMIT = CircuitLimitReached(service_id=1, operation="orders.sync", limit=3)

ANSWERS = [
    (ReportError("reports[3].attempt_count", "must be an integer"), 400,
     {"message": "reports[3].attempt_count: must be an integer",
      "field": "reports[3].attempt_count"}),
    (DeadLetterError("already discarded", conflict=True), 409,
     {"message": "already discarded"}),
    (DeadLetterError("must be 0 or more", field="older_than_days"), 400,
     {"message": "older_than_days: must be 0 or more", "field": "older_than_days"}),
    (DeadLetterError("say what to purge: older_than_days or ids"), 400,
     {"message": "say what to purge: older_than_days or ids"}),
    (LIMIT, 409, {"message": f"operation: {LIMIT}", "field": "operation"}),
    (BadRange("use 15m, 6h or 7d"), 400,
     {"message": "range: use 15m, 6h or 7d", "field": "range"}),
    (UnsafeJSON("contains a NUL character", "payload.qty"), 400,
     {"message": "payload.qty: contains a NUL character", "field": "payload.qty"}),
    (UnsafeJSON("is not valid JSON"), 400, {"message": "Request body is not valid JSON."}),
    (BodyTooLarge("decompressed", 100), 413,
     {"message": "Request body is too large: the decompressed body is over the limit of "
                 "100 bytes."}),
    (UnsupportedEncoding("unsupported Content-Encoding 'lzma'"), 415,
     {"message": "unsupported Content-Encoding 'lzma'"}),
    (BadBody("truncated gzip stream"), 400,
     {"message": "Request body cannot be decompressed: truncated gzip stream."}),
]


@pytest.mark.parametrize(("error", "status", "body"), ANSWERS,
                         ids=[f"{type(e).__name__}-{s}" for e, s, _ in ANSWERS])
def test_each_application_error_has_its_answer(error, status, body):
    response = api_exception_handler(error, {})

    assert (response.status_code, response.data) == (status, body)


def test_an_error_the_table_does_not_know_is_left_to_django():
    assert api_exception_handler(KeyError("x"), {}) is None
