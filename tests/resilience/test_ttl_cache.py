"""The per-process TTL cache: fresh within the TTL, still known after it, bounded."""

from resilience.infra.ttl_cache import MISSING, TtlCache


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_fresh_for_its_ttl_and_known_after_it():
    clock = Clock()
    cache = TtlCache(clock=clock)
    cache.put("key", None, ttl=5)  # None is a value, not a miss
    assert cache.fresh("key") is None
    clock.now += 5
    assert cache.fresh("key") is MISSING
    assert cache.last_known("key") is None
    assert cache.last_known("other") is MISSING


def test_a_zero_ttl_keeps_only_the_last_known_value():
    cache = TtlCache(clock=Clock())
    cache.put("rules", {"E1": "x"}, ttl=0)
    assert cache.fresh("rules") is MISSING
    assert cache.last_known("rules") == {"E1": "x"}


def test_past_its_bound_the_cache_starts_over():
    cache = TtlCache(max_entries=2, clock=Clock())
    cache.put("a", 1, ttl=60)
    cache.put("b", 2, ttl=60)
    cache.put("c", 3, ttl=60)
    assert (cache.fresh("a"), cache.fresh("c")) == (MISSING, 3)
