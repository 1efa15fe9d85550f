"""Messages as a reader reads them, a page at a time, in raw SQL: each with its sender,
what it answers (the parent's text cut to the excerpt, its sender, whether the reader
blocks that sender) and its reactions as the reader sees them, in one statement; either
as model instances (`read_messages`) or, for REST, as the JSON text of
chat.serializers.MessageSerializer's shape (`read_json`, `message_json_sql`).

Through the ORM (select_related of four models a row, then the reactions'
`values().annotate()`) a page of 50 replies with reactions cost 3 to 4 times the page
without them, almost all of it Python (docs/PERFORMANCE.md, "With section 12's state").
The SQL is assembled from this module's constants only, once, at import (hence S608 off
for this file); every value a request supplies is a bound parameter. The rules are
chat.selectors' (which statement a page runs); written here are the reaction summary and
the reply excerpt in SQL, which chat.listing's inbox shares.
"""

from __future__ import annotations

import json

from django.db import connection

from accounts.models import User

from .models import DELETED_USER, EXCERPT_LENGTH, Message

__all__ = [
    "MESSAGE_FIELDS",
    "REACTIONS_SQL",
    "TIMESTAMP_SQL",
    "message_json_sql",
    "reaction_summary_sql",
    "read_json",
    "read_messages",
]


def reaction_summary_sql(*, message: str, me: str, blocked: str) -> str:
    """A message's reactions as its reader sees them, as a JSON array of
    {emoji, count, me}: per emoji, in the order first used, how many reacted (not counting
    the users the reader blocks) and whether the reader did. `message`, `me`, `blocked`:
    SQL for the message's id, the reader's id and the array of ids they block."""
    return f"""COALESCE((
        SELECT json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'me', x.me)
                        ORDER BY x.first, x.emoji)
        FROM (SELECT rx.emoji, count(*) AS n, bool_or(rx.user_id = {me}) AS me,
                     min(rx.created_at) AS first
              FROM chat_reaction AS rx
              WHERE rx.message_id = {message} AND NOT rx.user_id = ANY({blocked})
              GROUP BY rx.emoji) AS x
    ), '[]'::json)"""


# DRF's rendering of a UTC datetime: ISO 8601, microseconds unless they are zero, and `Z`.
TIMESTAMP_SQL = (
    """replace(to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),"""
    """ '.000000Z', 'Z')"""
)


def message_json_sql(where: str, order: str, limit: str | int, *, reader: str = "") -> str:
    """Messages `msg` as rows whose columns are the REST message shape
    (chat.serializers.MessageSerializer), in `order` (an ORDER BY list), for PostgreSQL
    to turn into JSON objects (row-to-JSON costs about two thirds of json_build_object per
    message). `p` is the reader: `p.me_id` and `p.blocked`, from the caller's FROM or
    from `reader`."""
    return f"""SELECT msg.id, msg.conversation_id AS conversation, msg.seq,
            msg.sender_id AS sender,
            COALESCE((SELECT u.username FROM accounts_user AS u WHERE u.id = msg.sender_id),
                     '{DELETED_USER}') AS sender_username,
            msg.text, msg.html, msg.client_id,
            {TIMESTAMP_SQL.format("msg.created_at")} AS created_at,
            {TIMESTAMP_SQL.format("msg.edited_at")} AS edited_at,
            {TIMESTAMP_SQL.format("msg.deleted_at")} AS deleted_at,
            (SELECT json_build_object(
                'id', r.id, 'seq', r.seq,
                'sender_username', COALESCE(ru.username, '{DELETED_USER}'),
                'excerpt', CASE WHEN r.deleted_at IS NOT NULL OR r.sender_id = ANY(p.blocked)
                           THEN '' ELSE left(r.text, {EXCERPT_LENGTH}) END)
             FROM chat_message AS r LEFT JOIN accounts_user AS ru ON ru.id = r.sender_id
             WHERE r.id = msg.reply_to_id) AS reply_to,
            {reaction_summary_sql(message="msg.id", me="p.me_id", blocked="p.blocked")}
                AS reactions,
            msg.mentions, msg.attachments
        FROM chat_message AS msg {reader}
        WHERE {where}
        ORDER BY {order} LIMIT {limit}"""


_READER = """CROSS JOIN (SELECT %(user)s::bigint AS me_id,
    ARRAY(SELECT b.blocked_id FROM accounts_block AS b WHERE b.blocker_id = %(user)s)
        AS blocked) AS p"""

# Message's concrete fields in model order (from_db's fast path), then the sender's name,
# the message answered (its text cut to the excerpt) and its sender's name, whether the
# reader blocks that sender, and the reactions.
_OBJECTS_SQL = f"""
SELECT msg.id, msg.conversation_id, msg.seq, msg.sender_id, msg.text, msg.html,
       msg.mentions, msg.reply_to_id, msg.attachments::text, msg.client_id, msg.created_at,
       msg.edited_at, msg.deleted_at,
       s.username,
       r.seq, r.sender_id, left(r.text, {EXCERPT_LENGTH}), r.deleted_at, rs.username,
       COALESCE(r.sender_id = ANY(p.blocked), false),
       {reaction_summary_sql(message="msg.id", me="p.me_id", blocked="p.blocked")}
FROM chat_message AS msg {_READER}
LEFT JOIN accounts_user AS s ON s.id = msg.sender_id
LEFT JOIN chat_message AS r ON r.id = msg.reply_to_id
LEFT JOIN accounts_user AS rs ON rs.id = r.sender_id
WHERE {{where}}
ORDER BY msg.seq {{order}}
LIMIT %(limit)s
"""
_NOT_BLOCKED = "(msg.sender_id IS NULL OR NOT msg.sender_id = ANY(p.blocked))"
_IN = "msg.conversation_id = %(conversation)s"
# (WHERE, ORDER) of each selection.
_SELECTIONS = {
    # History: messages from users the reader blocks are left out.
    "newest": (f"{_IN} AND {_NOT_BLOCKED}", "DESC"),
    "before": (f"{_IN} AND msg.seq < %(before)s AND {_NOT_BLOCKED}", "DESC"),
    "after": (f"{_IN} AND msg.seq > %(after)s AND {_NOT_BLOCKED}", "ASC"),
    "before_after": (
        f"{_IN} AND msg.seq > %(after)s AND msg.seq < %(before)s AND {_NOT_BLOCKED}",
        "ASC",
    ),
    # Gap fills and mentions: every message (their callers filter).
    "between": (f"{_IN} AND msg.seq > %(after)s AND msg.seq <= %(upto)s", "ASC"),
    "ids": ("msg.id = ANY(%(ids)s)", "ASC"),
}
_OBJECT_STATEMENTS = {
    name: _OBJECTS_SQL.format(where=where, order=order)
    for name, (where, order) in _SELECTIONS.items()
}
_JSON_STATEMENTS = {
    name: "SELECT row_to_json(m)::text FROM ("
    + message_json_sql(where, f"msg.seq {order}", "%(limit)s", reader=_READER)
    + ") AS m"
    for name, (where, order) in _SELECTIONS.items()
}
REACTIONS_SQL = f"""
SELECT msg.id, {reaction_summary_sql(message="msg.id", me="p.me_id", blocked="p.blocked")}
FROM unnest(%(ids)s::bigint[]) AS msg(id) {_READER}
"""


def read_json(selection: str, **params) -> list[str]:
    """Runs one of `_SELECTIONS` for the reader `params["user"]`: each message as the JSON
    text of the REST shape, in the selection's order."""
    with connection.cursor() as cursor:
        cursor.execute(_JSON_STATEMENTS[selection], params)
        return [row[0] for row in cursor.fetchall()]


def read_messages(selection: str, **params) -> list[Message]:
    """Runs one of `_SELECTIONS` for the reader `params["user"]`: the messages with what
    chat.selectors.shown_to and with_reactions load, as model instances, in the
    selection's order (a sender is one instance however many of the messages are theirs)."""
    with connection.cursor() as cursor:
        cursor.execute(_OBJECT_STATEMENTS[selection], params)
        rows = cursor.fetchall()
    users: dict[int, User] = {}

    def user(user_id: int | None, username: str | None) -> User | None:
        if user_id is None:
            return None
        found = users.get(user_id)
        if found is None:
            found = users[user_id] = User.from_db(None, ["id", "username"], [user_id, username])
        return found

    messages = []
    for row in rows:
        message = Message.from_db(None, MESSAGE_FIELDS, row[:13])
        message.attachments = json.loads(row[8])
        message.sender = user(row[3], row[13])
        if row[7] is not None and row[14] is not None:
            parent = Message.from_db(
                None,
                ["id", "conversation_id", "seq", "sender_id", "text", "deleted_at"],
                [row[7], row[1], row[14], row[15], row[16], row[17]],
            )
            parent.sender = user(row[15], row[18])
            message.reply_to = parent
        message.reply_hidden = row[19]
        message.reaction_summary = row[20]
        messages.append(message)
    return messages


# The order _OBJECTS_SQL selects them in (chat/tests/test_history_sql.py holds it); the
# search vector, which only search reads, is left deferred.
MESSAGE_FIELDS = [f.attname for f in Message._meta.concrete_fields if f.name != "search_vector"]
