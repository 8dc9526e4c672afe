from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        # The fallbacks register with resilience; the procedures with recovery (after its
        # own, so recovery must come first in INSTALLED_APPS), which never imports campaigns.
        from campaigns import fallbacks, procedures  # noqa: F401
