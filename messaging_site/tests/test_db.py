"""Statements bind on the server and a connection prepares what it runs repeatedly
(messaging_site/settings/base.py, DATABASE_OPTIONS): the conversation list's statement,
whose planning costs more than its run, is planned once per connection."""

import pytest
from django.conf import settings
from django.db import connection

from chat import listing

pytestmark = pytest.mark.django_db


def _prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_a_statement_run_often_is_prepared_once_and_runs_as_prepared(alice):
    assert settings.DATABASES["default"]["OPTIONS"]["server_side_binding"] is True
    threshold = settings.PREPARE_THRESHOLD
    assert threshold is not None
    for _ in range(threshold):
        listing.conversation_page(user=alice, cursor=None, limit=50, inbox=False)
    assert not [s for s in _prepared() if "chat_membership AS mb" in s]
    for _ in range(3):
        listing.conversation_page(user=alice, cursor=None, limit=50, inbox=False)
    prepared = [s for s in _prepared() if "chat_membership AS mb" in s]
    assert len(prepared) == 1
    assert "$1" in prepared[0]  # bound on the server, not spliced in by the client


def test_a_statement_takes_at_most_65535_parameters():
    from django.contrib.auth import get_user_model
    from django.db import OperationalError

    with pytest.raises(OperationalError, match="number of parameters"):
        get_user_model().objects.filter(pk__in=range(1, 70_000)).count()


@pytest.mark.django_db
def test_sessions_end_a_dead_clients_idle_transaction_and_probe_it():
    """settings.DATABASE_SESSION_OPTIONS reaches every session: a transaction left idle by
    a host that died is ended after a minute, and its silent client probed after 30 s."""
    with connection.cursor() as cursor:
        shown = {}
        for name in (
            "idle_in_transaction_session_timeout",
            "tcp_keepalives_idle",
            "tcp_keepalives_interval",
            "tcp_keepalives_count",
        ):
            cursor.execute(f"SHOW {name}")
            shown[name] = cursor.fetchone()[0]
    assert shown == {
        "idle_in_transaction_session_timeout": "1min",
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }
