"""Caller ID normalisation: every accepted shape gives the same E.164, junk gives None."""

import pytest

from hotline.phone import normalize_number

pytestmark = pytest.mark.unit

IVANOVA = "+79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "+79161234567",
        "79161234567",
        "89161234567",
        "8 916 123-45-67",
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "+7.916.123.45.67",
        "9161234567",
        "0079161234567",
        "810 7 916 123 45 67",
        "  +79161234567  ",
        "sip:+79161234567@10.0.0.1",
        "sip:89161234567@pbx.example.com:5060;transport=udp",
        "sips:+79161234567@host",
        "SIP:79161234567@host",
        "tel:+7-916-123-45-67",
        "tel:+79161234567;phone-context=example.com",
        "<sip:+79161234567@host>",
        '"Ivanova" <sip:+79161234567@host;user=phone>',
        "+79161234567@trunk",
    ],
)
def test_russian_mobile_in_every_shape(raw):
    assert normalize_number(raw) == IVANOVA


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "Restricted",
        "unknown",
        "Unavailable",
        "private",
        "sip:anonymous@anonymous.invalid",
        '"Anonymous" <sip:anonymous@anonymous.invalid>',
        "8916ABC4567",
        "1-800-FLOWERS",
        "+7 916 123 45 67 ext 12",
        "+7916123456",  # one digit short
        "+791612345678",  # one digit long
        "1001",  # an internal extension
        "123",
        "0" * 25,
        "+",
        "++79161234567",
        "79161234567+",
        "*79161234567",
        "7916#1234567",
        "<sip:+79161234567@host",  # unterminated name-addr
        "sip:@host",
        "+999 1234567890",  # no such country code
        "\x00+79161234567",
        "+7916\n1234567",
        "+７９１６１２３４５６７",  # fullwidth digits are not what trunks send
    ],
)
def test_hidden_or_malformed_is_unknown(raw):
    assert normalize_number(raw) is None


def test_non_string_is_unknown():
    assert normalize_number(79161234567) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+442071838750", "RU", "+442071838750"),
        ("00442071838750", "RU", "+442071838750"),
        ("020 7183 8750", "GB", "+442071838750"),
        ("020 7183 8750", "gb", "+442071838750"),
        ("8 495 123-45-67", "RU", "+74951234567"),
        ("8-800-555-35-35", "RU", "+78005553535"),
        ("9161234567", "XX", None),  # unknown default region and no country code
    ],
)
def test_other_countries_and_regions(raw, region, expected):
    assert normalize_number(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "lenient", "strict"),
    [
        ("+79161234567", IVANOVA, IVANOVA),
        ("+70000000000", "+70000000000", None),  # right length, unallocated range
    ],
)
def test_strict_requires_an_allocated_range(raw, lenient, strict):
    assert normalize_number(raw) == lenient
    assert normalize_number(raw, strict=True) == strict


def test_never_raises_on_arbitrary_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def check(raw):
        result = normalize_number(raw)
        assert result is None or (result.startswith("+") and result[1:].isdigit())

    check()
