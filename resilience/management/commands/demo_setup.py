"""Creates the demo operator and the demo reporting service for `make run`, and prints
how to log in and how to report a first error.

Secrets are printed once and kept nowhere in clear: the password only as Django's hash, the
API key only as its SHA-256. Run again, it reuses both and says how to get new ones
(`--reset`: a new password, and a new key in place of the old one, which is revoked).
"""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from resilience.ingest.keys import service_key_create, service_key_dsn, service_key_revoke
from resilience.models import Service, ServiceKey

DEMO_USER = "operator"
DEMO_SERVICE = "demo"
DEMO_KEY_LABEL = "demo"
# Where earlier versions kept the password and key in clear; removed on sight.
LEGACY_STATE_FILE = "demo_credentials.json"
RESET_COMMAND = ".venv/bin/python manage.py demo_setup --reset"
KEY_PLACEHOLDER = "<the demo API key>"


class Command(BaseCommand):
    help = "Create (or reuse) the demo operator and demo service, and print how to use them."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset", action="store_true",
            help="Set a new password and replace the demo key (the old one is revoked).",
        )

    @transaction.atomic
    def handle(self, *args, reset: bool = False, **options) -> None:
        legacy = Path(settings.VAR_DIR) / LEGACY_STATE_FILE
        removed_legacy = legacy.exists()
        legacy.unlink(missing_ok=True)

        user, created = User.objects.get_or_create(username=DEMO_USER)
        password = None
        if created or reset or not user.has_usable_password():
            password = secrets.token_urlsafe(12)
            user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        triagers = Group.objects.filter(name="Triager").first()
        if triagers:
            user.groups.add(triagers)

        service, _ = Service.objects.get_or_create(
            slug=DEMO_SERVICE,
            defaults={"name": "Demo service", "description": "Created by make run"},
        )
        active = ServiceKey.objects.filter(service=service, label=DEMO_KEY_LABEL, revoked_at=None)
        raw_key = None
        if reset:
            for old in active:
                service_key_revoke(key=old, actor=user)
        key = None if reset else active.order_by("-created_at").first()
        if key is None:
            key, raw_key = service_key_create(
                service=service, label=DEMO_KEY_LABEL, created_by=user
            )
        self._print(password=password, raw_key=raw_key, key=key, removed_legacy=removed_legacy)

    def _print(self, *, password: str | None, raw_key: str | None, key: ServiceKey,
               removed_legacy: bool) -> None:
        base = settings.EXTERNAL_URL
        report = json.dumps(
            {
                "code": "ECONNREFUSED",
                "message": "connect ECONNREFUSED 10.0.0.7:5432",
                "operation": "database.write",
                "attempt_count": 0,
            }
        )
        shown_once = password is not None or raw_key is not None
        lines = [
            "",
            "Faultline is starting.",
            f"  Admin:     {base}/admin/",
            f"  Login:     {DEMO_USER} / {password}" if password is not None
            else f"  Login:     {DEMO_USER} (password as printed when it was set)",
            f"  API docs:  {base}/api/docs/",
            f"  Service:   {key.service.name} (id {key.service_id})",
            f"  API key:   {raw_key}" if raw_key is not None
            else f"  API key:   {key.key_prefix}… (as printed when it was made)",
            f"  DSN:       {service_key_dsn(key)}   (for Sentry SDKs)",
            "",
            "Report an error:",
            f"  curl -s -X POST {base}/api/v1/errors/ \\",
            f"    -H 'Authorization: Bearer {raw_key or KEY_PLACEHOLDER}' \\",
            "    -H 'Content-Type: application/json' \\",
            f"    -d '{report}'",
            "",
        ]
        if shown_once:
            lines.append("Copy what is shown above now: only hashes of it are kept.")
        if password is None or raw_key is None:
            lines.append(f"Lost the password or key? {RESET_COMMAND} prints new ones.")
        if removed_legacy:
            lines.append(f"Removed var/{LEGACY_STATE_FILE}: it held the demo secrets in clear.")
        lines += ["", "Press Ctrl-C to stop the web server, worker and beat.", ""]
        self.stdout.write("\n".join(lines))
