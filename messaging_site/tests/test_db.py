"""messaging_site.db: statements that ask to be prepared are, and only those."""

import pytest
from django.db import connection

from messaging_site.db import prepared_cursor

pytestmark = pytest.mark.django_db


def _prepared():
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_prepared_cursor_prepares_once_and_other_statements_never():
    marker = "SELECT %s::int AS prepared_probe"
    for value in range(3):
        with prepared_cursor() as cursor:
            cursor.execute(marker, [value])
            assert cursor.fetchone() == (value,)
    with connection.cursor() as cursor:
        for _ in range(10):
            cursor.execute("SELECT 1 AS plain_probe")
    statements = _prepared()
    assert [s for s in statements if "prepared_probe" in s] == ["SELECT $1::int AS prepared_probe"]
    assert not [s for s in statements if "plain_probe" in s]
