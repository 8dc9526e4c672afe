"""The seed's dead-letter alert is still raised when a DEAD_LETTER decision has nothing to
replay and no dead letter is made; it then points at the group marked for manual
intervention (resilience/dead_letters/services.py: dead_letter_replayable)."""

import pytest

from resilience.models import DeadLetter, ErrorGroup
from tests.alerts.conftest import configure_defaults
from tests.alerts.helpers import digest, entries
from tests.alerts.test_evaluate import evaluate

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(receiver):
    return configure_defaults(slack=receiver.url)


def test_no_dead_letter_still_raises_the_seeds_alert_linking_the_group(service, queue,
                                                                       configured):
    entries(service, 2, strategy="DEAD_LETTER", category="DATA_CORRUPTION", severity="LOW",
            name="IntegrityError", code="", operation="ledger.post", payload=None)
    [dead] = [a for a in evaluate(digest()) if a.kind == "dead_letter"]

    assert not DeadLetter.objects.exists()
    group = ErrorGroup.objects.get()
    assert group.needs_manual_intervention
    assert (dead.level, dead.message, dead.occurrences) == (
        "HIGH", "Operation moved to dead letter queue: ledger.post", 2)
    assert dead.content["link"].endswith(f"/admin/resilience/errorgroup/{group.pk}/change/")
    assert dead.content["extra"]["needs_manual_intervention"] is True
