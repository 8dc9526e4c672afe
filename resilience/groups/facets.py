"""A group's top tag values, environments and releases, from its recent events only.

Counting every event of a busy group would scan millions of rows on each page view; the
newest FACET_SAMPLE (one index range on entry_group_recent) say the same about what is
happening now, and the page says how many were read.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.db.models.fields.json import KeyTransform

from resilience.models import ErrorGroup

FACET_SAMPLE = 1_000
TOP_VALUES = 5
TOP_TAGS = 10

Counts = list[tuple[str, int]]


@dataclass
class GroupFacets:
    sampled: int = 0
    environments: Counts = field(default_factory=list)
    releases: Counts = field(default_factory=list)
    tags: list[tuple[str, Counts]] = field(default_factory=list)  # most frequent keys first


def group_facets(*, group: ErrorGroup, sample: int = FACET_SAMPLE) -> GroupFacets:
    rows = (
        group.entries.order_by("-id")
        .annotate(tags=KeyTransform("tags", "extra"))
        .values_list("environment", "release", "tags")[:sample]
    )
    environments: Counter[str] = Counter()
    releases: Counter[str] = Counter()
    tags: dict[str, Counter[str]] = {}
    sampled = 0
    for environment, release, entry_tags in rows:
        sampled += 1
        environments[environment or "(none)"] += 1
        releases[release or "(none)"] += 1
        if isinstance(entry_tags, dict):
            for key, value in entry_tags.items():
                tags.setdefault(str(key), Counter())[str(value)] += 1
    by_use = sorted(tags.items(), key=lambda item: (-item[1].total(), item[0]))[:TOP_TAGS]
    return GroupFacets(
        sampled=sampled,
        environments=environments.most_common(TOP_VALUES),
        releases=releases.most_common(TOP_VALUES),
        tags=[(key, values.most_common(TOP_VALUES)) for key, values in by_use],
    )
