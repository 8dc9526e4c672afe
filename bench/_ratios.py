"""Each ingest figure as a share of the ceiling it is compared with (issue 16).

The ceilings are measured in the same run as the figures: `noop-c*` (a Django view that
does nothing, same gunicorn, same middleware, same client and body) and `copy-c*` (raw
COPY of the rows a batch scenario stored). Pure: results in, rows out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    figure: str  # scenario measured
    ceiling: str  # scenario it is compared with
    field: str  # result key compared: "req_per_s", "events_per_s", "server_cpu_ms_per_event"
    unit: str
    aim: float | None = None  # the least share the issue asks for, if any
    note: str = ""


RATIOS = [
    Ratio("single-c32", "noop-c32", "req_per_s", "req/s", aim=0.40),
    Ratio("single-c1", "noop-c1", "req_per_s", "req/s"),
    Ratio("batch1000-c1", "copy-c1", "events_per_s", "rows/s", aim=0.70),
    Ratio("batch1000-c4", "copy-c4", "events_per_s", "rows/s", aim=0.70),
    Ratio("envelope-c32", "single-c32", "events_per_s", "events/s", aim=0.90),
    Ratio("envelope5k-c32", "single-c32", "events_per_s", "events/s", aim=0.90),
    # CPU is a cost, not a rate: the ratio says how many do-nothing requests one event costs.
    Ratio("single-c1", "noop-c1", "server_cpu_ms_per_event", "ms server CPU",
          note="per event / per do-nothing request"),
    Ratio("single-c32", "noop-c32", "server_cpu_ms_per_event", "ms server CPU",
          note="per event / per do-nothing request"),
]


def ratios(results: list[dict]) -> list[dict]:
    """One row per RATIOS entry whose two scenarios both ran (and measured something)."""
    by_name = {r["scenario"]: r for r in results}
    out = []
    for ratio in RATIOS:
        figure, ceiling = by_name.get(ratio.figure), by_name.get(ratio.ceiling)
        if figure is None or ceiling is None:
            continue
        value, reference = figure.get(ratio.field), ceiling.get(ratio.field)
        if not value or not reference:
            continue
        share = value / reference
        out.append({
            "figure": ratio.figure, "ceiling": ratio.ceiling, "field": ratio.field,
            "unit": ratio.unit, "value": value, "reference": reference, "ratio": share,
            "aim": ratio.aim, "met": None if ratio.aim is None else share >= ratio.aim,
            "note": ratio.note,
        })
    return out


def median_ratios(rounds: list[list[dict]]) -> list[dict]:
    """Each ratio's median over rounds of the same scenarios run back to back, with every
    round's share under "rounds". This VM's speed moves by about ±10% from one minute to
    the next, so a single pair of runs can land on either side of an aim; the median of
    pairs each measured side by side says which side it is on."""
    by_key: dict[tuple[str, str, str], list[dict]] = {}
    for results in rounds:
        for row in ratios(results):
            by_key.setdefault((row["figure"], row["ceiling"], row["field"]), []).append(row)
    out = []
    for ratio in RATIOS:
        rows = by_key.get((ratio.figure, ratio.ceiling, ratio.field))
        if not rows:
            continue
        share = statistics.median(row["ratio"] for row in rows)
        out.append({
            **rows[0],
            "value": statistics.median(row["value"] for row in rows),
            "reference": statistics.median(row["reference"] for row in rows),
            "ratio": share,
            "met": None if ratio.aim is None else share >= ratio.aim,
            "rounds": [row["ratio"] for row in rows],
        })
    return out


def _number(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"


def _share(row: dict) -> str:
    if row["field"] == "server_cpu_ms_per_event":
        return f"{row['ratio']:.1f}x"
    return f"{row['ratio']:.0%}"


def _verdict(row: dict) -> str:
    if row["aim"] is None:
        return row["note"]
    return f"aim >= {row['aim']:.0%}: {'met' if row['met'] else 'missed'}"


def ratio_line(row: dict) -> str:
    """single-c32 / noop-c32: 448 / 1,210 req/s = 37% (aim >= 40%: missed); over rounds,
    single-c32 / noop-c32: median of 3 rounds 37% (35%, 37%, 41%) (aim >= 40%: missed)"""
    verdict = _verdict(row)
    if "rounds" in row:
        shares = ", ".join(_share({**row, "ratio": r}) for r in row["rounds"])
        figures = f"median of {len(row['rounds'])} rounds {_share(row)} ({shares})"
    else:
        figures = (f"{_number(row['value'])} / {_number(row['reference'])} {row['unit']} = "
                   f"{_share(row)}")
    return f"{row['figure']} / {row['ceiling']}: {figures}" + (f" ({verdict})" if verdict else "")


def ratio_table(rows: list[dict]) -> str:
    """Over rounds, the figure and ceiling columns are their medians, the ratio the median
    of each round's ratio, followed by every round's."""
    lines = ["| figure / ceiling | figure | ceiling | ratio | aim |",
             "|---|---:|---:|---:|---|"]
    for row in rows:
        share = _share(row)
        if "rounds" in row:
            share += " (" + ", ".join(_share({**row, "ratio": r}) for r in row["rounds"]) + ")"
        lines.append(
            f"| {row['figure']} / {row['ceiling']} ({row['unit']}) | {_number(row['value'])} "
            f"| {_number(row['reference'])} | {share} | {_verdict(row)} |"
        )
    return "\n".join(lines)


def share_of_ceiling(result: dict, rows: list[dict]) -> str:
    """The main table's cell for `result`: its rate as a share of its ceiling ("37% of
    noop-c32"), or "" when it has none in this run."""
    for row in rows:
        if row["figure"] == result["scenario"] and row["field"] != "server_cpu_ms_per_event":
            return f"{_share(row)} of {row['ceiling']}"
    return ""
