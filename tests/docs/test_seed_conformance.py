"""docs/seed-conformance.md tells the truth: every row names a test, and every test it
names exists (a renamed or deleted test fails here, not silently in the document)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seed-conformance.md"
# `tests/x/test_y.py::test_name[param]` or, after one of those in the same cell, `::test_name`
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?::(test_\w+)(?:\[[^\]`]*\])?`")


def table_rows() -> list[tuple[str, str]]:
    """(section, test cell) for every data row of a conformance table."""
    rows, section = [], ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:]
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or set(cells[0]) <= {"-", " "}:
            continue
        if cells[0] == "Seed rule":
            continue
        rows.append((section, cells[2]))
    return rows


def references(cell: str) -> list[tuple[str, str]]:
    found, current = [], None
    for path, name in REFERENCE.findall(cell):
        current = path or current
        assert current, f"{name} is named without a file before it: {cell[:120]}"
        found.append((current, name))
    return found


ROWS = table_rows()


def test_the_document_has_every_seed_class() -> None:
    sections = {section.split(" (")[0] for section, _ in ROWS}
    for seed_class in ("ErrorClassifier", "ServiceErrorHandler", "RetryHandler", "CircuitBreaker",
                       "AutoRecoveryManager", "ErrorMetricsCollector", "ErrorLogger"):
        assert any(seed_class in section for section in sections), seed_class
    assert any("AlertSystem" in section for section in sections)
    assert len(ROWS) > 60


@pytest.mark.parametrize(("section", "cell"), ROWS, ids=[f"{i}" for i in range(len(ROWS))])
def test_every_row_names_tests_that_exist(section: str, cell: str) -> None:
    named = references(cell)
    assert named, f"a row of {section!r} names no test: {cell[:160]}"
    for path, name in named:
        source = ROOT / path
        assert source.exists(), f"{path} (named in {section!r}) does not exist"
        assert re.search(rf"^\s*(async )?def {name}\(", source.read_text(encoding="utf-8"),
                         re.MULTILINE), f"{path}::{name} (named in {section!r}) does not exist"
