"""Personal texts (SPEC section 14): `{{name}}` in a campaign's message, filled per
recipient from the columns of its CSV or the fields of its REST objects.

Names are letters, digits and underscores, matched without regard to case (`{{Name}}`
takes the column `name`); a column heading is read the same way, its spaces as
underscores (`First name` fills `{{first_name}}`). A value is the cell as written, spaces
at its ends trimmed; an empty one is no value.
"""

import re
from functools import lru_cache

__all__ = ["field_name", "placeholders", "render"]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@lru_cache(maxsize=1024)
def field_name(heading: str) -> str:
    # Cached: every recipient of a campaign has the same few headings, and the cache
    # hands each of their dicts the same key strings.
    return re.sub(r"\s+", "_", heading.strip()).casefold()


def placeholders(template: str) -> list[str]:
    """The names the template uses, in order of first use."""
    return list(dict.fromkeys(field_name(name) for name in PLACEHOLDER.findall(template)))


def render(template: str, fields: dict[str, str]) -> tuple[str, list[str]]:
    """The text for one recipient, and the names it has no value for (then the text is
    not to be sent). `fields` are keyed by `field_name`."""
    missing: list[str] = []

    def fill(match: re.Match) -> str:
        name = field_name(match.group(1))
        value = fields.get(name, "")
        if not value:
            if name not in missing:
                missing.append(name)
            return ""
        return value

    return PLACEHOLDER.sub(fill, template), missing
