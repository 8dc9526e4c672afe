"""`/` sends operators to the admin (and so the admin's "View site" link works)."""

from django.contrib import admin
from django.test import Client


def test_the_site_root_redirects_to_the_admin(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert admin.site.site_url == "/"
