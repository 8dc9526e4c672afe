"""The admin login is throttled (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one
username from one address lock that pair out, even for the right password; the failures are
logged, the lockout audited, superusers see the attempts, and axes_reset unlocks."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from resilience.models import AuditEvent

LOGIN = "/admin/login/"
PASSWORD = "the-right-password-42"


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops", password=PASSWORD, is_staff=True)


def login(client: Client, password: str, username: str = "ops", **extra):
    return client.post(LOGIN, {"username": username, "password": password,
                               "next": "/admin/"}, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client: Client, times: int, **extra) -> list[int]:
    return [login(client, f"wrong-{n}", **extra).status_code for n in range(times)]


def test_the_right_password_is_refused_once_the_limit_is_reached(settings, staff):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    # The form again four times; the fifth failure is answered with the lockout.
    assert fail(client, 5) == [200, 200, 200, 200, 429]
    response = login(client, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page and "axes_reset_username ops" in page
    assert not logged_in(client)
    assert AccessAttempt.objects.get(username="ops").failures_since_start >= 5


def test_two_hundred_wrong_passwords_then_the_right_one_does_not_log_in(settings, staff):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    answers = {login(client, f"guess-{n}").status_code for n in range(200)}
    assert answers == {200, 429}
    assert login(client, PASSWORD).status_code == 429
    assert not logged_in(client)


def test_the_lockout_is_per_username_and_address(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("other", password=PASSWORD, is_staff=True)
    fail(Client(), 3, REMOTE_ADDR="203.0.113.9")
    assert login(Client(), PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    # The same user from elsewhere, and another user from the same address, still log in.
    elsewhere = Client()
    assert login(elsewhere, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302
    assert logged_in(elsewhere)
    neighbour = Client()
    login(neighbour, PASSWORD, username="other", REMOTE_ADDR="203.0.113.9")
    assert logged_in(neighbour)


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 0
    # An attacker rotating the header gains nothing: the peer's address counts.
    for n in range(3):
        login(Client(), "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert login(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_a_trusted_proxy_the_address_it_saw_counts(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    # nginx appends the client it saw; what the client wrote before that is ignored.
    for n in range(3):
        login(Client(), "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 203.0.113.5")
    assert login(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    other_client = Client()
    login(other_client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.1")
    assert logged_in(other_client)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_the_lockout_ends_after_the_cool_off(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    fail(Client(), 3)
    assert login(Client(), PASSWORD).status_code == 429
    # Sixteen minutes later (the attempt's time is what axes measures from).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    client = Client()
    assert login(client, PASSWORD).status_code == 302 and logged_in(client)


def test_axes_reset_username_unlocks_at_once(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    fail(Client(), 3)
    assert login(Client(), PASSWORD).status_code == 429
    call_command("axes_reset_username", "ops")
    client = Client()
    assert login(client, PASSWORD).status_code == 302 and logged_in(client)


def test_failures_are_logged_and_the_lockout_audited(settings, staff, caplog):
    settings.AXES_FAILURE_LIMIT = 3
    with caplog.at_level(logging.WARNING, logger="faultline.security"):
        fail(Client(), 3, REMOTE_ADDR="203.0.113.9")
    failures = [r.getMessage() for r in caplog.records if r.name == "faultline.security"]
    assert sum("login failed: username='ops' address=203.0.113.9" in m for m in failures) == 3
    assert any("login locked out: username='ops'" in m for m in failures)
    event = AuditEvent.objects.get(action="auth.locked_out")
    assert event.detail == {"username": "ops", "address": "203.0.113.9"}
    assert AccessFailureLog.objects.filter(username="ops").count() == 3
    # Passwords are never kept, not even the wrong ones.
    assert not AccessAttempt.objects.filter(post_data__contains="wrong-").exists()


def test_superusers_see_the_failed_logins_and_viewers_do_not(settings, staff, admin_client,
                                                             viewer):
    settings.AXES_FAILURE_LIMIT = 3
    fail(Client(), 2, REMOTE_ADDR="203.0.113.9")
    page = admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "ops" in page and "203.0.113.9" in page
    assert admin_client.get("/admin/axes/accessfailurelog/").status_code == 200
    client = Client()
    client.force_login(viewer)
    assert client.get("/admin/axes/accessattempt/").status_code == 403


def test_a_success_before_the_limit_starts_the_count_again(settings, staff):
    settings.AXES_FAILURE_LIMIT = 3
    fail(Client(), 2)
    assert login(Client(), PASSWORD).status_code == 302
    fail(Client(), 2)
    client = Client()
    assert login(client, PASSWORD).status_code == 302 and logged_in(client)


def test_a_nul_byte_in_the_username_is_a_form_error_not_a_500(postgres, staff):
    response = login(Client(), "whatever", username="op\x00s")
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
