"""Attachment bytes on disk: <ATTACHMENT_DIR>/<service id>/<event id>/<random name>.

A file is written under a temporary name, fsync'd, renamed into place and its folder
fsync'd, so a crash leaves either nothing or the whole file, never a torn one that a row
points at. Paths are built from numbers and hex only (the event id is normalised before
it gets here): nothing a client sends becomes part of a path.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from resilience import conf


def attachment_root() -> Path:
    return Path(conf.get("ATTACHMENT_DIR"))


def attachment_relative_path(*, service_id: int, event_id: str) -> str:
    if not event_id.isalnum():
        raise ValueError(f"not an event id: {event_id!r}")
    return f"{int(service_id)}/{event_id}/{uuid.uuid4().hex}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def attachment_write(relative: str, data: bytes) -> None:
    """Write `data` at `relative` under the root: temporary name, fsync, rename."""
    target = attachment_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    _fsync_dir(target.parent)


def attachment_open(relative: str):
    """The stored file, opened for reading (FileNotFoundError when it is gone)."""
    return open(attachment_root() / relative, "rb")  # the response closes it


def attachment_unlink(relative: str) -> None:
    """Remove the file and, once empty, its event's folder; a missing file is no error."""
    target = attachment_root() / relative
    target.unlink(missing_ok=True)
    # Other attachments of the event may still be there (or the folder is gone already).
    with contextlib.suppress(OSError):
        target.parent.rmdir()
