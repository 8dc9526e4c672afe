"""Scheduling a campaign: DRAFT → SCHEDULED with its two timers; the admin action."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from campaigns.errors import CampaignError
from campaigns.models import Campaign, CampaignTimer
from campaigns.status_changes import campaign_schedule


def test_scheduling_creates_the_start_and_end_timers(make_campaign):
    campaign = make_campaign(start_in=timedelta(hours=1), end_in=timedelta(hours=2))
    campaign_schedule(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "SCHEDULED"
    timers = {t.type: t for t in campaign.timers.all()}
    assert set(timers) == {"campaign.start", "campaign.end"}
    assert timers["campaign.start"].scheduled_at == campaign.start_time
    assert timers["campaign.end"].scheduled_at == campaign.end_time
    assert {t.status for t in timers.values()} == {"PENDING"}


@pytest.mark.parametrize(("start_in", "end_in", "message"), [
    (None, timedelta(hours=1), "needs a start time and an end time"),
    (timedelta(hours=1), None, "needs a start time and an end time"),
    (timedelta(hours=2), timedelta(hours=1), "end time must be after the start time"),
])
def test_scheduling_needs_sensible_times(make_campaign, start_in, end_in, message):
    campaign = make_campaign(start_in=start_in, end_in=end_in)
    with pytest.raises(CampaignError, match=message):
        campaign_schedule(campaign=campaign)
    assert not CampaignTimer.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == "DRAFT"


def test_only_a_draft_can_be_scheduled(make_campaign):
    campaign = make_campaign(status="RUNNING")
    with pytest.raises(CampaignError, match="cannot schedule a RUNNING campaign"):
        campaign_schedule(campaign=campaign)


def test_the_admin_schedule_action_reports_each_campaign(make_campaign, client):
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    good = make_campaign(name="good")
    bad = make_campaign(name="bad", end_in=None)
    response = client.post("/admin/campaigns/campaign/", {
        "action": "schedule", "_selected_action": [good.pk, bad.pk],
    }, follow=True)
    text = [str(m) for m in response.context["messages"]]
    assert text == ["Scheduled 1 campaign.", "bad: a campaign needs a start time and an end time"
                    " to be scheduled"]
    assert Campaign.objects.get(pk=good.pk).status == "SCHEDULED"
    assert Campaign.objects.get(pk=bad.pk).status == "DRAFT"


def test_the_admin_lists_and_filters_campaigns_and_timers(make_campaign, client, viewer):
    campaign_schedule(campaign=make_campaign(name="spring"))
    client.force_login(viewer)
    page = client.get("/admin/campaigns/campaign/?status__exact=SCHEDULED")
    assert page.status_code == 200 and "spring" in page.content.decode()
    detail = client.get(f"/admin/campaigns/campaign/{Campaign.objects.get().pk}/change/")
    assert "campaign.start" in detail.content.decode()  # timers inline
    timers = client.get("/admin/campaigns/campaigntimer/?status__exact=PENDING"
                        "&type__exact=campaign.end")
    assert timers.status_code == 200
    assert client.get("/admin/campaigns/outboxevent/").status_code == 200
