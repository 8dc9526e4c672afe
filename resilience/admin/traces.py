"""An entry's exceptions as a Sentry user reads them (the entry page).

Reads `extra["exceptions"]` (written by resilience/sentry/mapping.py: exception_details)
and lays it out in Python's order, root cause first and oldest frame first, so the link
texts read as Python prints them ("The above exception was the direct cause of the
following exception"): each exception after the one it was linked to, an exception
group's members indented under it. In each exception, consecutive library frames fold
into one "N library frames" group; each frame opens onto its source lines (its own line
highlighted) and its local variables. The stored JSON is the reporter's: every value is
checked for its type here and escaped by the template.
"""

from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from resilience.core.exception_tree import LINK_MEMBER, LINK_TEXT, MAX_EXCEPTIONS

from .display import EMPTY

TEMPLATE = "admin/resilience/errorlogentry/exceptions.html"


@dataclass
class FrameView:
    filename: str
    function: str
    module: str
    lineno: int | None
    in_app: bool
    lines: list[tuple[int | None, str, bool]]  # (line number, text, the frame's own line)
    variables: list[tuple[str, str]]
    open: bool = False


@dataclass
class FrameRun:
    """Consecutive frames of one kind: the application's, or the libraries' (folded)."""

    library: bool
    frames: list[FrameView]


@dataclass
class ExceptionView:
    depth: int
    type: str
    value: str
    mechanism: str
    handled: bool | None
    is_group: bool
    link_text: str = ""  # the text above it, linking it to the exception before
    member_label: str = ""  # "Sub-exception 2 of 3", for a group's member
    runs: list[FrameRun] = field(default_factory=list)
    frames_omitted: int = 0

    @property
    def indent(self) -> int:
        """Its left margin in em: a group's members stand out under it."""
        return self.depth * 2


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lines(frame: dict[str, Any]) -> list[tuple[int | None, str, bool]]:
    if not isinstance(frame.get("context_line"), str):
        return []
    pre = [_text(line) for line in frame.get("pre_context") or [] if isinstance(line, str)]
    post = [_text(line) for line in frame.get("post_context") or [] if isinstance(line, str)]
    lineno = _number(frame.get("lineno"))
    numbered = [*pre, frame["context_line"], *post]
    first = lineno - len(pre) if lineno is not None else None
    return [
        (first + offset if first is not None else None, text, offset == len(pre))
        for offset, text in enumerate(numbered)
    ]


def _frame(frame: dict[str, Any]) -> FrameView:
    variables = frame.get("vars")
    return FrameView(
        filename=_text(frame.get("filename")),
        function=_text(frame.get("function")),
        module=_text(frame.get("module")),
        lineno=_number(frame.get("lineno")),
        in_app=frame.get("in_app") is True,
        lines=_lines(frame),
        # By name: jsonb does not keep the SDK's order.
        variables=sorted((str(k), _text(v)) for k, v in variables.items())
        if isinstance(variables, dict) else [],
    )


def frame_runs(frames: list[Any]) -> list[FrameRun]:
    """Frames in runs of in-app and library ones. An exception with no in-app frame at
    all shows every frame (nothing of the application's to show instead), unfolded. The
    innermost in-app frame with source lines or variables is opened, as Sentry does."""
    views = [_frame(f) for f in frames if isinstance(f, dict)]
    in_app = [view for view in views if view.in_app]
    with_context = [view for view in in_app if view.lines or view.variables]
    if with_context:
        with_context[-1].open = True
    if not in_app and views:
        return [FrameRun(library=False, frames=views)]
    runs: list[FrameRun] = []
    for view in views:
        if runs and runs[-1].library == (not view.in_app):
            runs[-1].frames.append(view)
        else:
            runs.append(FrameRun(library=not view.in_app, frames=[view]))
    return runs


def _view(part: dict[str, Any], depth: int) -> ExceptionView:
    mechanism = part.get("mechanism") if isinstance(part.get("mechanism"), dict) else {}
    handled = mechanism.get("handled")
    frames = part.get("frames")
    return ExceptionView(
        depth=depth,
        type=_text(part.get("type")) or "Error",
        value=_text(part.get("value")),
        mechanism=_text(mechanism.get("type")),
        handled=handled if isinstance(handled, bool) else None,
        is_group=mechanism.get("is_exception_group") is True,
        runs=frame_runs(frames if isinstance(frames, list) else []),
        frames_omitted=_number(part.get("frames_omitted")) or 0,
    )


def _children(
    parts: list[dict[str, Any]], *, start: int
) -> tuple[dict[int, int], dict[int, list[int]], list[int]]:
    """Each exception's linked one (cause, context) and members, and the roots, of the
    parts from `start` on."""
    linked: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    roots: list[int] = []
    for index in range(start, len(parts)):
        part = parts[index]
        parent = _number(part.get("parent"))
        # A parent comes after its children (mapping.exception_parents): anything else is
        # not ours, and is shown as a root rather than followed into a cycle.
        if parent is None or not index < parent < len(parts):
            roots.append(index)
        elif part.get("link") == LINK_MEMBER:
            members.setdefault(parent, []).append(index)
        else:
            linked.setdefault(parent, index)
    for indexes in members.values():
        indexes.sort(key=lambda i: (_number(parts[i].get("member")) or 0, i))
    return linked, members, roots


def exception_views(parts: list[Any]) -> list[ExceptionView]:
    """The exceptions in reading order, each with its depth (a group's members one deeper)."""
    parts = [part if isinstance(part, dict) else {} for part in parts]
    # As many as the mapper keeps, the last ones (parents come after their children): the
    # nesting below is as deep as the parts are many.
    linked, members, roots = _children(parts, start=max(0, len(parts) - MAX_EXCEPTIONS))
    views: list[ExceptionView] = []

    def add(index: int, depth: int, member_label: str = "") -> None:
        cause = linked.get(index)
        if cause is not None:
            add(cause, depth, member_label)
            member_label = ""
        view = _view(parts[index], depth)
        view.member_label = member_label
        if cause is not None:
            view.link_text = LINK_TEXT.get(_text(parts[cause].get("link")), "")
        views.append(view)
        group = members.get(index, [])
        for number, member in enumerate(group, 1):
            add(member, depth + 1, f"Sub-exception {number} of {len(group)}")

    for root in roots:
        add(root, 0)
    return views


def handling_text(extra: Any) -> str:
    """"unhandled (django)", "handled (generic)", or "" when the SDK did not say."""
    if not isinstance(extra, dict) or not isinstance(extra.get("unhandled"), bool):
        return ""
    text = "unhandled" if extra["unhandled"] else "handled"
    mechanism = _text(extra.get("mechanism"))
    return f"{text} ({mechanism})" if mechanism else text


def exceptions_block(extra: Any) -> SafeString | str:
    """The entry page's exceptions, or EMPTY for an entry without them (not from a
    Sentry SDK, or stored before they were kept)."""
    parts = extra.get("exceptions") if isinstance(extra, dict) else None
    if not isinstance(parts, list) or not parts:
        return EMPTY
    views = exception_views(parts)
    return render_to_string(TEMPLATE, {
        "exceptions": views,
        "has_library_frames": any(run.library for view in views for run in view.runs),
        "context_trimmed": extra.get("context_trimmed") is True,
    })
