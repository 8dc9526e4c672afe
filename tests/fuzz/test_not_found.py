"""A path under /api/ that matches no route answers JSON, as every other API refusal does
(the fuzz run found HTML pages for /api/v1/groups/null,null/)."""

import pytest


@pytest.mark.parametrize("path", ["/api/v1/groups/abc/", "/api/v1/dead-letters/1,2/replay/",
                                  "/api/v1/nothing-here/"])
def test_an_unrouted_api_path_is_a_json_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert "No API endpoint matches this path" in answer.json()["message"]


def test_outside_the_api_the_404_page_stays_html(client):
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("text/html")
