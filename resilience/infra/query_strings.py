"""One check of every query string before any view reads it: no NUL characters.

PostgreSQL cannot hold NUL (0x00) in text, so psycopg2 refuses to send a query that
compares a column with a string containing one, and the admin's search box, its list
filters and the API's filters (`?operation=%00`) each turned that into a 500. No stored
value can contain NUL, so nothing could match either way: the request is refused here,
once for every view (admin, API, Sentry endpoints), with a 400 that names the parameter.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


def nul_parameter(request: HttpRequest) -> str | None:
    """The name of the first query parameter whose name or value holds NUL, or None."""
    query = request.META.get("QUERY_STRING", "")
    if "%00" not in query and "\x00" not in query:
        return None  # the common case: one substring search, no parsing
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\0")[:100]
    return None


class RefuseNulInQueryString:
    """Answer 400 `{"message", "field"}` to a query string carrying a NUL character."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = nul_parameter(request)
        if name is not None:
            return JsonResponse(
                {"message": f"{name}: contains a NUL character (%00), which no stored value "
                            f"can hold; remove it.", "field": name},
                status=400,
            )
        return self.get_response(request)
