"""What an alert says on each channel (pure: standard library only, no Django).

Each channel first says what the seed's AlertSystem says, field for field, then Faultline's
additions (title, kind, occurrences, what the throttle held back, the link, the group key):

- email (sendEmailAlert, formatEmailBody): subject ``[LEVEL] <service> Alert``; body
  "Alert Level", "Message", "Timestamp", then "Error Details:" (Category, Code, Message)
  when there is an error and "Context:" (Operation, Campaign ID or N/A, Component or N/A)
  when there is a context;
- Slack (sendSlackAlert, getSlackColor, formatSlackFields): ``*LEVEL Alert*: message``, one
  attachment in the level's colour with ``ts`` and the short fields Level, Timestamp, Error
  Category, Error Code, Operation, Campaign ID (when set). Text from reporters is escaped
  as Slack asks (https://api.slack.com/reference/surfaces/formatting#escaping), so an
  error message holding ``<!channel>`` cannot ping anyone;
- webhook (sendWebhookAlert): ``{level, message, timestamp, error, context, service}``,
  plus a ``version`` and a stable ``group_key`` (after Alertmanager's webhook payload:
  https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).

Email carries text as it is, less what a mail cannot: the subject is one line (a line
break in a header is refused by Django's BadHeaderError), and control characters and lone
surrogates become U+FFFD (``mail_text``).

"Timestamp" is when the message is sent (the seed's ``new Date()``): delivery sets
``sent_at``; without it (a preview) the alert's own moment stands in. Everything else comes
from the ``AlertContent`` stored on the Alert row, so a retry or a resend says the same.
Nothing here sends.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

PAYLOAD_VERSION = "1"
NOT_SET = "N/A"  # formatEmailBody's word for a missing campaign or component
SLACK_COLOURS = {"CRITICAL": "danger", "HIGH": "warning", "MEDIUM": "#ffcc00", "LOW": "good"}
SLACK_DEFAULT_COLOUR = "#cccccc"
_DATETIME_FIELDS = ("timestamp", "previous_since", "sent_at")
# C0/C1 controls but tab and line feed, DEL, and lone surrogates (UTF-8 cannot carry them).
_MAIL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class AlertContent:
    kind: str
    level: str
    title: str
    message: str
    timestamp: datetime  # the moment the alert is about (the error, or when it was noticed)
    service: str = ""  # the service's slug (the webhook's "service")
    service_name: str = ""  # the email subject's "<service>"
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
    sent_at: datetime | None = None

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


def iso_timestamp(moment: datetime) -> str:
    """JavaScript's toISOString(), as the seed prints times: 2025-03-04T11:05:00.000Z."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def sent_time(content: AlertContent) -> datetime:
    return content.sent_at or content.timestamp


def has_error(content: AlertContent) -> bool:
    return bool(content.category or content.code or content.error_message)


def has_context(content: AlertContent) -> bool:
    return bool(content.operation or content.campaign_id or content.component)


def service_label(content: AlertContent) -> str:
    # Alerts stored before service_name existed still name their service.
    return content.service_name or content.service or "Faultline"


def slack_colour(level: str) -> str:
    return SLACK_COLOURS.get(level, SLACK_DEFAULT_COLOUR)


def slack_escape(text: Any) -> str:
    """The three characters Slack reads as control sequences, as its docs say to escape
    them; ``&`` first so the others are not escaped twice."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    """The message with the throttled count appended."""
    note = previous_note(content)
    return f"{content.message} ({note})" if note else content.message


# --- email -----------------------------------------------------------------------------


def mail_text(text: str) -> str:
    """``text`` as a mail can carry it: CR and CRLF as line feeds, other control
    characters and lone surrogates as U+FFFD (a reporter's string must not fail a send)."""
    return _MAIL_UNSAFE.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def email_subject(content: AlertContent) -> str:
    # Mail headers cannot hold line breaks; a name with one would break the message.
    subject = f"[{content.level}] {service_label(content)} Alert"
    return " ".join(mail_text(subject).split())[:250]


def _or_not_set(value: Any) -> Any:
    return value if value not in (None, "") else NOT_SET


def email_body(content: AlertContent) -> str:
    body = f"Alert Level: {content.level}\n"
    body += f"Message: {content.message}\n"
    body += f"Timestamp: {iso_timestamp(sent_time(content))}\n\n"
    if has_error(content):
        body += "Error Details:\n"
        body += f"  Category: {_or_not_set(content.category)}\n"
        body += f"  Code: {_or_not_set(content.code)}\n"
        body += f"  Message: {_or_not_set(content.error_message)}\n\n"
    if has_context(content):
        body += "Context:\n"
        body += f"  Operation: {_or_not_set(content.operation)}\n"
        body += f"  Campaign ID: {_or_not_set(content.campaign_id)}\n"
        body += f"  Component: {_or_not_set(content.component)}\n"
    return mail_text(body + _email_details(content))


def _email_details(content: AlertContent) -> str:
    """Faultline's additions, after everything the seed's body holds."""
    rows = [
        ("Title", content.title if content.title != content.message else ""),
        ("Alert", content.kind),
        ("Service", service_label(content)),
        ("Environment", content.environment),
        ("Error name", content.error_name),
        ("Occurrences", content.occurrences),
        ("Held back", previous_note(content)),
        ("Occurred at", iso_timestamp(content.timestamp)),
        *[(str(key), value) for key, value in sorted(content.extra.items())],
    ]
    lines = ["", "Details:"]
    lines += [f"  {label}: {value}" for label, value in rows if value not in (None, "")]
    if content.link:
        lines += ["", f"Open in Faultline: {content.link}"]
    if content.group_key:
        lines += ["", f"Group key: {content.group_key}"]
    return "\n".join(lines) + "\n"


# --- Slack ------------------------------------------------------------------------------


def _short(title: str, value: Any) -> dict[str, Any]:
    return {"title": title, "value": slack_escape(_or_not_set(value)), "short": True}


def slack_fields(content: AlertContent) -> list[dict[str, Any]]:
    """formatSlackFields: Level, Timestamp; the error's category and code; the operation
    and, when there is one, the campaign."""
    rows = [_short("Level", content.level),
            _short("Timestamp", iso_timestamp(sent_time(content)))]
    if has_error(content):
        rows += [_short("Error Category", content.category), _short("Error Code", content.code)]
    if has_context(content):
        rows.append(_short("Operation", content.operation))
        if content.campaign_id:
            rows.append(_short("Campaign ID", content.campaign_id))
    return rows


def slack_payload(content: AlertContent) -> dict[str, Any]:
    extra = [_short("Service", service_label(content))]
    if content.component:
        extra.append(_short("Component", content.component))
    extra.append(_short("Occurrences", content.occurrences))
    if content.link:  # our own URL: a link sequence on purpose
        extra.append({"title": "Link", "value": f"<{content.link}|Open in Faultline>",
                      "short": False})
    details = [content.error_message] if content.error_message not in ("", content.message) \
        else []
    if note := previous_note(content):
        details.append(f"({note})")
    attachment: dict[str, Any] = {
        "color": slack_colour(content.level),
        "fields": slack_fields(content) + extra,
        "ts": int(sent_time(content).timestamp()),
        "title": slack_escape(content.title),
        "title_link": content.link or None,
        "footer": slack_escape(f"Faultline · {service_label(content)}"),
    }
    if details:
        attachment["text"] = slack_escape("\n".join(details))
    return {"text": f"*{content.level} Alert*: {slack_escape(content.message)}",
            "attachments": [attachment]}


# --- webhook ----------------------------------------------------------------------------


def webhook_payload(content: AlertContent) -> dict[str, Any]:
    return {
        # sendWebhookAlert's fields
        "level": content.level,
        "message": content.message,
        "timestamp": iso_timestamp(sent_time(content)),
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
        "service": content.service,
        # Faultline's additions
        "version": PAYLOAD_VERSION,
        "kind": content.kind,
        "alert_id": content.alert_id,
        "group_key": content.group_key,
        "title": content.title,
        "summary": summary(content),
        "occurred_at": iso_timestamp(content.timestamp),
        "service_name": service_label(content),
        "environment": content.environment,
        "occurrences": content.occurrences,
        "previous": (
            {"count": content.previous_count,
             "since": iso_timestamp(content.previous_since) if content.previous_since else None}
            if content.previous_count else None
        ),
        "link": content.link,
    }
