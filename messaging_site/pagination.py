from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

from .converters import MAX_ID
from .text import character_problem


def _whole_number(text: str) -> bool:
    # At most 19 digits: past 4,300 Python refuses to read the number at all.
    return len(text) <= 19 and text.isascii() and text.isdigit()


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination for every list: stable under inserts, never OFFSET."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request):
        """`limit`: 1 or more (over `max_page_size` gives that many). DRF takes anything
        else, a word or a second `limit`, as no limit at all; here it is a 400."""
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        value = given[0]
        if len(given) > 1 or not _whole_number(value) or int(value) < 1:
            raise ValidationError(
                {self.page_size_query_param: ["A whole number, 1 or more, given once."]}
            )
        return min(int(value), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters

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
        return _whole_number(position) and int(position) <= MAX_ID


class TextCursorPagination(CursorPagination):
    """For a list ordered by a text column."""

    def valid_position(self, position: str) -> bool:
        return character_problem(position) is None


class PrerenderedJSON(str):
    """A response body already encoded as JSON (see messaging_site.renderers.JSONRenderer)."""
