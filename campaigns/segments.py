"""How an SMS body is encoded and split into segments.

Pure functions with no Django imports, so the preview endpoint, the send path, the
campaign totals and the rate limiter all count segments the same way, and tests need no
database.

The rules, from GSM 03.38 / 3GPP TS 23.038:

* Encoding. A body is sent as GSM-7 when every character is in the default alphabet's
  basic table (one septet each) or its extension table (``^ { } \\ [ ~ ] | €`` and form
  feed, two septets each: the escape code 0x1B followed by the character). Any other
  character forces the whole message into UCS-2, where we count UTF-16 code units: a
  character outside the Basic Multilingual Plane (most emoji) is a surrogate pair, two
  units. The escape code itself is never accepted as input: it is not a character a
  handset can show, and letting it through would let a body change the meaning of the
  septet after it.
* Capacity. A lone segment carries 160 septets or 70 UCS-2 units. Once a body needs
  more than one, every segment spends 6 octets on the concatenation header (UDH), which
  leaves 153 septets or 67 units per segment.
* Splitting. Segments are filled greedily in order, but an escape pair or a surrogate
  pair is never split between two segments: a handset would show the halves as garbage.
  When only one slot is left, the pair starts the next segment, so a body can need one
  segment more than ``ceil(units / per_segment)`` suggests. That is why the count comes
  from actually splitting rather than from division.
* An empty body is invalid. Length limits (1 to 1,600 characters) are the caller's job;
  :func:`analyze` works for any non-empty string.

Smart encoding swaps typographic look-alikes (curly quotes, dashes, odd spaces) for their
GSM equivalents. Text pasted from word processors is full of them, and one curly quote
alone turns a one-segment GSM-7 message into a two-segment UCS-2 one. The swap is only
worth it when it saves segments, see :func:`analyze_for_sending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM_7: Encoding = "GSM-7"
UCS_2: Encoding = "UCS-2"

# The basic table in code order, 16 per row. 0x1B (ESC) is left out on purpose: see the
# module docstring. 0x09 is the capital Ç, as 3GPP TS 23.038 and the Unicode mapping
# table give it; the small ç of early GSM 03.38 drafts is not in the alphabet.
GSM_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10-0x1F without 0x1B
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Characters reached through the escape code, so each costs two septets.
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

SINGLE_GSM = 160
MULTI_GSM = 153
SINGLE_UCS2 = 70
MULTI_UCS2 = 67

_GSM = GSM_BASIC | GSM_EXTENSION


@dataclass(frozen=True)
class SegmentInfo:
    """What a body costs to send and how it is cut up."""

    encoding: Encoding
    segments: int
    characters: int
    units: int
    per_segment: int
    non_gsm_characters: list[str]
    remaining: int
    parts: list[str]

    def as_dict(self) -> dict[str, object]:
        """The preview fields of `POST /api/sms/segments/` plus ``remaining``; ``parts``
        stays out."""
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "units": self.units,
            "per_segment": self.per_segment,
            "non_gsm_characters": list(self.non_gsm_characters),
            "remaining": self.remaining,
        }


def _cost(char: str, encoding: Encoding) -> int:
    if encoding == GSM_7:
        return 2 if char in GSM_EXTENSION else 1
    # Only code points beyond U+FFFF need a surrogate pair in UTF-16.
    return 2 if ord(char) > 0xFFFF else 1


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character has a GSM 03.38 septet, else UCS-2."""
    return GSM_7 if all(char in _GSM for char in text) else UCS_2


def analyze(text: str) -> SegmentInfo:
    """Encoding, segment count and the exact split of a non-empty SMS body."""
    if not text:
        raise ValueError("An SMS body cannot be empty.")

    non_gsm = list(dict.fromkeys(char for char in text if char not in _GSM))
    encoding = UCS_2 if non_gsm else GSM_7
    single, multi = (SINGLE_UCS2, MULTI_UCS2) if non_gsm else (SINGLE_GSM, MULTI_GSM)

    costs = [_cost(char, encoding) for char in text]
    units = sum(costs)

    if units <= single:
        return SegmentInfo(
            encoding=encoding,
            segments=1,
            characters=len(text),
            units=units,
            per_segment=single,
            non_gsm_characters=non_gsm,
            remaining=single - units,
            parts=[text],
        )

    # Cutting per character, never per unit, is what keeps escape and surrogate pairs
    # whole: a pair that does not fit moves entirely to the next segment.
    parts: list[str] = []
    start = 0
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > multi:
            parts.append(text[start:index])
            start = index
            used = 0
        used += cost
    parts.append(text[start:])

    return SegmentInfo(
        encoding=encoding,
        segments=len(parts),
        characters=len(text),
        units=units,
        per_segment=multi,
        non_gsm_characters=non_gsm,
        remaining=multi - used,
        parts=parts,
    )


# Look-alikes that word processors and phones insert, mapped to GSM characters. Only
# characters whose meaning survives the swap are here; symbols such as ™ or © stay as
# they are, because dropping them would change what the sender wrote.
SMART_REPLACEMENTS: dict[str, str] = {
    # single quotes and apostrophes
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark
    "\u201a": "'",  # single low-9 quotation mark
    "\u2032": "'",  # prime
    "\u02b9": "'",  # modifier letter prime
    "\u02bb": "'",  # modifier letter turned comma
    "\u02bc": "'",  # modifier letter apostrophe
    # double quotes
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u2033": '"',  # double prime
    "\u00ab": '"',  # left-pointing double angle quotation mark
    "\u00bb": '"',  # right-pointing double angle quotation mark
    # dashes and bullets
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2022": "-",  # bullet
    "\u2026": "...",  # horizontal ellipsis
    # spaces
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    # invisible characters carry nothing a reader sees, so they go
    "\u200b": "",  # zero width space
    "\ufeff": "",  # zero width no-break space (byte order mark)
}

_SMART_TABLE = str.maketrans(SMART_REPLACEMENTS)


def smart_encode(text: str) -> str:
    """``text`` with every look-alike in :data:`SMART_REPLACEMENTS` swapped."""
    return text.translate(_SMART_TABLE)


def analyze_for_sending(text: str, *, smart_encoding: bool) -> tuple[str, SegmentInfo]:
    """The body that would be sent and its segment info.

    The smart-encoded body is used only when it needs fewer segments: otherwise the
    sender's text goes out exactly as written, since the swap costs fidelity (an ellipsis
    even grows into three septets) and saves nothing.
    """
    info = analyze(text)
    if not smart_encoding:
        return text, info
    candidate = smart_encode(text)
    # A body made only of invisible characters would become empty: keep the original.
    if not candidate or candidate == text:
        return text, info
    candidate_info = analyze(candidate)
    if candidate_info.segments < info.segments:
        return candidate, candidate_info
    return text, info
