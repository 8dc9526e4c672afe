"""How the exceptions of a Sentry event relate (pure: standard library only).

`exception.values` lists them root cause first, the raised one last. A plain chain is a
list; an ExceptionGroup (Python) or AggregateError (JavaScript) makes it a tree, its
members under it. The SDKs say which through `mechanism` (`source`, `exception_id`,
`parent_id`, `is_exception_group`): https://develop.sentry.dev/sdk/data-model/event-payloads/exception/
and sentry-python's utils.exceptions_from_error, @sentry/core's aggregate-errors.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# How an exception is linked to the one it belongs to, from mechanism.source: Python's
# `__cause__` (raise ... from) and `__context__` (raised while handling), JavaScript's
# `cause`, and `exceptions[i]` / `errors[i]` for the members of a Python ExceptionGroup or
# a JavaScript AggregateError. sentry-python sends no source for a plain chain (it walks
# it in utils.walk_exception_chain): that link is CHAINED, and the page says it does not
# know which of the two it was rather than guessing.
LINK_CAUSE = "cause"
LINK_CONTEXT = "context"
LINK_MEMBER = "member"
LINK_CHAINED = "chained"
LINK_TEXT = {
    LINK_CAUSE: "The above exception was the direct cause of the following exception:",
    LINK_CONTEXT: "During handling of the above exception, another exception occurred:",
    LINK_CHAINED: "The above exception preceded the following exception (the SDK does not "
    "say whether as its direct cause or during its handling):",
}
_MEMBER_SOURCE = re.compile(r"^[A-Za-z_]\w*\[(\d{1,6})\]$")
# Exceptions kept for the trace: the raised one and those nearest it (a parent always
# comes after its children in exception.values, so dropping the first ones orphans none).
MAX_EXCEPTIONS = 32


def mechanism_of(value: Mapping[str, Any]) -> Mapping[str, Any]:
    mechanism = value.get("mechanism")
    return mechanism if isinstance(mechanism, dict) else {}


def link_kind(value: Mapping[str, Any]) -> str:
    source = mechanism_of(value).get("source")
    if source in ("__cause__", "cause"):
        return LINK_CAUSE
    if source == "__context__":
        return LINK_CONTEXT
    if isinstance(source, str) and _MEMBER_SOURCE.match(source):
        return LINK_MEMBER
    return LINK_CHAINED


def small_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def exception_parents(values: list[dict[str, Any]]) -> list[int | None]:
    """For each of exception.values, the index of the exception it belongs to (None for
    the raised one, the last): a tree, not a chain, when ExceptionGroups are in it.

    A member (`exceptions[i]`, `errors[i]`) names its group by mechanism.parent_id. A cause
    or context belongs to the exception right after it: both SDKs put it there, and
    sentry-python's parent_id for a cause inside a group is always 0 (the outermost group),
    so it cannot be trusted. A parent always comes later in the list, so there is no cycle.
    """
    index_of: dict[int, int] = {}
    for index, value in enumerate(values):
        exception_id = small_id(mechanism_of(value).get("exception_id"))
        if exception_id is not None:
            index_of.setdefault(exception_id, index)
    parents: list[int | None] = []
    for index, value in enumerate(values):
        if index == len(values) - 1:
            parents.append(None)
            continue
        parent = index + 1
        if link_kind(value) == LINK_MEMBER:
            named = index_of.get(small_id(mechanism_of(value).get("parent_id")))  # type: ignore[arg-type]
            if named is not None and named > index:
                parent = named
        parents.append(parent)
    return parents


def member_number(value: Mapping[str, Any], fallback: int) -> int:
    match = _MEMBER_SOURCE.match(str(mechanism_of(value).get("source") or ""))
    return int(match.group(1)) if match else fallback


@dataclass(frozen=True)
class ExceptionNode:
    """One exception of the tree: the one linked before it (its cause or context) and
    its members (an exception group's), as indexes into exception.values."""

    index: int
    linked: int | None
    members: tuple[int, ...]


def exception_tree(values: list[dict[str, Any]]) -> list[ExceptionNode]:
    """The nodes of exception_parents(values), in the order of values."""
    parents = exception_parents(values)
    linked: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for index, parent in enumerate(parents):
        if parent is None:
            continue
        if link_kind(values[index]) == LINK_MEMBER:
            members.setdefault(parent, []).append(index)
        else:
            linked[parent] = index  # at most one: only the exception right before it
    return [
        ExceptionNode(
            index=index,
            linked=linked.get(index),
            members=tuple(sorted(members.get(index, []),
                                 key=lambda i: member_number(values[i], i))),
        )
        for index in range(len(values))
    ]
