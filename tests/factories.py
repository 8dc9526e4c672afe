"""One factory per model; see tests/conftest.py for the fixtures built on them."""

import uuid

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from resilience.ingest.keys import service_key_create
from resilience.models import ErrorGroup, ErrorLogEntry, Service


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"service-{n}")
    slug = factory.LazyAttribute(lambda o: o.name)


def service_key(service, **kwargs):
    return service_key_create(service=service, **kwargs)


def operator_token(user: User) -> str:
    """A raw operator API token for `user` (use as `Authorization: Token <raw>`)."""
    from accounts.services import operator_token_create

    return operator_token_create(user=user)[1]


def operator(username: str, *, role: str) -> User:
    """A staff user in the Triager or Viewer group (created by a data migration)."""
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


class ErrorGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorGroup

    service = factory.SubFactory(ServiceFactory)
    fingerprint = factory.LazyFunction(lambda: uuid.uuid4().hex + uuid.uuid4().hex)
    title = factory.Sequence(lambda n: f"ConnectionError: upstream {n} refused")
    name = "ConnectionError"
    code = "ECONNREFUSED"
    operation = "payment.charge"
    category = "EXTERNAL_DEPENDENCY"
    severity = "HIGH"
    times_seen = 1
    first_seen = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)


class ErrorLogEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorLogEntry

    service = factory.SubFactory(ServiceFactory)
    event_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    timestamp = factory.LazyFunction(timezone.now)
    category = "EXTERNAL_DEPENDENCY"
    severity = "HIGH"
    retryable = True
    recoverable = True
    strategy = "RETRY"
    retry_after_ms = 1000
    code = "ECONNREFUSED"
    name = "ConnectionError"
    message = "connection refused"
    operation = "payment.charge"


class DeadLetterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "resilience.DeadLetter"

    service = factory.SubFactory(ServiceFactory)
    operation = "database.write"
    payload = factory.Sequence(lambda n: {"order": n, "amount": "12.50"})
    reason = "IntegrityError: duplicate key value violates unique constraint"
    category = "DATA_CORRUPTION"
    attempt_count = 3


class ReplayTargetFactory(factory.django.DjangoModelFactory):
    """A webhook target; fast by default so that tests do not wait on pacing."""

    class Meta:
        model = "resilience.ReplayTarget"

    service = factory.SubFactory(ServiceFactory)
    operation = "database.write"
    kind = "WEBHOOK"
    url = "http://127.0.0.1:9/never"
    secret = "whsec-test-0123456789"
    rate_per_second = 1000.0
