"""Scrubbing's shortcuts against the full scan (resilience/core/scrubbing.py): the text's
shape deciding where the card and IBAN patterns run, the name read back from each "=",
values remembered. Each must scrub exactly what running every pattern over the whole
text scrubs (pure: no database)."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core import scrubbing
from resilience.core.scrubbing import FILTERED, Scrubber


def full_scan_text(scrubber: Scrubber, text: str) -> str:
    """The rules as the module's docstring states them: every pattern over the whole text."""
    def pair(match: re.Match) -> str:
        key = match.group(1)
        return f"{key}={FILTERED}" if match.group(2) and scrubber.is_sensitive(key) else \
            match.group()

    text = scrubbing._PAIR.sub(pair, text)
    text = scrubbing._CARD.sub(scrubbing._card_or_keep, text)
    return scrubbing._IBAN.sub(scrubbing._iban_or_keep, text)


# Pieces that make matches and near misses: card numbers in every grouping, IBANs, pairs
# with sensitive and plain names (and names longer than the 64 characters read back at
# first), digits of other scripts, and the characters the patterns stop at.
FRAGMENTS = [
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111 123", "3782 822463 10005",
    "4111 1111 1111 1112", "5555555555554444", "1712345678901", "0044 2079 4600 5812",
    "DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
    "de89370400440532013000", "ZZ89370400440532013000", "XDE89", "py39", "sha256",
    "token=", "password=hunter2", "x=1", "api-key=", "&", ";", "=", "==",
    "a" * 70 + "_token=", "b" * 64 + "=", "c" * 63 + "_secret=", ".", "-", " ", "\n", "\t",
    "\u0664\u0661\u0661\u0661", "\u00e9", "line 394", "ord_0c5ca6a3a450", "[Filtered]",
]
TEXT = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet="0123456789 -=&aDEGBz.\n\u0663",
                                                  max_size=12)),
    max_size=40,
).map("".join)
SCRUBBERS = [scrubbing.DEFAULT_SCRUBBER, Scrubber(sensitive_fields=["x", "ord"]),
             Scrubber(safe_fields=["token"], sensitive_fields=["b" * 64])]


@settings(max_examples=1500, deadline=None)
@given(text=TEXT, which=st.integers(min_value=0, max_value=len(SCRUBBERS) - 1))
def test_free_text_is_scrubbed_as_a_full_scan_scrubs_it(text, which):
    scrubber = SCRUBBERS[which]
    assert scrubber.text(text) == full_scan_text(scrubber, text)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(TEXT, min_size=1, max_size=6), which=st.integers(min_value=0, max_value=2))
def test_a_report_is_scrubbed_as_a_full_scan_scrubs_it(lines, which):
    # Twice: the second time, values remembered from the first are what is kept.
    scrubber = SCRUBBERS[which]
    report = {"message": lines[0], "stack_trace": "\n".join(lines),
              "context": {"note": lines[-1], "token": lines[0], "items": lines},
              "cause": {"message": lines[-1]}}
    for _ in range(2):
        clean = scrubber.report(report)
        assert clean["message"] == full_scan_text(scrubber, lines[0])
        assert clean["stack_trace"] == full_scan_text(scrubber, "\n".join(lines))
        assert clean["cause"]["message"] == full_scan_text(scrubber, lines[-1])
        assert clean["context"]["items"] == [
            FILTERED if scrubbing._AUTH_VALUE.match(line) else full_scan_text(scrubber, line)
            for line in lines
        ]


def test_a_name_longer_than_the_first_look_back_is_read_whole():
    assert scrubbing.DEFAULT_SCRUBBER.text("x" * 100 + "_token=abc") == \
        "x" * 100 + f"_token={FILTERED}"
    assert scrubbing.DEFAULT_SCRUBBER.text("token" + "x" * 100 + "=abc") == \
        "token" + "x" * 100 + f"={FILTERED}"


def test_text_in_other_scripts_is_left_to_the_patterns():
    number = "\u0664" + "\u0661" * 12 + "\u0660" * 3
    assert scrubbing._shape(f"card {number}") is None
    assert scrubbing.DEFAULT_SCRUBBER.text(f"card {number} line 12") == \
        f"card {FILTERED} line 12"


def test_the_shape_says_where_ibans_can_start():
    shape = scrubbing._shape("x DE89 and GB82WEST, line 394")
    assert list(scrubbing._iban_starts(shape)) == [2, 11]


TRACE = ("Traceback (most recent call last):\n"
         + "".join(f'  File "/srv/app/clients/http.py", line {n}, in post\n' for n in range(10))
         + "    response = self.client.post(url, json=body)\n"
         + "HTTPError: 502 Bad Gateway for order 4111 1111 1111 1111")


def test_a_line_kept_before_is_scanned_again_by_a_scrubber_its_pair_names_matter_to():
    expected = TRACE.replace("4111 1111 1111 1111", FILTERED)
    assert scrubbing.DEFAULT_SCRUBBER.text(TRACE) == expected
    assert "    response = self.client.post(url, json=body)" in scrubbing._KEPT_LINES
    strict = Scrubber(sensitive_fields=["json"])
    # The value runs on to the next separator: "body)".
    assert strict.text(TRACE) == expected.replace("json=body)", f"json={FILTERED}")
    assert scrubbing.DEFAULT_SCRUBBER.text(TRACE) == expected


def test_lines_remembered_are_only_kept_ones_and_bounded(monkeypatch):
    monkeypatch.setattr(scrubbing, "_KEPT_TEXT_COUNT", 5)
    monkeypatch.setattr(scrubbing, "_KEPT_LINES", {})
    scrubbing.DEFAULT_SCRUBBER.text(TRACE)
    assert 0 < len(scrubbing._KEPT_LINES) <= 5
    assert not any("4111" in line for line in scrubbing._KEPT_LINES)
    long_line = "x" * (scrubbing._KEPT_TEXT_LENGTH + 1)
    scrubbing.DEFAULT_SCRUBBER.text(f"{long_line}\n{long_line}")
    assert long_line not in scrubbing._KEPT_LINES
