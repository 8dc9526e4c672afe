"""The rules admin: the built-in table with the seed's rows, and overrides without a
severity of their own."""

from django.test import Client

from resilience.core.classification import SEED_CODE_TABLE
from resilience.models import ClassificationRule

DEFAULTS = "/admin/resilience/classificationrule/defaults/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_built_in_table_lists_every_seed_row_first(viewer):
    response = logged_in(viewer).get(DEFAULTS)
    assert response.status_code == 200
    rows = response.context["rows"]
    seed_rows = [row for row in rows if row["source"] == "seed"]
    assert [row["code"] for row in seed_rows] == list(SEED_CODE_TABLE)
    assert rows[: len(seed_rows)] == seed_rows
    econnrefused = next(row for row in rows if row["code"] == "ECONNREFUSED")
    assert (econnrefused["category"], econnrefused["severity"]) == ("TRANSIENT", "LOW")
    assert b"Override" not in response.content  # a Viewer cannot add rules


def test_an_override_is_shown_against_its_row(triager):
    rule = ClassificationRule.objects.create(code="ENOTFOUND", category="TRANSIENT")
    response = logged_in(triager).get(DEFAULTS)
    row = next(row for row in response.context["rows"] if row["code"] == "ENOTFOUND")
    assert row["override"] == rule


def test_anonymous_users_are_sent_to_log_in(db):
    response = Client().get(DEFAULTS)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_rule_without_severity_shows_the_categorys(admin_client):
    ClassificationRule.objects.create(code="E_LEDGER", category="EXTERNAL_DEPENDENCY")
    response = admin_client.get("/admin/resilience/classificationrule/")
    assert b"MEDIUM (by category)" in response.content
    assert b"Built-in table" in response.content
