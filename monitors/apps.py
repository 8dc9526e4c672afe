from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Cron monitors"

    def ready(self) -> None:
        from monitors import procedures  # noqa: F401 - registers its clean-up with recovery

        # The Sentry endpoint keeps `check_in` items through this app.
        from monitors.sentry import check_in_item
        from resilience.sentry.items import sentry_item_handler_register

        sentry_item_handler_register("check_in", check_in_item)
