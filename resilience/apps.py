from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ResilienceConfig(AppConfig):
    name = "resilience"
    verbose_name = "Errors and resilience"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from config.periodic_tasks import sync_periodic_tasks
        from resilience import conf
        from resilience.digest import rollup_days  # noqa: F401 - a group's deletion rebuilds its days
        from resilience.handling import builtin_fallbacks  # noqa: F401 - registers database.write
        from resilience.infra import csp_header, db_datetimes
        from resilience.observability import lockout_audit, role_audit  # noqa: F401 - receivers

        db_datetimes.register()  # offsets past ±15:59 reach PostgreSQL in UTC
        setting_changed.connect(csp_header.policy_settings_changed,
                                dispatch_uid="faultline.csp_policy_settings")

        # Every periodic task is declared in config/periodic_tasks.py and made after migrate.
        post_migrate.connect(sync_periodic_tasks, sender=self,
                             dispatch_uid="faultline.sync_periodic_tasks")

        conf.validate()  # a malformed FAULTLINE_* variable stops start-up, not a request
