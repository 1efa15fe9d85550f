from rest_framework import pagination
from rest_framework.exceptions import NotFound

from .converters import MAX_ID
from .text import character_problem


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination for every list: stable under inserts, never OFFSET."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"

    def decode_cursor(self, request):
        # DRF hands the position in a cursor to the database as it came: a forged cursor
        # must be refused here, as DRF refuses one it cannot decode.
        cursor = super().decode_cursor(request)
        if (
            cursor is not None
            and cursor.position is not None
            and not self.valid_position(str(cursor.position))
        ):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def valid_position(self, position: str) -> bool:
        """Whether `position` can be compared with the ordering's column (an id here)."""
        return position.isascii() and position.isdigit() and int(position) <= MAX_ID


class TextCursorPagination(CursorPagination):
    """For a list ordered by a text column."""

    def valid_position(self, position: str) -> bool:
        return character_problem(position) is None


class PrerenderedJSON(str):
    """A response body already encoded as JSON (see messaging_site.renderers.JSONRenderer)."""
