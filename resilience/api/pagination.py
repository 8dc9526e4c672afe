from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages: no COUNT(*), stable under inserts, newest first."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class LastSeenCursorPagination(NewestFirstCursorPagination):
    ordering = ("-last_seen", "-id")
