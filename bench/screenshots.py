"""The screenshots in docs/operators.md, 1,280 px wide, in headless Chromium.

    make screenshots                                  # writes docs/screenshots/*.png
    .venv/bin/python bench/screenshots.py --out /tmp/shots

It DROPS and recreates its own database (default faultline_screenshots), migrates it, loads
a week of a small shop's errors (the dashboard browser test's generator), triages a few
groups, forces a circuit open, then serves Django in this process on a free port and
photographs, logged in as a Triager (the user page as a superuser):

- group-list.png: the group list as it opens (unresolved groups, newest activity first);
- group-page.png: the busiest group's page, its triage buttons and latest trace;
- dashboard.png: the dashboard over 7 days;
- admin-home-with-banner.png: the admin home with its warning banner (no alert channel
  enabled, a circuit open);
- user-role.png: a user's page with the Role choice.

Never run by the test suite: it writes into the source tree.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import recreate_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_screenshots"
HEIGHT = 900
TRACE = """Traceback (most recent call last):
  File "/srv/checkout/checkout/payments.py", line 88, in charge
    response = client.post(f"{PAYMENTS_API}/charges", json=body, timeout=5)
  File "/srv/checkout/.venv/lib/python3.12/site-packages/httpx/_client.py", line 1144, in post
    return self.request("POST", url, json=json, timeout=timeout)
  File "/srv/checkout/.venv/lib/python3.12/site-packages/httpx/_transports/default.py", \
line 86, in map_httpcore_exceptions
    raise mapped_exc(message) from exc
httpx.RemoteProtocolError: socket hang up calling payments-api
"""


def setup_django(url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=url,
        REDIS_URL="",
        LOG_LEVEL="WARNING",
        FAULTLINE_VAR_DIR=tempfile.gettempdir() + "/faultline-screenshots-var",
        # Playwright's sync API keeps an event loop in this thread, beside the ORM calls.
        DJANGO_ALLOW_ASYNC_UNSAFE="true",
    )
    import django

    django.setup()


def load_data() -> dict:
    """A realistic week, some groups triaged, a circuit forced open; returns who and what."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.role_assignment import user_role_set
    from resilience.circuits.services import circuit_force
    from resilience.groups.triage import error_group_mute, error_group_resolve
    from resilience.models import ErrorGroup
    from tests.factories import DeadLetterFactory
    from tests.resilience.dashboard.conftest import generate_realistic

    call_command("migrate", verbosity=0)
    root = User.objects.create_superuser("root", email="root@example.com")
    tina = User.objects.create_user("tina", first_name="Tina", email="tina@example.com")
    user_role_set(user=tina, role="Triager", actor=root)
    logging.disable(logging.CRITICAL)  # the digest logs every entry it digests
    generate_realistic(timezone.now())
    logging.disable(logging.NOTSET)
    groups = list(ErrorGroup.objects.order_by("-times_seen"))
    busiest = groups[0]
    latest = busiest.entries.order_by("-id").first()  # the one the group page shows
    latest.stack_trace = TRACE
    latest.save(update_fields=["stack_trace"])
    error_group_resolve(group=groups[-1], actor=tina)
    error_group_mute(group=groups[-2], actor=tina, duration="24h")
    DeadLetterFactory(service=busiest.service, status="PENDING")
    circuit_force(state="FORCED_OPEN", actor=root, operation="checkout.handle",
                  service_id=busiest.service_id)
    return {"root": root, "tina": tina, "busiest": busiest}


def session_cookie(user, url: str) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}


def photograph(url: str, data: dict, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.chromium import WIDTH, launch

    busiest = data["busiest"]
    shots = [
        ("tina", "group-list.png", "/admin/resilience/errorgroup/", "#result_list", False),
        ("tina", "group-page.png", f"/admin/resilience/errorgroup/{busiest.pk}/change/",
         "#triage-panel", False),
        ("tina", "dashboard.png", "/admin/dashboard/?range=7d", ".fl-dashboard[data-loaded]",
         True),
        ("tina", "admin-home-with-banner.png", "/admin/", "#content-main", False),
        ("root", "user-role.png", f"/admin/auth/user/{data['tina'].pk}/change/", "#id_role",
         False),
    ]
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for who, name, path, ready, full_page in shots:
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
            context.add_cookies([session_cookie(data[who], url)])
            page = context.new_page()
            page.goto(url + path)
            page.wait_for_selector(ready)
            if name == "user-role.png":
                page.locator("#id_role").scroll_into_view_if_needed()
            page.screenshot(path=str(out / name), full_page=full_page)
            print(f"{out / name}: {(out / name).stat().st_size // 1024} KiB")
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL (dropped, recreated)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    recreate_database(args.db)
    setup_django(args.db)

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections
    from django.test.testcases import LiveServerThread

    data = load_data()
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    try:
        photograph(f"http://127.0.0.1:{server.port}", data, args.out)
    finally:
        server.terminate()
        connections.close_all()


if __name__ == "__main__":
    main()
