"""The seed's routing as the default rule set: CRITICAL → email, Slack and webhook; HIGH →
Slack and webhook; MEDIUM → Slack; LOW → no channel (log only).

Channels need addresses and URLs nobody knows yet, so the three channels are created
DISABLED with disabled_reason "not configured": an operator fills in the recipients or the
URL (and the webhook's secret), ticks "enabled", and the rules already route to it. Until
then an alert for them is recorded with UNDELIVERED deliveries (and a CRITICAL one goes to
the critical log). Rules and channels are ordinary rows, editable in the admin.
"""

from django.db import migrations

NOT_CONFIGURED = "not configured"
CHANNELS = [
    ("Email (on-call)", "EMAIL"),
    ("Slack", "SLACK"),
    ("Webhook", "WEBHOOK"),
]
RULES = [
    ("CRITICAL: email, Slack and webhook", "CRITICAL", ["Email (on-call)", "Slack", "Webhook"]),
    ("HIGH: Slack and webhook", "HIGH", ["Slack", "Webhook"]),
    ("MEDIUM: Slack", "MEDIUM", ["Slack"]),
    ("LOW: log only", "LOW", []),
]


def create_defaults(apps, schema_editor):
    Channel = apps.get_model("alerts", "Channel")
    AlertRule = apps.get_model("alerts", "AlertRule")
    channels = {}
    for name, kind in CHANNELS:
        channels[name], _ = Channel.objects.get_or_create(
            name=name, defaults={"kind": kind, "enabled": False,
                                 "disabled_reason": NOT_CONFIGURED})
    for name, level, targets in RULES:
        rule, created = AlertRule.objects.get_or_create(
            name=name, defaults={"levels": [level], "throttle_minutes": 10,
                                 "note": "Default routing (the seed's); edit freely."})
        if created:
            rule.channels.set([channels[t] for t in targets])


def remove_defaults(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.filter(name__in=[r[0] for r in RULES]).delete()
    apps.get_model("alerts", "Channel").objects.filter(
        name__in=[c[0] for c in CHANNELS], deliveries__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
