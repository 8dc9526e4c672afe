"""What a Sentry SDK told us about an occurrence, as labelled rows (entry and group pages).

The full `extra` JSON stays on the page below it; these rows are the parts an operator
looks for first. Everything is escaped (format_html).
"""

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .display import EMPTY


def _user(user: Any) -> str:
    if not isinstance(user, dict):
        return ""
    parts = [f"{k}={user[k]}" for k in ("id", "username", "email", "ip_address") if user.get(k)]
    return ", ".join(parts)


def _request(request: Any) -> str:
    if not isinstance(request, dict):
        return ""
    return " ".join(str(request[k]) for k in ("method", "url") if request.get(k))


def _sdk(sdk: Any) -> str:
    if not isinstance(sdk, dict):
        return ""
    return " ".join(str(sdk[k]) for k in ("name", "version") if sdk.get(k))


def _tags(tags: Any) -> str:
    if not isinstance(tags, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _runtime(contexts: Any) -> str:
    if not isinstance(contexts, dict):
        return ""
    out = []
    for name in ("runtime", "os", "browser"):
        ctx = contexts.get(name)
        if isinstance(ctx, dict) and ctx.get("name"):
            out.append(" ".join(str(ctx[k]) for k in ("name", "version") if ctx.get(k)))
    return "; ".join(out)


def sentry_summary(extra: Any) -> SafeString | str:
    """Level, SDK, platform, server, transaction, user, request, runtime, tags."""
    if not isinstance(extra, dict) or not ("sdk" in extra or "platform" in extra):
        return EMPTY
    rows = [
        ("Level", extra.get("level") or ""),
        ("SDK", _sdk(extra.get("sdk"))),
        ("Platform", extra.get("platform") or ""),
        ("Server", extra.get("server_name") or ""),
        ("Transaction", extra.get("transaction") or ""),
        ("User", _user(extra.get("user"))),
        ("Request", _request(extra.get("request"))),
        ("Runtime", _runtime(extra.get("contexts"))),
        ("Tags", _tags(extra.get("tags"))),
    ]
    shown = ((label, str(value)) for label, value in rows if value)
    body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", shown)
    return format_html("<table>{}</table>", body) if body else EMPTY
