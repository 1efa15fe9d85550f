from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination for every list: stable under inserts, never OFFSET."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"


class PrerenderedJSON(str):
    """A response body already encoded as JSON (see messaging_site.renderers.JSONRenderer)."""
