"""Creates the demo operator and the demo reporting service for `make run`, and prints
how to log in and how to report a first error. Safe to run again: it reuses both."""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from resilience.models import Service, ServiceKey
from resilience.services.keys import hash_key, service_key_create, service_key_dsn

DEMO_USER = "operator"
DEMO_SERVICE = "demo"


class Command(BaseCommand):
    help = "Create (or reuse) the demo operator and demo service, and print their credentials."

    def handle(self, *args, **options):
        state_file = Path(settings.VAR_DIR) / "demo_credentials.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else {}

        password = state.get("password") or secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=DEMO_USER)
        if not user.check_password(password) or not user.is_superuser:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        triagers = Group.objects.filter(name="Triager").first()
        if triagers:
            user.groups.add(triagers)

        service, _ = Service.objects.get_or_create(
            slug=DEMO_SERVICE,
            defaults={"name": "Demo service", "description": "Created by make run"},
        )
        raw_key = state.get("api_key")
        key = (
            ServiceKey.objects.filter(key_hash=hash_key(raw_key), revoked_at=None).first()
            if raw_key
            else None
        )
        if key is None:
            key, raw_key = service_key_create(service=service, label="demo", created_by=user)

        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"password": password, "api_key": raw_key}))
        state_file.chmod(0o600)
        self._print(password, raw_key, key)

    def _print(self, password: str, raw_key: str, key: ServiceKey) -> None:
        base = settings.EXTERNAL_URL
        report = json.dumps(
            {
                "code": "ECONNREFUSED",
                "message": "connect ECONNREFUSED 10.0.0.7:5432",
                "operation": "database.write",
                "attempt_count": 0,
            }
        )
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Faultline is starting.",
                    f"  Admin:     {base}/admin/",
                    f"  Login:     {DEMO_USER} / {password}",
                    f"  API docs:  {base}/api/docs/",
                    f"  Service:   {key.service.name} (id {key.service_id})",
                    f"  API key:   {raw_key}",
                    f"  DSN:       {service_key_dsn(key)}   (for Sentry SDKs)",
                    "",
                    "Report an error:",
                    f"  curl -s -X POST {base}/api/v1/errors/ \\",
                    f"    -H 'Authorization: Bearer {raw_key}' \\",
                    "    -H 'Content-Type: application/json' \\",
                    f"    -d '{report}'",
                    "",
                    "Press Ctrl-C to stop the web server, worker and beat.",
                    "",
                ]
            )
        )
