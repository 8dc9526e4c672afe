"""Processors in separate processes racing for the same due timers run each exactly once
(SELECT … FOR UPDATE SKIP LOCKED, claimed RUNNING in the claiming transaction)."""

from datetime import timedelta

import pytest
from django.db import connection

from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from campaigns.status_changes import campaign_schedule
from resilience import conf
from tests.campaigns import workers
from tests.resilience import circuit_workers

pytestmark = pytest.mark.usefixtures("restore_migrated_data")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_four_processors_run_each_due_timer_once(postgres, make_campaign, settings):
    campaigns = [campaign_schedule(campaign=make_campaign(start_in=timedelta(seconds=-1)))
                 for _ in range(40)]
    starts = set(CampaignTimer.objects.filter(type="campaign.start")
                 .values_list("id", flat=True))
    prefix = conf.get("CIRCUIT_KEY_PREFIX")
    results = circuit_workers.run_all(
        workers.process_timers, [(connection.settings_dict["NAME"], prefix, 3)] * 4,
        timeout=120,
    )
    completed = [timer_id for ids in results for timer_id in ids]
    assert sorted(completed) == sorted(starts)  # every one, none twice
    assert sum(1 for ids in results if ids) >= 2  # they really shared the work
    assert set(Campaign.objects.filter(pk__in=[c.pk for c in campaigns])
               .values_list("status", flat=True)) == {"RUNNING"}
    assert OutboxEvent.objects.filter(topic="lifecycle.campaign.started").count() == 40
    assert set(CampaignTimer.objects.filter(type="campaign.end")
               .values_list("status", flat=True)) == {"PENDING"}
