"""`manage.py operator_token <username> [--label …]`: make an operator API token and print
it once (what DRF's drf_create_token did, without keeping the token in clear)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import operator_token_create


class Command(BaseCommand):
    help = "Create an API token for an operator and print it (it is not stored in clear)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--label", default="made with manage.py operator_token")

    def handle(self, *args, username: str, label: str, **options) -> None:
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        token, raw_token = operator_token_create(user=user, label=label[:100])
        self.stdout.write(raw_token)
        self.stderr.write(
            f"Token {token.key_prefix}… for {username}: use it as 'Authorization: Token <token>'. "
            "It is shown only now."
        )
