"""Exponential backoff with jitter (pure, standard library only)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    base_ms: int = 1000
    factor: float = 2.0
    cap_ms: int = 30_000
    jitter: float = 0.1  # fraction of the delay added on top (0.1 = up to +10%)
    full_jitter: bool = False  # AWS "full jitter": uniform(0, delay) instead


def _capped_delay(policy: BackoffPolicy, attempt: int) -> float:
    cap = max(0, int(policy.cap_ms))
    base = max(0, int(policy.base_ms))
    factor = max(0.0, float(policy.factor))
    try:
        raw = base * factor**attempt
    except OverflowError:  # 2.0 ** 10_000 overflows a float: that is "past the cap"
        return cap
    if math.isnan(raw) or raw >= cap:  # inf >= cap too
        return cap
    return raw


def backoff_delay_ms(policy: BackoffPolicy, attempt: int, rng: random.Random | None = None) -> int:
    """Delay before the next retry, given ``attempt`` attempts already made (0 = first retry).

    The seed's RetryHandler.calculateDelay: ``d = min(cap, base * factor**attempt)``, plus
    up to ``jitter`` of it on top, floored to whole milliseconds: in ``[d, d * (1 + jitter)]``.
    With full jitter (AWS) it is ``uniform(0, d)`` instead.
    """
    d = _capped_delay(policy, max(0, attempt))
    draw = rng.random() if rng is not None else random.random()  # in [0, 1)
    if policy.full_jitter:
        return math.floor(draw * d)
    jitter = max(0.0, float(policy.jitter))
    if math.isnan(jitter) or math.isinf(jitter):
        jitter = 0.0
    # Jitter spreads retries of many clients so they do not stampede the dependency.
    return math.floor(d + draw * d * jitter)
