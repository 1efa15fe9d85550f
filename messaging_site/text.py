"""The one rule for text people give the product, whatever the door (REST, the socket, a
web form, admin): what characters it may hold, and how a length limit is checked.

Limits themselves belong to each app (chat's message text, a board's topic...); the checks
are here so that every app words and applies them the same way. A NUL character cannot be
stored in a PostgreSQL text column, and an unpaired surrogate (what JSON's `\\ud800` escape
decodes to in Python) cannot be encoded as UTF-8 for the database, a log line or a frame:
either would fail a request half way, so both are refused first.
"""

from .errors import Invalid

__all__ = ["BLANK", "character_problem", "clean", "human_size", "length_errors", "too_long"]

BLANK = "This field may not be blank."


def too_long(max_length: int) -> str:
    return f"Ensure this field has no more than {max_length} characters."


def character_problem(text: str) -> str | None:
    """Why `text` cannot be stored or sent, or None."""
    if "\x00" in text:
        return "Text may not contain NUL characters."
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "Text may not contain unpaired surrogates."
    return None


def length_errors(text: str, *, max_length: int, blank: str = BLANK) -> list[str]:
    """The errors of an already trimmed text: blank, over `max_length`, bad characters."""
    if not text:
        return [blank]
    if len(text) > max_length:
        return [too_long(max_length)]
    problem = character_problem(text)
    return [problem] if problem is not None else []


def clean(
    value: object,
    *,
    field: str,
    max_length: int,
    blank: str = BLANK,
    required: bool = True,
) -> str:
    """`value` trimmed, or Invalid naming `field`. An optional field may be empty."""
    if not isinstance(value, str):
        raise Invalid(fields={field: ["Not a valid string."]})
    trimmed = value.strip()
    if not trimmed and not required:
        return ""
    errors = length_errors(trimmed, max_length=max_length, blank=blank)
    if errors:
        raise Invalid(fields={field: errors})
    return trimmed


def human_size(size: int) -> str:
    """A size in bytes as people read it: 900 bytes, 12.5 KiB, 25 MiB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB".replace(".0 ", " ")
    return f"{size / (1024 * 1024):.1f} MiB".replace(".0 ", " ")
