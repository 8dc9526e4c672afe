from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        # alerts builds on resilience: it listens to what resilience announces.
        from alerts import hooks
        from resilience import signals

        for signal, receiver in (
            (signals.digest_committed, hooks.digest_committed),
            (signals.circuit_opened, hooks.circuit_opened),
            (signals.dead_letter_created, hooks.dead_letter_created),
            (signals.fallback_failed, hooks.fallback_failed),
            (signals.monitor_failed, hooks.monitor_failed),
        ):
            signal.connect(receiver, dispatch_uid=f"alerts.hooks.{receiver.__name__}")

        # The operators' banner: alerts that reach nobody.
        from alerts import operator_warnings as checks
        from resilience.observability.operator_warnings import warning_check_register

        warning_check_register("alerts.no_channel", checks.no_channel_warning)
        warning_check_register("alerts.critical_undelivered", checks.critical_undelivered_warning)
