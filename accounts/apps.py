from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Operator accounts"

    def ready(self) -> None:
        from accounts import login_audit  # noqa: F401 - connects the login signal receivers
        from accounts.roles import sync_roles

        # Sent once per app after a migrate; accounts is the last installed app, so every
        # app's permissions exist by then.
        post_migrate.connect(sync_roles, sender=self, dispatch_uid="faultline.sync_roles")
