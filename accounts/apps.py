from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Operator accounts"

    def ready(self) -> None:
        from accounts import login_audit  # noqa: F401 - connects the login signal receivers
