"""/admin/dashboard/ for Viewer and Triager; linked from the admin index."""

from django.contrib.auth.models import User
from django.test import Client

from resilience.digest.service import digest_batch
from tests import factories

URL = "/admin/dashboard/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_viewer_sees_the_figures_the_tables_and_the_group_links(viewer):
    entry = factories.ErrorLogEntryFactory(code="ECONNRESET")
    digest_batch(limit=10)
    entry.refresh_from_db()
    response = logged_in(viewer).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="total">1<' in html
    assert f"/admin/resilience/errorgroup/{entry.group_id}/change/" in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "dashboard/dashboard.js" in html
    assert 'id="fl-initial"' in html


def test_a_triager_sees_it_too_and_the_range_and_service_select(triager):
    service = factories.ServiceFactory(name="Billing")
    response = logged_in(triager).get(URL, {"range": "7d", "service": service.pk})
    assert response.status_code == 200
    assert response.context["range"] == "7d"
    assert response.context["service_id"] == service.pk
    assert response.context["metrics"]["range"] == "7d"


def test_the_default_range_is_the_seeds_1h_and_the_presets_are_offered(viewer):
    response = logged_in(viewer).get(URL)
    assert response.context["range"] == "1h"
    assert response.context["ranges"] == ["15m", "1h", "6h", "24h", "7d", "30d"]
    assert '<option value="1h" selected>' in response.content.decode()


def test_an_unreadable_range_shows_the_seeds_1h_and_says_so(viewer):
    response = logged_in(viewer).get(URL, {"range": "nope"})
    assert response.context["range"] == "1h"
    assert "&#x27;nope&#x27; is not a time range" in response.content.decode()


def test_any_other_range_is_shown_and_offered_in_its_place(viewer):
    response = logged_in(viewer).get(URL, {"range": "2h"})
    assert response.context["metrics"]["range"] == "2h"
    assert response.context["ranges"] == ["15m", "1h", "2h", "6h", "24h", "7d", "30d"]


def test_without_outcomes_the_page_says_so_instead_of_zero(viewer):
    factories.ErrorLogEntryFactory()
    digest_batch(limit=10)
    html = logged_in(viewer).get(URL).content.decode()
    assert 'data-figure="recovery_rate">No outcomes reported<' in html
    assert "The health score counts it as 0 %" in html
    assert 'data-figure="health_score">99.9<' in html


def test_staff_without_the_view_permission_get_403(db):
    user = User.objects.create_user("staff", password="x", is_staff=True)
    assert logged_in(user).get(URL).status_code == 403


def test_anonymous_is_sent_to_the_login_page(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_admin_index_links_to_the_dashboard_for_viewers_only(viewer, db):
    assert 'href="/admin/dashboard/"' in logged_in(viewer).get("/admin/").content.decode()
    user = User.objects.create_user("other", password="x", is_staff=True)
    assert 'href="/admin/dashboard/"' not in logged_in(user).get("/admin/").content.decode()


def test_a_viewer_cannot_change_what_the_dashboard_links_to(viewer):
    group = factories.ErrorGroupFactory()
    client = logged_in(viewer)
    page = client.get(f"/admin/resilience/errorgroup/{group.pk}/change/")
    assert page.status_code == 200  # the read-only view page
    assert 'name="_save"' not in page.content.decode()
    refused = client.post(f"/admin/resilience/errorgroup/{group.pk}/change/",
                          {"status": "RESOLVED"})
    assert refused.status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
