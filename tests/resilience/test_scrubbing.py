"""Server-side scrubbing rules (resilience/core/scrubbing.py): pure, no database."""

import pytest

from resilience.core.scrubbing import (
    DEFAULT_SCRUBBER,
    FILTERED,
    Scrubber,
    field_names,
    is_card_number,
    is_iban,
    luhn_valid,
)

scrub = DEFAULT_SCRUBBER


@pytest.mark.parametrize("key", [
    "password", "Password", "user_password", "PASSWD", "secret", "client_secret", "api_key",
    "X-Api-Key", "apikey", "access_token", "Authorization", "Proxy-Authorization",
    "credentials", "mysql_pwd", "private_key", "privatekey", "csrftoken", "X-CSRFToken",
    "sessionid", "Cookie", "Set-Cookie", "X-Forwarded-For", "stripeToken", "card[number]",
])
def test_a_sensitive_key_has_its_value_filtered(key):
    assert scrub.data({key: "hunter2", "page": "2"}) == {key: FILTERED, "page": "2"}


def test_a_sensitive_key_filters_a_whole_object_or_list_under_it():
    data = {"auth": {"user": "ada", "pass": "x"}, "tokens": ["a", "b"]}
    assert scrub.data(data) == {"auth": FILTERED, "tokens": FILTERED}


def test_empty_values_stay_empty_so_a_reader_sees_nothing_was_sent():
    assert scrub.data({"password": "", "token": None}) == {"password": "", "token": None}


def test_nested_objects_and_lists_are_scrubbed_at_every_depth():
    data = {"request": {"headers": {"Authorization": "Basic YWRhOmxvdmVsYWNl"},
                        "data": [{"form": {"password": "x", "name": "Ada"}}]}}
    assert scrub.data(data) == {"request": {"headers": {"Authorization": FILTERED},
                                            "data": [{"form": {"password": FILTERED,
                                                               "name": "Ada"}}]}}


def test_key_value_pairs_as_sentry_sends_headers_and_query_strings_are_read_as_keys():
    pairs = [["Authorization", "Bearer abc"], ["Accept", "*/*"], ["token", "t"]]
    assert scrub.data(pairs) == [["Authorization", FILTERED], ["Accept", "*/*"],
                                 ["token", FILTERED]]


def test_sensitive_pairs_in_a_query_string_form_body_or_cookie_header_are_filtered():
    assert scrub.text("step=2&token=abc&page=1") == f"step=2&token={FILTERED}&page=1"
    assert scrub.text("name=Ada&password=hunter2") == f"name=Ada&password={FILTERED}"
    assert scrub.text("sessionid=abc123; theme=dark") == f"sessionid={FILTERED}; theme=dark"
    assert scrub.text("GET /cb?api_key=zz failed") == f"GET /cb?api_key={FILTERED} failed"


@pytest.mark.parametrize(("text", "scrubbed"), [
    # An "=" inside a pair's value starts no pair of its own; the next one after a
    # separator does.
    ("next=a=token=x&token=y", f"next=a=token=x&token={FILTERED}"),
    # The key is the whole run of name characters before its "=", whatever it follows.
    ("a=1&b.token=2;c[token]=3 d-token=4",
     f"a=1&b.token={FILTERED};c[token]={FILTERED} d-token={FILTERED}"),
    ("=token=6", f"=token={FILTERED}"),
    ("x==token=5", "x==token=5"),  # the value of x runs on over the second "="
    ("\u00e9_token=7", f"\u00e9_token={FILTERED}"),
    ("ab" * 200 + "_token=8", "ab" * 200 + f"_token={FILTERED}"),
    ("password=", "password="),  # nothing was sent
])
def test_pairs_are_found_where_a_scan_from_the_start_finds_them(text, scrubbed):
    # Only each "=" after a name character is looked at, and the name read back from it.
    assert scrub.text(text) == scrubbed


def test_a_value_that_is_a_credential_on_its_own_is_filtered_under_any_key():
    assert scrub.data({"upstream": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"}) == {"upstream": FILTERED}
    assert scrub.data({"note": "basic plan"}) == {"note": "basic plan"}


def test_the_original_is_left_as_it_was():
    data = {"password": "x", "items": [{"token": "y"}]}
    scrub.data(data)
    assert data == {"password": "x", "items": [{"token": "y"}]}


# --- card numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("number", [
    "4111111111111111",  # Visa
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "3782 822463 10005",
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "36227206271667",  # Diners
    "6200000000000005",  # UnionPay
])
def test_a_card_number_is_replaced_in_free_text(number):
    assert scrub.text(f"card {number} was declined") == f"card {FILTERED} was declined"


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("4111 1111 1111 1111 12/26", f"{FILTERED} 12/26"),  # then its expiry
    ("4111 1111 1111 1111 123", f"{FILTERED} 123"),  # then its CVV
    ("4111111111111111 123", f"{FILTERED} 123"),
    ("3782 822463 10005 1234", f"{FILTERED} 1234"),
])
def test_a_card_number_followed_by_a_short_number_is_still_found(text, scrubbed):
    assert scrub.text(text) == scrubbed


def test_a_card_number_is_replaced_inside_structured_values_and_as_a_json_number():
    form = {"card_number": "4111 1111 1111 1111", "amount": 1250, "pan": 4111111111111111}
    assert scrub.data(form) == {"card_number": FILTERED, "amount": 1250, "pan": FILTERED}


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert luhn_valid("79927398713")


@pytest.mark.parametrize("text", [
    "order 4111111111111112 shipped",  # a Visa prefix that fails Luhn
    "at 1712345678901 ms",  # a millisecond timestamp
    "at 1712345678901234 us",  # a microsecond timestamp
    "order 9000000000000008",  # Luhn-valid, but no card scheme starts with 9
    "order id 1000000000000009",  # likewise with 1
    "request 20240601123045123",  # a date-time written as digits
    "trace 4111111111111111a",  # part of a longer token
    "pi 3.4111111111111111",  # part of a number
    "+44 20 7946 0958",  # a phone number
    "0044 2079 4600 5812",  # grouped like a card, but no scheme starts with 0
    "1 2 1 2 1 2 1 2 1 2 1 2 1 2 1 2",  # digits, not grouped like a card
    "2024-06-01 12:30:45",
])
def test_ordinary_numbers_are_not_taken_for_card_numbers(text):
    assert scrub.text(text) == text


def test_ordinary_numbers_in_structured_data_are_kept():
    data = {"order_id": 1712345678901, "user": 42, "total": 99.95, "ts": 1712345678.25}
    assert scrub.data(data) == data


def test_is_card_number_wants_a_scheme_length():
    assert is_card_number("4111111111111111")
    assert not is_card_number("411111111111111")  # Visa has no 15-digit numbers
    assert not is_card_number("37828224631000")  # nor Amex 14


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("4111111111111111", FILTERED),  # the whole text, nothing before it
    ("(4111111111111111)", f"({FILTERED})"),
    ("#4111 1111 1111 1111", f"#{FILTERED}"),
    ("x4111111111111111", "x4111111111111111"),  # glued to a letter: not a card
    ("_4111111111111111", "_4111111111111111"),
    ("v1.4111111111111111", "v1.4111111111111111"),
    ("14111111111111111 4111111111111111", f"14111111111111111 {FILTERED}"),
])
def test_a_card_number_is_found_only_where_nothing_is_glued_before_it(text, scrubbed):
    # The pattern checks what precedes a card after its first digit (so it can skip
    # to digits); the same numbers are found as with the check first.
    assert scrub.text(text) == scrubbed


def test_a_card_number_in_other_scripts_digits_is_still_looked_at():
    # Text is passed over only when it holds no two digits in a row, in any script: these
    # are Arabic-Indic digits, which the card pattern reads as digits too.
    number = "\u0664" + "\u0661" * 12 + "\u0660" * 3
    assert scrub.text(f"card {number}") == f"card {FILTERED}"
    assert scrub.data({"note": f"card {number}"}) == {"note": f"card {FILTERED}"}


def test_a_value_repeated_in_a_report_is_scrubbed_by_where_it_is_each_time():
    # What a string became is remembered within a report; the key it sits under still
    # decides for each occurrence, and free text keeps its own rules (no auth check).
    secret = "correct horse battery staple"
    bearer = "Bearer abcdefghijklmnop"
    card = "card 4111 1111 1111 1111 declined"
    report = {
        "message": bearer,
        "context": {"note": secret, "password": secret, "upstream": bearer, "why": card},
        "extra": {"frames": [{"vars": {"api_token": secret, "text": secret, "why": card}}],
                  "headers": [["Authorization", secret], ["X-Note", secret]]},
        "cause": {"message": card, "stack_trace": bearer},
    }
    clean = scrub.report(report)
    declined = f"card {FILTERED} declined"
    assert clean["message"] == bearer
    assert clean["context"] == {"note": secret, "password": FILTERED, "upstream": FILTERED,
                                "why": declined}
    assert clean["extra"] == {"frames": [{"vars": {"api_token": FILTERED, "text": secret,
                                                   "why": declined}}],
                              "headers": [["Authorization", FILTERED], ["X-Note", secret]]}
    assert clean["cause"] == {"message": declined, "stack_trace": bearer}


def test_values_remembered_across_reports_are_only_ones_every_scrubber_keeps():
    # Text without "=" that came out unchanged is remembered for every scrubber; a pair
    # is never remembered, since a service's own names decide it.
    pair = "ssn=12345 order 77"
    plain = "nothing here to remove, twice"
    assert scrub.data({"note": pair, "other": plain}) == {"note": pair, "other": plain}
    strict = Scrubber(sensitive_fields=["ssn", "other"])
    assert strict.data({"note": pair, "other": plain, "list": [plain, pair]}) == {
        "note": f"ssn={FILTERED} order 77", "other": FILTERED,
        "list": [plain, f"ssn={FILTERED} order 77"]}
    card = "paid with 4111 1111 1111 1111 today"
    assert scrub.data([card, card]) == [f"paid with {FILTERED} today"] * 2
    assert scrub.data({"note": card}) == {"note": f"paid with {FILTERED} today"}


def test_values_remembered_across_reports_are_bounded(monkeypatch):
    from resilience.core import scrubbing

    monkeypatch.setattr(scrubbing, "_KEPT_TEXT_COUNT", 5)
    scrub.data([f"a value number {n}, long enough" for n in range(50)])
    assert 0 < len(scrubbing._KEPT_TEXT) <= 5
    scrub.data(["x" * (scrubbing._KEPT_TEXT_LENGTH + 1)])
    assert "x" * (scrubbing._KEPT_TEXT_LENGTH + 1) not in scrubbing._KEPT_TEXT


# --- IBANs --------------------------------------------------------------------------------

@pytest.mark.parametrize("iban", [
    "DE89370400440532013000",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "GB82 WEST 1234 5698 7654 32",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "de89370400440532013000",
])
def test_an_iban_is_replaced_in_free_text(iban):
    assert scrub.text(f"refund to {iban} today") == f"refund to {FILTERED} today"


def test_an_iban_followed_by_other_capitals_is_found_and_the_rest_kept():
    assert scrub.text("IBAN DE89 3704 0044 0532 0130 00 OK") == f"IBAN {FILTERED} OK"


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("DE89370400440532013000", FILTERED),
    ("(DE89 3704 0044 0532 0130 00)", f"({FILTERED})"),
    ("iban:GB82WEST12345698765432.", f"iban:{FILTERED}."),
    ("DE89370400440532013000 GB82WEST12345698765432", f"{FILTERED} {FILTERED}"),
    ("line 12 DE8937040044053201300 DE89370400440532013000",
     f"line 12 DE8937040044053201300 {FILTERED}"),
    ("XDE89370400440532013000", "XDE89370400440532013000"),  # glued to a letter
])
def test_an_iban_is_found_from_its_check_digits_where_a_scan_would_find_it(text, scrubbed):
    # The pattern is tried only two characters before two digits that follow two letters.
    assert scrub.text(text) == scrubbed


@pytest.mark.parametrize("text", [
    "DE89370400440532013001",  # check digits wrong
    "DE8937040044053201300",  # a digit short for Germany
    "ZZ89370400440532013000",  # no such country
    "AB12CDEFGHIJKLMNOP",
    "build de12fa9c0b7e44d1a2b3",
])
def test_what_is_not_an_iban_is_kept(text):
    assert scrub.text(text) == text


def test_is_iban():
    assert is_iban("GB82WEST12345698765432")
    assert not is_iban("GB82WEST12345698765433")


# --- a service's own lists -------------------------------------------------------------------

def test_a_services_extra_fields_are_filtered_like_the_defaults():
    scrubber = Scrubber(sensitive_fields=["ssn", "Date-Of-Birth"])
    data = {"SSN": "123", "customer_ssn_last4": "1234", "date_of_birth": "1815-12-10"}
    assert scrubber.data(data) == dict.fromkeys(data, FILTERED)
    assert scrubber.text("ssn=123&x=1") == f"ssn={FILTERED}&x=1"


def test_safe_fields_beat_the_defaults_and_keep_their_whole_value():
    scrubber = Scrubber(safe_fields=["author", "X-Session-Region"], sensitive_fields=["author"])
    data = {"author": "ada", "x_session_region": "eu", "session": "s",
            "Author": {"card": "4111111111111111"}}
    assert scrubber.data(data) == {"author": "ada", "x_session_region": "eu",
                                   "session": FILTERED,
                                   "Author": {"card": "4111111111111111"}}
    assert scrubber.text("author=ada&token=t") == f"author=ada&token={FILTERED}"


def test_safe_fields_are_whole_names_not_substrings():
    scrubber = Scrubber(safe_fields=["token"])
    assert scrubber.data({"token": "t", "access_token": "a"}) == {"token": "t",
                                                                 "access_token": FILTERED}


def test_scrubbing_switched_off_keeps_everything():
    scrubber = Scrubber(enabled=False)
    report = {"message": "card 4111 1111 1111 1111", "context": {"password": "x"}}
    assert scrubber.report(report) == report


def test_field_names_reads_lines_and_commas():
    assert field_names("SSN\n  dob , X-Customer-Id\n\nssn") == ("ssn", "dob", "x_customer_id")


# --- a whole report ---------------------------------------------------------------------------

def test_a_report_is_scrubbed_where_user_data_is_and_kept_where_it_is_matched_on():
    report = {
        "event_id": "evt-4111111111111111",
        "code": "CARD_DECLINED",
        "operation": "payment.charge",
        "message": "card 4111 1111 1111 1111 declined",
        "stack_trace": "Traceback …\nCardError: card 4111111111111111 declined",
        "context": {"password": "x", "order": 123},
        "tags": {"auth_method": "otp", "team": "payments"},
        "extra": {"request": {"headers": {"Cookie": "sessionid=abc"}}},
        "payload": {"token": "needed-to-replay"},
        "fingerprint": ["card", "4111111111111111"],
        "cause": {"message": "IBAN GB82WEST12345698765432 refused",
                  "cause": {"stack_trace": "password=hunter2"}},
    }
    clean = scrub.report(report)
    assert clean["message"] == f"card {FILTERED} declined"
    assert clean["stack_trace"].endswith(f"card {FILTERED} declined")
    assert clean["context"] == {"password": FILTERED, "order": 123}
    assert clean["tags"] == {"auth_method": FILTERED, "team": "payments"}
    assert clean["extra"] == {"request": {"headers": {"Cookie": FILTERED}}}
    assert clean["cause"]["message"] == f"IBAN {FILTERED} refused"
    assert clean["cause"]["cause"]["stack_trace"] == f"password={FILTERED}"
    for kept in ("event_id", "code", "operation", "payload", "fingerprint"):
        assert clean[kept] == report[kept]


def test_a_long_text_is_scrubbed_in_linear_time():
    # No pattern backtracks across a run: 200,000 characters of name characters, digits
    # and separators come back unchanged at once (a quadratic pattern would take minutes).
    text = "tokentoken" * 10_000 + " " + "1 2 " * 25_000 + "DE12" * 10_000 + "=x"
    assert scrub.text(text).endswith("=x")
