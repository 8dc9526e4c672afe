"""What an alert says on each channel (pure: standard library only, no Django).

The formats follow the seed service's alerting:

- email: subject ``[LEVEL] Faultline alert: <title>`` and a plain-text body with the level,
  message, timestamp, the error (category, code, message), the context (operation,
  campaign, component) and a link to the group in the admin;
- Slack (incoming webhook): one attachment in the level's colour with the seed's fields
  (Level, Category, Code, Operation, Campaign, Component, Occurrences, Link). Message
  format: https://api.slack.com/reference/surfaces/formatting (legacy attachments);
- webhook: a versioned JSON document with a stable ``group_key`` (after Alertmanager's
  webhook payload: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)
  that receivers can use to deduplicate or group.

Every function takes an ``AlertContent`` (stored as JSON on the Alert row, so a retry or a
resend sends the same thing) and returns text or a JSON-able dict; nothing here sends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

PAYLOAD_VERSION = "1"
LEVEL_COLOURS = {"CRITICAL": "danger", "HIGH": "warning", "MEDIUM": "#ffcc00", "LOW": "good"}
_DATETIME_FIELDS = ("timestamp", "previous_since")


@dataclass(frozen=True)
class AlertContent:
    kind: str
    level: str
    title: str
    message: str
    timestamp: datetime
    service: str = ""  # the service's slug
    environment: str = ""
    category: str = ""
    code: str = ""
    error_name: str = ""
    error_message: str = ""
    operation: str = ""
    campaign_id: str = ""
    component: str = ""
    occurrences: int = 1
    previous_count: int = 0
    previous_since: datetime | None = None
    link: str = ""
    group_key: str = ""
    alert_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _DATETIME_FIELDS:
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertContent:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _DATETIME_FIELDS:
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


def _clock(moment: datetime, reference: datetime) -> str:
    """10:42 UTC on the same day as ``reference``, else the date as well."""
    if moment.date() == reference.date():
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def previous_note(content: AlertContent) -> str:
    """"and 57 more since 10:42 UTC": what the throttle window held back before this one."""
    if content.previous_count <= 0:
        return ""
    note = f"and {content.previous_count} more"
    if content.previous_since is not None:
        note += f" since {_clock(content.previous_since, content.timestamp)}"
    return note


def summary(content: AlertContent) -> str:
    """The message with the throttled count appended, as every channel shows it."""
    note = previous_note(content)
    return f"{content.message} ({note})" if note else content.message


def email_subject(content: AlertContent) -> str:
    # Mail headers cannot hold line breaks; a title with one would break the message.
    title = " ".join(content.title.split())
    return f"[{content.level}] Faultline alert: {title}"[:250]


def _lines(rows: list[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _ in rows) + 1
    return [f"  {label + ':':<{width}} {value if value not in (None, '') else '-'}"
            for label, value in rows]


def email_body(content: AlertContent) -> str:
    parts = [
        f"[{content.level}] {content.title}",
        "",
        *_lines([
            ("Level", content.level),
            ("Message", summary(content)),
            ("Timestamp", content.timestamp.isoformat()),
            ("Service", content.service),
            ("Environment", content.environment),
            ("Alert", content.kind),
            ("Occurrences", content.occurrences),
        ]),
        "",
        "Error",
        *_lines([
            ("Category", content.category),
            ("Code", content.code),
            ("Message", content.error_message),
        ]),
        "",
        "Context",
        *_lines([
            ("Operation", content.operation),
            ("Campaign", content.campaign_id),
            ("Component", content.component),
            *[(str(key), value) for key, value in sorted(content.extra.items())],
        ]),
    ]
    if content.link:
        parts += ["", f"Open in Faultline: {content.link}"]
    parts += ["", f"Group key: {content.group_key}" if content.group_key else "", ""]
    return "\n".join(parts).rstrip() + "\n"


def slack_payload(content: AlertContent) -> dict[str, Any]:
    def short(title: str, value: Any) -> dict[str, Any]:
        return {"title": title, "value": str(value) if value not in (None, "") else "-",
                "short": True}

    fields_ = [
        short("Level", content.level),
        short("Category", content.category),
        short("Code", content.code),
        short("Operation", content.operation),
        short("Campaign", content.campaign_id),
        short("Component", content.component),
        short("Occurrences", content.occurrences),
    ]
    if content.link:
        fields_.append({"title": "Link", "value": f"<{content.link}|Open in Faultline>",
                        "short": False})
    return {
        "text": email_subject(content),
        "attachments": [{
            "color": LEVEL_COLOURS.get(content.level, "good"),
            "title": content.title,
            "title_link": content.link or None,
            "text": summary(content),
            "fields": fields_,
            "footer": f"Faultline · {content.service}" if content.service else "Faultline",
            "ts": int(content.timestamp.timestamp()),
        }],
    }


def webhook_payload(content: AlertContent) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "kind": content.kind,
        "alert_id": content.alert_id,
        "group_key": content.group_key,
        "level": content.level,
        "title": content.title,
        "message": content.message,
        "summary": summary(content),
        "timestamp": content.timestamp.isoformat(),
        "service": content.service,
        "environment": content.environment,
        "error": {
            "category": content.category,
            "code": content.code,
            "message": content.error_message,
            "name": content.error_name,
        },
        "context": {
            "operation": content.operation,
            "campaign_id": content.campaign_id,
            "component": content.component,
            **content.extra,
        },
        "occurrences": content.occurrences,
        "previous": (
            {"count": content.previous_count,
             "since": content.previous_since.isoformat() if content.previous_since else None}
            if content.previous_count else None
        ),
        "link": content.link,
    }
