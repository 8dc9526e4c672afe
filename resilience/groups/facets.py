"""What the group page says about where a group was seen and its top tag values.

Environments and releases are the stored sets the digest keeps (every environment, the
recent releases: resilience/digest/seen.py), so an environment seen once, long ago, is
listed too. Tag values are counted from the group's recent events only: counting every
event of a busy group would scan millions of rows on each page view; the newest
FACET_SAMPLE (one index range on entry_in_group_recent) say the same about what is happening
now, and the page says how many were read.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models.fields.json import KeyTransform

from resilience.models import ErrorGroup

FACET_SAMPLE = 1_000
TOP_VALUES = 5
TOP_TAGS = 10
RELEASES_SHOWN = 10

Counts = list[tuple[str, int]]
Seen = list[tuple[str, datetime]]  # (name, last seen), most recently seen first


@dataclass
class GroupFacets:
    sampled: int = 0
    environments: Seen = field(default_factory=list)
    releases: Seen = field(default_factory=list)  # the RELEASES_SHOWN most recent
    release_count: int = 0
    tags: list[tuple[str, Counts]] = field(default_factory=list)  # most frequent keys first


def group_facets(*, group: ErrorGroup, sample: int = FACET_SAMPLE) -> GroupFacets:
    releases = list(group.seen_releases.order_by("-last_seen", "name")
                    .values_list("name", "last_seen"))
    sampled, tags = _top_tags(group, sample)
    return GroupFacets(
        sampled=sampled,
        environments=list(group.seen_environments.order_by("-last_seen", "name")
                          .values_list("name", "last_seen")),
        releases=releases[:RELEASES_SHOWN],
        release_count=len(releases),
        tags=tags,
    )


def _top_tags(group: ErrorGroup, sample: int) -> tuple[int, list[tuple[str, Counts]]]:
    rows = (
        group.entries.order_by("-id")
        .annotate(tags=KeyTransform("tags", "extra"))
        .values_list("tags", flat=True)[:sample]
    )
    tags: dict[str, Counter[str]] = {}
    sampled = 0
    for entry_tags in rows:
        sampled += 1
        if isinstance(entry_tags, dict):
            for key, value in entry_tags.items():
                tags.setdefault(str(key), Counter())[str(value)] += 1
    by_use = sorted(tags.items(), key=lambda item: (-item[1].total(), item[0]))[:TOP_TAGS]
    return sampled, [(key, values.most_common(TOP_VALUES)) for key, values in by_use]
