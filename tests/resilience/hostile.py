"""Shared assertion of the hostile-input tests: a 400 whose message says what is wrong."""


def refused(response, field: str | None, words: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert words in body["message"], body
    if field:
        assert body["field"] == field, body
