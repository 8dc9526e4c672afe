"""Alerting in the admin: channels and rules (superusers), silences (Triagers create and
end them), and the read-only record of alerts, deliveries and attempts.

Every operator action writes an AuditEvent (target_type alert_channel, alert_rule,
silence or alert_delivery) and Django's LogEntry.
"""

from . import channels, records, rules, silences  # noqa: F401  (registers)
