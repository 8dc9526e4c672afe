"""Generated data for the dashboard tests: every category, severity and strategy, many
hours, two services and two environments, digested, with outcomes reported both before and
after the digest."""

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from resilience.core.classification import Category, Severity
from resilience.core.strategy import Strategy
from resilience.digest.service import digest_batch
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import ErrorLogEntry
from tests import factories


@dataclass
class Generated:
    now: datetime
    services: list
    entries: list[ErrorLogEntry]


def generate(now: datetime, *, count: int = 360, hours: int = 50, seed: int = 7) -> Generated:
    rng = random.Random(seed)
    services = [factories.ServiceFactory(), factories.ServiceFactory()]
    combos = list(itertools.product(Category, Severity, Strategy))
    codes = ["ECONNREFUSED", "ETIMEDOUT", "503", "ValidationError", "DeadlockDetected", ""]
    entries = []
    for n in range(count):
        category, severity, strategy = combos[n % len(combos)]
        code = rng.choice(codes)
        entries.append(factories.ErrorLogEntryFactory.build(
            service=rng.choice(services),
            timestamp=now - timedelta(minutes=rng.randrange(hours * 60)),
            category=category.value, severity=severity.value, strategy=strategy.value,
            code=code, name="" if code else "KeyError",
            message=f"failure {rng.randrange(4)}", operation=rng.choice(["a.b", "c.d"]),
            environment=rng.choice(["production", "staging"]),
        ))
    ErrorLogEntry.objects.bulk_create(entries)
    entries = list(ErrorLogEntry.objects.order_by("id"))
    # Outcomes reported before the digest: the digest must count them.
    for entry in entries[::5]:
        entry_outcome_record(entry_id=entry.pk, succeeded=entry.pk % 2 == 0)
    digest_batch(limit=10_000)
    # ... and after it: the rollup row is updated; some flip, some are repeated.
    for entry in entries[1::7]:
        entry_outcome_record(entry_id=entry.pk, succeeded=entry.pk % 3 == 0)
    for entry in entries[::10]:
        entry_outcome_record(entry_id=entry.pk, succeeded=True)
    for entry in entries[::20]:
        entry_outcome_record(entry_id=entry.pk, succeeded=True)
    return Generated(now=now, services=services, entries=list(
        ErrorLogEntry.objects.order_by("id")))


@pytest.fixture
def generated(db) -> Generated:
    return generate(timezone.now())


@pytest.fixture(autouse=True)
def fresh_cache():
    """/metrics caches the sums of old rollups; no test may see another test's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# What a week of a small shop's errors looks like: mostly transient and dependency
# failures, few critical ones, more by day than by night. Used by the browser test and by
# bench/screenshots.py (docs/screenshots/).
REALISTIC = [
    # (weight, service, code, name, message, category, severity, strategy)
    (30, "checkout", "ECONNRESET", "", "socket hang up calling payments-api", "TRANSIENT",
     "MEDIUM", "RETRY"),
    (18, "checkout", "503", "", "payments-api answered 503 Service Unavailable",
     "EXTERNAL_DEPENDENCY", "HIGH", "RETRY"),
    (12, "notifications", "ETIMEDOUT", "", "smtp.example.net:587 timed out after 10000 ms",
     "TRANSIENT", "MEDIUM", "FALLBACK"),
    (9, "billing", "DeadlockDetected", "", "deadlock detected while updating invoices",
     "TRANSIENT", "HIGH", "RETRY"),
    (8, "billing", "ValidationError", "", "amount must be positive", "BUSINESS_LOGIC", "LOW",
     "DEAD_LETTER"),
    (6, "notifications", "429", "", "rate limited by push provider", "EXTERNAL_DEPENDENCY",
     "MEDIUM", "CIRCUIT_BREAK"),
    (5, "checkout", "", "KeyError", "'currency' missing from cart payload", "PERMANENT", "HIGH",
     "FALLBACK"),
    (4, "billing", "ENOMEM", "", "worker out of memory rendering PDF", "RESOURCE_EXHAUSTION",
     "HIGH", "FALLBACK"),
    (3, "checkout", "ImproperlyConfigured", "", "PAYMENTS_API_URL is not set",
     "CONFIGURATION", "CRITICAL", "IMMEDIATE_ALERT"),
    (2, "billing", "IntegrityError", "", "checksum mismatch on ledger row",
     "DATA_CORRUPTION", "CRITICAL", "DEAD_LETTER"),
    (2, "accounts", "PermissionDenied", "", "token signature invalid", "SECURITY", "CRITICAL",
     "IMMEDIATE_ALERT"),
]


def generate_realistic(now: datetime, *, count: int = 1500, hours: int = 24 * 7,
                       seed: int = 3) -> Generated:
    import math

    rng = random.Random(seed)
    services = {name: factories.ServiceFactory(name=name, slug=name)
                for name in sorted({row[1] for row in REALISTIC})}
    weights = [row[0] for row in REALISTIC]
    entries = []
    while len(entries) < count:
        ago = rng.randrange(hours * 60)
        moment = now - timedelta(minutes=ago)
        # Daytime (UTC 8-20) is busier; reject some night-time draws.
        if rng.random() > 0.35 + 0.65 * max(0.0, math.sin((moment.hour - 6) / 24 * 2 * math.pi)):
            continue
        _, service, code, name, message, category, severity, strategy = rng.choices(
            REALISTIC, weights)[0]
        entries.append(factories.ErrorLogEntryFactory.build(
            service=services[service], timestamp=moment, category=category,
            severity=severity, strategy=strategy, code=code, name=name, message=message,
            operation=f"{service}.handle", environment="production",
            outcome=rng.choice(["SUCCEEDED"] * 6 + ["FAILED"] * 2 + [""] * 2)
            if strategy in ("RETRY", "FALLBACK") else "",
        ))
    ErrorLogEntry.objects.bulk_create(entries)
    digest_batch(limit=10_000)
    return Generated(now=now, services=list(services.values()),
                     entries=list(ErrorLogEntry.objects.order_by("id")))
