"""The download of one attachment, for operators who may read entries."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404

from resilience.attachments.storage import attachment_open
from resilience.models import EventAttachment


def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Always as a download of bytes: a reporter's HTML or SVG never renders in the
    admin's origin, whatever content type the SDK claimed."""
    if not request.user.has_perm("resilience.view_errorlogentry"):
        raise PermissionDenied
    attachment = get_object_or_404(EventAttachment, pk=pk)
    try:
        handle = attachment_open(attachment.path)
    except FileNotFoundError:
        raise Http404("the attachment's file is gone") from None
    return FileResponse(handle, as_attachment=True, filename=attachment.filename,
                        content_type="application/octet-stream")
