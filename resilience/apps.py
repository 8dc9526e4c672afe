from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "resilience"
    verbose_name = "Errors and resilience"

    def ready(self) -> None:
        from resilience import builtin_fallbacks  # noqa: F401 - registers database.write
