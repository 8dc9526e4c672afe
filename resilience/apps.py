from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "resilience"
    verbose_name = "Errors and resilience"

    def ready(self) -> None:
        from resilience import conf
        from resilience.handling import builtin_fallbacks  # noqa: F401 - registers database.write
        from resilience.infra import db_datetimes

        db_datetimes.register()  # offsets past ±15:59 reach PostgreSQL in UTC

        conf.validate()  # a malformed FAULTLINE_* variable stops start-up, not a request
