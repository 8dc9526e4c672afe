"""Where each group was seen: its environments and recent releases, kept by the digest.

For each of the two, a batch whose events name any costs one SELECT of what its groups
already have and one upsert, plus (releases only) one DELETE when some leave the recent
set; a batch naming none costs nothing here. The digest holds the groups' row locks, so
what is read stays true until the batch commits.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Model

from resilience.core.group_state import Span, first_and_last, seen_merge, widen
from resilience.digest.bulk import seen_rows_upsert
from resilience.models import GroupEnvironment, GroupRelease
from resilience.models.group_seen import ENVIRONMENTS_MAX, RECENT_RELEASES_MAX


@dataclass
class SeenInBatch:
    """The environments and releases a batch's events of one group named, with when."""

    environments: dict[str, Span] = field(default_factory=dict)
    releases: dict[str, Span] = field(default_factory=dict)

    def add(self, *, environment: str, release: str, at: datetime) -> None:
        if environment:
            self.environments[environment] = widen(self.environments.get(environment), at, at)
        if release:
            self.releases[release] = widen(self.releases.get(release), at, at)


def seen_record(batch: Mapping[int, SeenInBatch]) -> dict[int, tuple[str, str]]:
    """Store where the batch's groups (by id) were seen; returns, for each group whose
    events named a release, the first and last release it has seen (the first may be one
    the recent set no longer holds)."""
    _record(GroupEnvironment, {pk: seen.environments for pk, seen in batch.items()},
            limit=ENVIRONMENTS_MAX, keep_recent=False)
    releases = _record(GroupRelease, {pk: seen.releases for pk, seen in batch.items()},
                       limit=RECENT_RELEASES_MAX, keep_recent=True)
    return {pk: first_and_last(spans) for pk, spans in releases.items()}


def _record(
    model: type[Model], batch: Mapping[int, Mapping[str, Span]], *, limit: int,
    keep_recent: bool,
) -> dict[int, dict[str, Span]]:
    """Merge the batch into `model`'s rows; returns each touched group's names, what it had
    and what the batch brought, before any leave the set."""
    batch = {pk: names for pk, names in batch.items() if names}
    if not batch:
        return {}
    known: dict[int, dict[str, Span]] = {pk: {} for pk in batch}
    ids: dict[tuple[int, str], int] = {}
    rows = (
        model.objects.filter(group_id__in=sorted(batch)).order_by()
        .values_list("id", "group_id", "name", "first_seen", "last_seen")
    )
    for pk, group_id, name, first, last in rows:
        known[group_id][name] = (first, last)
        ids[(group_id, name)] = pk
    writes: list[tuple[int, str, datetime, datetime]] = []
    doomed: list[int] = []
    merged: dict[int, dict[str, Span]] = {}
    for group_id in sorted(batch):  # one order for every digest: row locks cannot cross
        change = seen_merge(known=known[group_id], batch=batch[group_id], limit=limit,
                            keep_recent=keep_recent)
        writes += [(group_id, name, first, last)
                   for name, (first, last) in sorted(change.write.items())]
        doomed += [ids[(group_id, name)] for name in change.drop]
        merged[group_id] = known[group_id] | {
            name: widen(known[group_id].get(name), *span)
            for name, span in batch[group_id].items()
        }
    seen_rows_upsert(model, writes)
    if doomed:
        model.objects.filter(pk__in=doomed).delete()
    return merged
