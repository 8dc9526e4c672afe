"""Operators' API tokens are stored as SHA-256 only, shown once, and still used as
`Authorization: Token <token>`; DRF tokens from before are hashed by a migration and keep
working."""

import hashlib
import re
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from accounts.models import OperatorToken
from accounts.services import hash_token, operator_token_create, operator_token_revoke
from tests import factories

ADD = reverse("admin:accounts_operatortoken_add")
CHANGELIST = reverse("admin:accounts_operatortoken_changelist")
RAW = re.compile(r"<code>(flo_[A-Za-z0-9_-]+)</code>")
GROUPS = "/api/v1/groups/"


def token_client(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


def test_a_token_made_in_the_admin_is_shown_once_and_stored_as_a_hash(admin_client, admin_user,
                                                                      viewer):
    response = admin_client.post(ADD, {"user": viewer.pk, "label": "ci"}, follow=True)
    (raw,) = RAW.findall(response.content.decode())
    token = OperatorToken.objects.get()
    assert (token.user, token.label, token.created_by) == (viewer, "ci", admin_user)
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.key_prefix == raw[:10]
    # Nowhere in the row, and never on a page again.
    assert raw not in {str(v) for v in OperatorToken.objects.values().get().values()}
    assert raw not in admin_client.get(CHANGELIST).content.decode()
    change = admin_client.get(reverse("admin:accounts_operatortoken_change", args=[token.pk]))
    assert raw not in change.content.decode() and token.key_hash not in change.content.decode()
    assert LogEntry.objects.filter(object_id=str(token.pk), action_flag=1).exists()

    answer = token_client(raw).get(GROUPS)
    assert answer.status_code == 200, answer.content
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_an_unknown_one_and_an_inactive_user_are_401(viewer):
    token, raw = operator_token_create(user=viewer)
    assert token_client(raw).get(GROUPS).status_code == 200
    operator_token_revoke(token=token, actor=None)
    refused = token_client(raw).get(GROUPS)
    assert refused.status_code == 401
    assert refused.json()["message"] == "Unknown or revoked token."
    assert token_client("flo_nothing-like-it").get(GROUPS).status_code == 401
    assert token_client("two parts").get(GROUPS).status_code == 401

    _, other_raw = operator_token_create(user=viewer)
    viewer.is_active = False
    viewer.save()
    assert token_client(other_raw).get(GROUPS).status_code == 401


def test_a_token_acts_with_its_users_permissions_only(viewer, triager):
    group = factories.ErrorGroupFactory()
    url = f"/api/v1/groups/{group.pk}/resolve/"
    assert token_client(factories.operator_token(viewer)).post(url).status_code == 403
    assert token_client(factories.operator_token(triager)).post(url).status_code == 200


def test_the_admin_revoke_action_stops_the_token(admin_client, viewer):
    token, raw = operator_token_create(user=viewer)
    admin_client.post(CHANGELIST, {"action": "revoke", "index": 0,
                                   "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by is not None
    assert token_client(raw).get(GROUPS).status_code == 401


def test_only_a_superuser_makes_tokens_for_someone_else(client, admin_user, triager):
    """A token acts as its user: making one for another user would be taking their rights."""
    triager.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="accounts", codename__in=["add_operatortoken",
                                                          "view_operatortoken"]))
    client.force_login(triager)
    response = client.post(ADD, {"user": admin_user.pk, "label": "mine now"})
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not OperatorToken.objects.exists()
    client.post(ADD, {"user": triager.pk, "label": "my own"})
    assert OperatorToken.objects.get().user == triager
    # ... and sees only their own tokens.
    operator_token_create(user=admin_user)
    listed = client.get(CHANGELIST).context["cl"].result_list
    assert [t.user for t in listed] == [triager]


def test_viewers_cannot_make_tokens(client, viewer):
    client.force_login(viewer)
    assert client.post(ADD, {"user": viewer.pk, "label": "x"}).status_code == 403
    assert not OperatorToken.objects.exists()


def test_the_command_prints_a_token_that_works(viewer):
    out = StringIO()
    call_command("operator_token", "viewer", "--label", "cron", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    assert OperatorToken.objects.get(label="cron").key_hash == hash_token(raw)
    assert token_client(raw).get(GROUPS).status_code == 200


def test_the_schema_still_documents_token_auth(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["type"] == "apiKey" and scheme["name"] == "Authorization"


@pytest.fixture
def drf_era_token(postgres):
    """A database as DRF's authtoken left it: accounts at 0001 and a clear token row."""
    user = User.objects.create_user("automation", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamptz NOT NULL, user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)",
                       ["9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", user.pk])
    return user, "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"


def test_the_migration_hashes_drf_tokens_and_they_keep_working(drf_era_token):
    user, old_key = drf_era_token
    MigrationExecutor(connection).migrate([("accounts", "0002_hash_drf_tokens")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)  # no clear token left
    token = OperatorToken.objects.get(user=user)
    assert token.key_hash == hashlib.sha256(old_key.encode()).hexdigest()
    assert token.key_prefix == old_key[:10]
    assert token_client(old_key).get(GROUPS).status_code == 200


def test_wrong_tokens_from_one_address_are_answered_429_past_its_budget(db, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE": 3}
    client = Client(HTTP_AUTHORIZATION="Token flo_not-a-real-token")
    answers = [client.get("/api/v1/groups/").status_code for _ in range(5)]
    assert answers[:3] == [401, 401, 401]
    assert answers[3:] == [429, 429]
