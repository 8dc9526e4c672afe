from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from campaigns import fallbacks  # noqa: F401 - registers the campaign fallbacks
