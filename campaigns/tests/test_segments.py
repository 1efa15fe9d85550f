"""Segment counting and smart encoding: pure functions, no database."""

import pytest

from campaigns.segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    SMART_REPLACEMENTS,
    SegmentInfo,
    analyze,
    analyze_for_sending,
    smart_encode,
)

EMOJI = "\U0001f600"  # grinning face, outside the BMP: a surrogate pair in UTF-16


def units_of(part: str, encoding: str) -> int:
    """Counted independently of the module, so the tests check it rather than echo it."""
    if encoding == "GSM-7":
        return sum(2 if char in GSM_EXTENSION else 1 for char in part)
    return len(part.encode("utf-16-le", "surrogatepass")) // 2


# --- the alphabet ------------------------------------------------------------------


def test_basic_table_is_the_128_characters_minus_escape():
    assert len(GSM_BASIC) == 127
    assert "\x1b" not in GSM_BASIC
    assert "\x1b" not in GSM_EXTENSION


def test_extension_table_is_the_ten_escaped_characters():
    assert set("\f^{}\\[~]|€") == GSM_EXTENSION
    assert not GSM_BASIC & GSM_EXTENSION


def test_whole_basic_table_is_gsm_at_one_septet_each():
    info = analyze("".join(sorted(GSM_BASIC)))
    assert info.encoding == "GSM-7"
    assert info.units == 127
    assert info.non_gsm_characters == []


@pytest.mark.parametrize("char", sorted(GSM_EXTENSION))
def test_each_extension_character_costs_two_septets(char):
    info = analyze(f"a{char}b")
    assert info.encoding == "GSM-7"
    assert info.characters == 3
    assert info.units == 4


@pytest.mark.parametrize(("char", "name"), [("\r", "CR"), ("\n", "LF")])
def test_carriage_return_and_line_feed_are_basic(char, name):
    info = analyze(f"a{char}b")
    assert info.encoding == "GSM-7", name
    assert info.units == 3


def test_crlf_line_break_costs_two_septets():
    assert analyze("line one\r\nline two").units == 18


def test_form_feed_is_an_extension_character():
    info = analyze("\f")
    assert info.encoding == "GSM-7"
    assert info.units == 2


def test_literal_escape_is_not_gsm_and_forces_ucs2():
    info = analyze("hello\x1bworld")
    assert info.encoding == "UCS-2"
    assert info.non_gsm_characters == ["\x1b"]
    assert info.units == 11


@pytest.mark.parametrize("char", ["ł", "中", "ç", "\u0301", "\u2019"])
def test_bmp_non_gsm_character_forces_ucs2_at_one_unit(char):
    info = analyze(f"price {char}")
    assert info.encoding == "UCS-2"
    assert info.units == 7
    assert info.non_gsm_characters == [char]


def test_non_gsm_characters_are_distinct_in_order_of_first_appearance():
    info = analyze("中 hello ł 中 world ł 中 " + EMOJI)
    assert info.non_gsm_characters == ["中", "ł", EMOJI]


def test_ucs2_counts_every_character_gsm_ones_included_at_one_unit():
    # In UCS-2 an extension character is no longer escaped: one unit like any other.
    info = analyze("€{}ł")
    assert info.encoding == "UCS-2"
    assert info.units == 4


def test_emoji_outside_bmp_is_two_units_but_one_character():
    info = analyze(EMOJI)
    assert info.encoding == "UCS-2"
    assert info.characters == 1
    assert info.units == 2


# --- boundaries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [
        (1, 1, 160),
        (160, 1, 160),
        (161, 2, 153),
        (306, 2, 153),
        (307, 3, 153),
        (459, 3, 153),
        (460, 4, 153),
        (1600, 11, 153),
    ],
)
def test_gsm_segment_boundaries(length, segments, per_segment):
    info = analyze("a" * length)
    assert info.encoding == "GSM-7"
    assert (info.units, info.segments, info.per_segment) == (length, segments, per_segment)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [
        (1, 1, 70),
        (70, 1, 70),
        (71, 2, 67),
        (134, 2, 67),
        (135, 3, 67),
        (201, 3, 67),
        (202, 4, 67),
    ],
)
def test_ucs2_segment_boundaries(length, segments, per_segment):
    info = analyze("ł" * length)
    assert info.encoding == "UCS-2"
    assert (info.units, info.segments, info.per_segment) == (length, segments, per_segment)


@pytest.mark.parametrize(
    ("count", "units", "segments"),
    [(80, 160, 1), (81, 162, 2), (153, 306, 3)],
)
def test_euro_signs_count_two_septets_each(count, units, segments):
    info = analyze("€" * count)
    assert info.encoding == "GSM-7"
    assert info.characters == count
    assert (info.units, info.segments) == (units, segments)


def test_escape_pair_straddling_153_moves_whole_and_adds_a_segment():
    text = "a" * 152 + "€" + "a" * 152
    info = analyze(text)
    assert info.units == 306  # naive division says 2
    assert info.segments == 3
    assert info.parts == ["a" * 152, "€" + "a" * 151, "a"]


def test_escape_pair_that_fits_exactly_stays_in_its_segment():
    info = analyze("a" * 151 + "€" + "a" * 153)
    assert info.units == 306
    assert info.segments == 2
    assert info.parts[0].endswith("€")


def test_surrogate_pair_straddling_67_moves_whole_and_adds_a_segment():
    text = "ł" * 66 + EMOJI + "ł" * 66
    info = analyze(text)
    assert info.units == 134  # naive division says 2
    assert info.segments == 3
    assert info.parts == ["ł" * 66, EMOJI + "ł" * 65, "ł"]


def test_many_emoji_never_split_a_surrogate_pair():
    # 67 is odd, so each full segment of emoji holds 33 pairs and leaves a slot empty.
    info = analyze(EMOJI * 100)
    assert info.units == 200
    assert info.segments == 4
    assert [len(part) for part in info.parts] == [33, 33, 33, 1]


def test_a_single_segment_may_fill_all_160_septets_with_escape_pairs():
    # The 153 rule only applies once the message is concatenated.
    info = analyze("a" * 158 + "€")
    assert (info.units, info.segments, info.per_segment) == (160, 1, 160)


# --- parts and remaining -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 1000,
        "a" * 152 + "€" + "a" * 152,
        "{[|]}" * 100,
        "ł" * 66 + EMOJI + "ł" * 66,
        ("Zażółć gęślą jaźń " + EMOJI) * 20,
        "short",
    ],
    ids=[
        "gsm-160",
        "gsm-1000",
        "gsm-escape-straddle",
        "gsm-all-escapes",
        "ucs2-straddle",
        "ucs2-mixed",
        "short",
    ],
)
def test_parts_rejoin_to_text_and_each_fits_its_segment(text):
    info = analyze(text)
    assert "".join(info.parts) == text
    assert len(info.parts) == info.segments
    assert all(part for part in info.parts)
    assert all(units_of(part, info.encoding) <= info.per_segment for part in info.parts)
    assert sum(units_of(part, info.encoding) for part in info.parts) == info.units
    assert info.remaining == info.per_segment - units_of(info.parts[-1], info.encoding)


@pytest.mark.parametrize(
    ("text", "remaining"),
    [
        ("a" * 10, 150),
        ("a" * 160, 0),
        ("a" * 161, 145),  # 153 + 8
        ("a" * 306, 0),
        ("€" * 5, 150),
        ("ł" * 10, 60),
        ("ł" * 71, 63),  # 67 + 4
        ("a" * 152 + "€" + "a" * 152, 152),  # last segment holds one septet
        ("ł" * 66 + EMOJI, 2),  # single segment: 68 of 70 units
    ],
    ids=[
        "gsm-single-10",
        "gsm-single-full",
        "gsm-multi-161",
        "gsm-multi-full",
        "gsm-escapes",
        "ucs2-single-10",
        "ucs2-multi-71",
        "gsm-escape-straddle",
        "ucs2-single-emoji",
    ],
)
def test_remaining_is_free_units_in_the_last_segment(text, remaining):
    assert analyze(text).remaining == remaining


def test_characters_counts_code_points():
    info = analyze("a€" + EMOJI)
    assert info.characters == 3
    assert info.units == 4  # UCS-2 because of the emoji: 1 + 1 + 2


def test_empty_body_is_invalid():
    with pytest.raises(ValueError, match="empty"):
        analyze("")


def test_as_dict_has_the_preview_fields_and_remaining_but_not_parts():
    info = analyze("héllo 中")
    assert info.as_dict() == {
        "encoding": "UCS-2",
        "segments": 1,
        "characters": 7,
        "units": 7,
        "per_segment": 70,
        "non_gsm_characters": ["中"],
        "remaining": 63,
    }


def test_info_is_immutable():
    info = analyze("hi")
    assert isinstance(info, SegmentInfo)
    with pytest.raises(AttributeError):
        info.segments = 2


# --- smart encoding ----------------------------------------------------------------

# Every entry of the smart-encoding table, spelled out so a change to it shows here.
LOOK_ALIKES = [
    ("\u2018", "'"),
    ("\u2019", "'"),
    ("\u201a", "'"),
    ("\u2032", "'"),
    ("\u02b9", "'"),
    ("\u02bb", "'"),
    ("\u02bc", "'"),
    ("\u201c", '"'),
    ("\u201d", '"'),
    ("\u201e", '"'),
    ("\u2033", '"'),
    ("\u00ab", '"'),
    ("\u00bb", '"'),
    ("\u2011", "-"),
    ("\u2012", "-"),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u2015", "-"),
    ("\u2212", "-"),
    ("\u2022", "-"),
    ("\u2026", "..."),
    ("\u00a0", " "),
    ("\u202f", " "),
    ("\u2002", " "),
    ("\u2003", " "),
    ("\u2007", " "),
    ("\u2009", " "),
    ("\u200b", ""),
    ("\ufeff", ""),
]


@pytest.mark.parametrize(
    ("look_alike", "replacement"),
    LOOK_ALIKES,
    ids=[f"U+{ord(look_alike):04X}" for look_alike, _ in LOOK_ALIKES],
)
def test_smart_encode_maps_each_look_alike(look_alike, replacement):
    assert smart_encode(f"a{look_alike}b") == f"a{replacement}b"


def test_table_is_exactly_the_tested_look_alikes_and_maps_to_gsm():
    assert dict(LOOK_ALIKES) == SMART_REPLACEMENTS
    for look_alike, replacement in SMART_REPLACEMENTS.items():
        assert look_alike not in GSM_BASIC | GSM_EXTENSION
        assert set(replacement) <= GSM_BASIC


def test_smart_encode_leaves_gsm_text_unchanged():
    text = "".join(sorted(GSM_BASIC | GSM_EXTENSION))
    assert smart_encode(text) == text


@pytest.mark.parametrize("text", ["™ and ©", "中文", EMOJI, "Zażółć"])
def test_smart_encode_leaves_other_characters_alone(text):
    assert smart_encode(text) == text


def test_smart_encode_fixes_a_pasted_sentence():
    text = "\u201cDon\u2019t miss it\u201d \u2014 50\u00a0% off\u2026"
    assert smart_encode(text) == '"Don\'t miss it" - 50 % off...'


# --- analyze_for_sending -----------------------------------------------------------


def test_smart_version_is_sent_when_it_needs_fewer_segments():
    text = "\u2019" + "a" * 99
    assert analyze(text).segments == 2  # 100 UCS-2 units

    body, info = analyze_for_sending(text, smart_encoding=True)

    assert body == "'" + "a" * 99
    assert (info.encoding, info.segments, info.units) == ("GSM-7", 1, 100)


def test_original_is_kept_when_smart_encoding_saves_no_segment():
    text = "\u201cHello\u201d"
    assert analyze(smart_encode(text)).encoding == "GSM-7"  # it could be GSM-7 ...

    body, info = analyze_for_sending(text, smart_encoding=True)

    assert body == text  # ... but both are one segment, so nothing is gained
    assert (info.encoding, info.segments) == ("UCS-2", 1)


def test_original_is_kept_when_smart_encoding_would_need_more_segments():
    text = "\u2026" * 70  # 70 UCS-2 units, but 210 septets once expanded

    body, info = analyze_for_sending(text, smart_encoding=True)

    assert body == text
    assert (info.encoding, info.segments) == ("UCS-2", 1)


def test_emoji_keeps_the_message_ucs2_even_with_smart_encoding():
    text = "\u2019" + "a" * 98 + EMOJI

    body, info = analyze_for_sending(text, smart_encoding=True)

    assert body == text
    assert info.encoding == "UCS-2"
    assert info.non_gsm_characters == ["\u2019", EMOJI]


def test_without_smart_encoding_the_original_is_always_sent():
    text = "\u2019" + "a" * 99

    body, info = analyze_for_sending(text, smart_encoding=False)

    assert body == text
    assert (info.encoding, info.segments) == ("UCS-2", 2)


def test_gsm_text_is_returned_unchanged_with_smart_encoding():
    body, info = analyze_for_sending("Plain text", smart_encoding=True)
    assert body == "Plain text"
    assert info == analyze("Plain text")


def test_body_of_only_invisible_characters_is_kept_not_emptied():
    body, info = analyze_for_sending("\u200b\ufeff", smart_encoding=True)
    assert body == "\u200b\ufeff"
    assert info.encoding == "UCS-2"


def test_analyze_for_sending_rejects_an_empty_body():
    with pytest.raises(ValueError, match="empty"):
        analyze_for_sending("", smart_encoding=True)
