"""Where a group was seen: every environment its events came from, and its recent releases.

A group keeps the environment of its first event; these rows answer "was it seen in
production?" for any of them, so filters find a group first seen in staging. The digest
keeps them, in bulk (resilience/digest/seen.py). The group's first and last release are on
ErrorGroup.
"""

from django.db import models

from resilience.models.core import ErrorGroup

# Bounds per group: a reporter inventing a name per event must not grow a table without
# end. A full set of environments keeps the ones it has; releases keep the most recent.
ENVIRONMENTS_MAX = 100
RECENT_RELEASES_MAX = 100


class GroupEnvironment(models.Model):
    group = models.ForeignKey(
        ErrorGroup, on_delete=models.CASCADE, related_name="seen_environments"
    )
    name = models.CharField(max_length=64)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="group_environment_name")
        ]
        # The groups filter: the groups seen in one environment, from the index alone.
        indexes = [models.Index(fields=["name", "group"], name="environment_groups")]
        ordering = ["-last_seen", "name"]

    def __str__(self) -> str:
        return self.name


class GroupRelease(models.Model):
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="seen_releases")
    name = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="group_release_name")
        ]
        indexes = [models.Index(fields=["name", "group"], name="release_groups")]
        ordering = ["-last_seen", "name"]

    def __str__(self) -> str:
        return self.name
