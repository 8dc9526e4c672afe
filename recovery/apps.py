from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"

    def ready(self) -> None:
        from recovery import cleanup, procedures  # noqa: F401 - registers the procedures
