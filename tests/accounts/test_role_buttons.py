"""A button a role cannot use is not shown: every operator page, as a Viewer and a Triager.

The pages' own tests check that the requests behind the buttons are refused (403); these
check the buttons themselves, one page after another.
"""

import pytest
from django.urls import reverse

from tests.factories import DeadLetterFactory, ErrorGroupFactory

pytestmark = pytest.mark.django_db

# Each list with its actions: (admin URL name, an action only the Triager is offered).
# None: nobody below superuser has one there (Send test alert needs change_channel).
LISTS = [
    ("resilience_errorgroup", "resolve"),
    ("resilience_circuitstate", "force_open"),
    ("resilience_deadletter", "replay"),
    ("resilience_errorlogentry", None),  # releasing from quarantine: superusers
    ("alerts_alertdelivery", "resend"),
    ("alerts_silence", "end_now"),
    ("alerts_channel", None),
    ("recovery_recoveryrun", "run_again"),
]


def offered_actions(client, name: str) -> set[str]:
    form = client.get(reverse(f"admin:{name}_changelist")).context["action_form"]
    return set() if form is None else {value for value, _ in form.fields["action"].choices
                                       if value}


@pytest.mark.parametrize(("name", "triager_action"), LISTS)
def test_a_viewer_is_offered_no_action_and_a_triager_only_its_own(client, viewer, triager,
                                                                 name, triager_action):
    client.force_login(viewer)
    assert offered_actions(client, name) == set(), name
    client.force_login(triager)
    offered = offered_actions(client, name)
    if triager_action:
        assert triager_action in offered
    assert not {"delete_selected", "purge", "send_test_alert"} & offered


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def pages(db):
    """Each page with a button, and the HTML that marks the button on it."""
    letter = DeadLetterFactory(status="PENDING")
    group = ErrorGroupFactory()
    return [
        (reverse("admin:resilience_deadletter_change", args=[letter.pk]), "Edit and replay"),
        (reverse("admin:resilience_deadletter_changelist"), 'value="Replay group"'),
        (reverse("admin:resilience_errorgroup_change", args=[group.pk]), 'name="_triage"'),
        (reverse("admin:recovery_recoveryrun_changelist"), ">Run now</a>"),
        (reverse("admin:alerts_silence_changelist"), reverse("admin:alerts_silence_add")),
    ]


def test_a_viewer_sees_none_of_the_buttons(client, viewer, pages):
    client.force_login(viewer)
    for url, button in pages:
        assert button not in page(client, url), url


def test_a_triager_sees_them_all_but_purge(client, triager, pages):
    client.force_login(triager)
    for url, button in pages:
        assert button in page(client, url), url
    dead_letters = page(client, reverse("admin:resilience_deadletter_changelist"))
    assert 'value="Purge"' not in dead_letters  # superusers purge


def test_a_discarded_dead_letter_offers_no_edit_even_to_a_triager(client, triager):
    letter = DeadLetterFactory(status="DISCARDED")
    client.force_login(triager)
    html = page(client, reverse("admin:resilience_deadletter_change", args=[letter.pk]))
    assert "Edit and replay" not in html
    assert "Discarded: kept for the record" in html
