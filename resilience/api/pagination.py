from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as BadQuery
from rest_framework.pagination import CursorPagination

from resilience.core.safe_json import has_bad_text


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages: no COUNT(*), stable under inserts, newest first."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        # An unreadable cursor is a bad query parameter: a 400 naming it (DRF says 404).
        try:
            cursor = super().decode_cursor(request)
            if cursor is None or cursor.position is None:
                return cursor
            return cursor._replace(position=self._checked_position(cursor.position))
        except NotFound:
            raise BadQuery({self.cursor_query_param: [
                "is not a cursor this list handed out; start again without it"]}) from None

    def _checked_position(self, position: str):
        """The cursor's position as a value its column takes. A cursor is client-held
        base64, so `p=abc` on an id, a NUL or a year-1 time was a 500."""
        invalid = NotFound(self.invalid_cursor_message)
        if has_bad_text(position):
            raise invalid
        try:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            value = field.to_python(position)
        except FieldDoesNotExist:
            return position
        except ValidationError:
            raise invalid from None
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise invalid
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                value = value.replace(tzinfo=UTC)
            try:
                return value.astimezone(UTC)
            except OverflowError:
                raise invalid from None
        return value


class LastSeenCursorPagination(NewestFirstCursorPagination):
    ordering = ("-last_seen", "-id")
