"""The conversation list and the inbox: one page of a user's conversations, most recently
active first, keyset-paginated on (activity, conversation id).

One prepared statement builds the whole page, JSON included, and the view sends that
text on as it is: through the ORM and DRF serializers, most of an inbox's time was Python
building and serializing rows, not the database (bench/results/PERFORMANCE-history.md,
"Inbox and conversation list in one statement").

Rules: only approved memberships; `unread` is what comes after the read cursor less the
reader's own messages, blocked senders' and tombstones; the last message is the newest
one not from a blocked sender; the inbox lists only conversations with unread messages,
each with up to 50 of them, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from accounts.models import User

from .reading import TIMESTAMP_SQL, message_json_sql
from .selectors import INBOX_MESSAGES

__all__ = ["Cursor", "Page", "conversation_page"]


@dataclass(frozen=True)
class Cursor:
    """A position between two rows: the list continues after it (or, `reverse`, before)."""

    activity: datetime
    conversation_id: int
    reverse: bool = False


@dataclass
class Page:
    """`results` is the JSON text of the list, as the REST list answers it."""

    results: str
    next: Cursor | None
    previous: Cursor | None


def conversation_page(*, user: User, cursor: Cursor | None, limit: int, inbox: bool) -> Page:
    """One page of the conversation list (`inbox=False`) or of the inbox."""
    rows = _rows(user=user, cursor=cursor, limit=limit, inbox=inbox)
    items, following, preceding = _paginate(rows, cursor=cursor, limit=limit)
    return Page("[" + ",".join(items) + "]", following, preceding)


def _paginate(
    rows: list[tuple], *, cursor: Cursor | None, limit: int
) -> tuple[list[str], Cursor | None, Cursor | None]:
    """Rows `(activity, conversation_id, item)` come in walking order (backwards for a
    reverse cursor), one more than a page when more lie beyond it."""
    more = len(rows) > limit
    rows = rows[:limit]
    reverse = cursor is not None and cursor.reverse
    if reverse:
        rows.reverse()
    first = Cursor(rows[0][0], rows[0][1], reverse=True) if rows else None
    last = Cursor(rows[-1][0], rows[-1][1]) if rows else None
    following: Cursor | None
    if cursor is not None and cursor.reverse:
        following = last or Cursor(cursor.activity, cursor.conversation_id)
        preceding = first if more else None
    else:
        following = last if more else None
        preceding = (
            (first or Cursor(cursor.activity, cursor.conversation_id, True)) if cursor else None
        )
    return [row[2] for row in rows], following, preceding


# --- the statement -------------------------------------------------------------------------
# The SQL below is assembled from this module's constants only, once, at import (hence
# S608 off for this file); every value a request supplies is a bound parameter.


# Unread, as a subtraction: `last_seq - read_seq` less what is hidden after the cursor,
# which two small index ranges find (counting the unread rows themselves costs as many
# rows as there are: ~200 ms for a member 20,000 behind). Skipped for members caught up.
def _unread(row: str, hidden: str) -> str:
    return f"""CASE WHEN {row}.last_seq > {row}.read_seq THEN GREATEST(
        {row}.last_seq - {row}.read_seq - (
            SELECT count(*) FROM chat_message AS h
            WHERE h.conversation_id = {row}.conversation_id AND h.seq > {row}.read_seq
              AND (h.deleted_at IS NOT NULL OR h.sender_id = ANY({hidden}))
        ), 0) ELSE 0 END"""


_SQL = """
WITH me AS MATERIALIZED (
    SELECT %(user)s::bigint AS id,
           ARRAY(SELECT b.blocked_id FROM accounts_block AS b WHERE b.blocker_id = %(user)s)
               AS blocked,
           ARRAY(SELECT b.blocked_id FROM accounts_block AS b WHERE b.blocker_id = %(user)s)
               || %(user)s::bigint AS hidden
),
memberships AS (
    SELECT mb.conversation_id, mb.role, mb.read_seq, mb.delivered_seq,
           c.kind, c.name, c.last_seq, c.last_message_at, c.created_at,
           COALESCE(c.last_message_at, c.created_at) AS activity
    FROM chat_membership AS mb
    -- OFFSET 0 keeps this a probe of the primary key per membership; joined plainly,
    -- PostgreSQL hashed the whole conversation table (10,000 rows, ~1 ms) every call.
    CROSS JOIN LATERAL (
        SELECT c.kind, c.name, c.last_seq, c.last_message_at, c.created_at
        FROM chat_conversation AS c WHERE c.id = mb.conversation_id OFFSET 0
    ) AS c
    WHERE mb.user_id = %(user)s AND mb.status = 'approved'
),
-- Materialized so that each membership's unread count is computed once, not once in
-- WHERE and again in SELECT.
candidates AS MATERIALIZED (
    SELECT memberships.* {unread_column} FROM memberships CROSS JOIN me
),
page AS (
    SELECT candidates.*, me.id AS me_id, me.blocked, me.hidden
    FROM candidates CROSS JOIN me
    WHERE (%(activity)s::timestamptz IS NULL
           OR (activity, conversation_id)
              {compare} (%(activity)s::timestamptz, %(conversation)s::bigint))
      {inbox_filter}
    ORDER BY activity {direction}, conversation_id {direction}
    LIMIT %(limit)s
)
SELECT p.activity, p.conversation_id, {item}::text
FROM (
    SELECT page.*, {unread_expression} AS unread_count,
        -- Mentions after the read cursor, not by users the reader blocks: one index range.
        CASE WHEN page.last_seq > page.read_seq THEN (
            SELECT count(*) FROM chat_mention AS mn
            WHERE mn.user_id = page.me_id AND mn.conversation_id = page.conversation_id
              AND mn.seq > page.read_seq
              AND (mn.sender_id IS NULL OR NOT mn.sender_id = ANY(page.blocked))
        ) ELSE 0 END AS unread_mentions
    FROM page
) AS p
LEFT JOIN LATERAL (
    SELECT row_to_json(peer) AS peer FROM (
        SELECT u.id, u.username, u.name
        FROM chat_membership AS other JOIN accounts_user AS u ON u.id = other.user_id
        WHERE other.conversation_id = p.conversation_id AND other.user_id <> p.me_id
        LIMIT 1
    ) AS peer
) AS peer ON p.kind = 'direct'
LEFT JOIN LATERAL (
    SELECT row_to_json(m) AS message FROM ({last_message}) AS m
) AS last ON true
{messages_join}
ORDER BY p.activity {direction}, p.conversation_id {direction}
"""

_CONVERSATION = """json_build_object(
    'id', p.conversation_id, 'kind', p.kind, 'name', p.name, 'peer', peer.peer,
    'role', p.role, 'unread', p.unread_count, 'unread_mentions', p.unread_mentions,
    'last_seq', p.last_seq,
    'read_seq', p.read_seq, 'delivered_seq', p.delivered_seq, 'last_message', last.message,
    'last_message_at', {last_message_at}, 'created_at', {created_at})""".format(
    last_message_at=TIMESTAMP_SQL.format("p.last_message_at"),
    created_at=TIMESTAMP_SQL.format("p.created_at"),
)

# One index range per conversation, stopping after 50 rows: a window function over all
# unread rows would read every one of them (tens of thousands for a member far behind).
_MESSAGES_JOIN = f"""LEFT JOIN LATERAL (
    SELECT json_agg(m ORDER BY m.seq) AS messages FROM ({
    message_json_sql(
        "msg.conversation_id = p.conversation_id AND msg.seq > p.read_seq"
        " AND msg.deleted_at IS NULL"
        " AND (msg.sender_id IS NULL OR NOT msg.sender_id = ANY(p.hidden))",
        "msg.seq ASC",
        INBOX_MESSAGES,
    )
}) AS m
) AS unread ON true"""


def _statement(*, inbox: bool, reverse: bool) -> str:
    return _SQL.format(
        # The inbox filters on unread before the limit, so it computes it for every
        # membership; the list computes it for one page only.
        unread_column=f", {_unread('memberships', 'me.hidden')} AS unread" if inbox else "",
        inbox_filter="AND unread > 0" if inbox else "",
        unread_expression="page.unread" if inbox else _unread("page", "page.hidden"),
        compare=">" if reverse else "<",
        direction="ASC" if reverse else "DESC",
        item=(
            f"json_build_object('conversation', {_CONVERSATION}, 'unread', p.unread_count, "
            "'messages', COALESCE(unread.messages, '[]'))"
            if inbox
            else _CONVERSATION
        ),
        last_message=message_json_sql(
            "msg.conversation_id = p.conversation_id"
            " AND (msg.sender_id IS NULL OR NOT msg.sender_id = ANY(p.blocked))",
            "msg.seq DESC",
            1,
        ),
        messages_join=_MESSAGES_JOIN if inbox else "",
    )


_STATEMENTS = {
    (inbox, reverse): _statement(inbox=inbox, reverse=reverse)
    for inbox in (False, True)
    for reverse in (False, True)
}


def _rows(*, user: User, cursor: Cursor | None, limit: int, inbox: bool) -> list[tuple]:
    params = {
        "user": user.pk,
        "activity": cursor.activity if cursor else None,
        "conversation": cursor.conversation_id if cursor else None,
        "limit": limit + 1,
    }
    sql = _STATEMENTS[inbox, bool(cursor and cursor.reverse)]
    with connection.cursor() as db_cursor:
        db_cursor.execute(sql, params)
        return db_cursor.fetchall()
